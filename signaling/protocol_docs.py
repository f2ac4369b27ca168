"""Generates ``docs/protocol.md`` from the protocol's own types: ``python -m signaling.protocol_docs``."""

from __future__ import annotations

import json
import sys
from typing import Any, get_args

import msgspec

from signaling import protocol as p
from signaling.handlers.inbound_limits import FLOOD_FACTOR, MAX_FRAME_BYTES
from signaling.settings import Settings

SECTIONS: tuple[tuple[str, Any], ...] = (
    ("Kiosk → server (`/ws/kiosk`)", p.KioskInbound),
    ("Agent console → server (`/ws/agent`)", p.AgentInbound),
    ("Server → kiosk or agent", p.ServerMessage),
)
ENUMS = (p.ErrorCode, p.CallState, p.AgentState, p.EndReason)
_RATE, _BURST = Settings.client_messages_per_s, Settings.client_message_burst

INTRO = f"""# Kiosk Assist wire protocol (version {p.PROTOCOL_VERSION})

Generated from `signaling/protocol.py` by `python -m signaling.protocol_docs`; do not edit by hand.

Every message is one JSON object in one WebSocket text frame, tagged by its `type`. Unknown fields, unknown
types, wrong types and frames over {p.MAX_MESSAGE_BYTES // 1024} KiB (of UTF-8) are refused with an `error`
message and change nothing; the connection stays open. Only a frame over {MAX_FRAME_BYTES // 1024} KiB closes
it (code 1009), as does a text frame that is not UTF-8 (1007). A kiosk's first message must be `hello`; an
agent's socket is authenticated by the session cookie from `POST /api/login`.

Each socket may send {_RATE:g} messages a second on average and {_BURST} at once (the server's defaults,
`client_messages_per_s` and `client_message_burst`); a message over that is not acted on and is refused
with `rate_limited` (said at most once a second, `ref` naming the message's type). A client refused
{FLOOD_FACTOR} times its burst without letting its allowance fill up again is disconnected (code 1008).

Call flow:
1. kiosk `help_request` → kiosk `queued` (position, estimated wait; pushed again when they change, at most
   once a second);
2. agent `offer` (rings until `expires_in_s`) → agent `accept` → agent `call_accepted`, kiosk `agent_joined`;
3. kiosk `sdp` (the offer, all ICE candidates inline) → agent `sdp` (the answer) and trickled `ice`, ending
   with `candidate: null` → media flows peer to peer; chat on the `chat` data channel;
4. `hangup` → both `call_ended` → agent `wrap_up` (disposition, notes) → available again.

Reconnecting and resuming: every message about a party's calls and state comes numbered, with `seq` as its
first field (`{{"seq":17,"type":"offer",...}}`), counting up per kiosk or agent; errors, the welcome and queue
position updates come unnumbered. A client keeps the last `seq` it received and the `resume_token` of its
last `welcome`. When its socket drops it reconnects (with backoff: about 0, 0.3, 1.2, 2.7, 4.8 s, then every
7 s, with jitter) and asks to resume: a kiosk with `resume_token` and `last_seq` in its `hello`, an agent with
`/ws/agent?resume=TOKEN&last_seq=N`. Within the reconnect grace period ({Settings.reconnect_grace_s:g} s by
default) the party keeps its queue place, offer or call, and the `welcome` says `resumed: true`: every
message sent meanwhile follows, in order, each once. Otherwise (`resumed: false`, a new session) the client
forgets what it believed and takes the state the server tells it now (`welcome.call_id`, `agent_state`,
`queued`, a ringing `offer`). A socket closed with code 1000 is a goodbye: the party's waiting call ends and
its offer moves on at once.
"""


SHARED: tuple[type[msgspec.Struct], ...] = (p.IceServer, p.IceCandidate, p.DeviceHealth, p.NetworkInfo)
"""Objects that messages hold, each shown once as its JSON Schema."""


def _type_name(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type_name(s, defs) for s in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type_name(schema.get('items', {}), defs)}"
    if schema.get("type") == "object":
        return "object of strings" if "additionalProperties" in schema else "object"
    if "const" in schema:
        return f"`{schema['const']}`"
    return str(schema.get("type", "any"))


def _limits(schema: dict[str, Any]) -> str:
    names = {
        "minLength": "min length",
        "maxLength": "max length",
        "pattern": "pattern",
        "maxProperties": "max keys",
        "maxItems": "max items",
        "minimum": "min",
        "maximum": "max",
    }
    if "anyOf" in schema:  # an optional value: the limits of what it may be
        return ", ".join(filter(None, (_limits(option) for option in schema["anyOf"])))
    return ", ".join(f"{label} {schema[key]}" for key, label in names.items() if key in schema)


def _message_section(kind: type[msgspec.Struct], defs: dict[str, Any]) -> list[str]:
    schema = defs[kind.__name__]
    info = msgspec.structs.fields(kind)
    tag = kind.__struct_config__.tag
    lines = [f"### `{tag}`", ""]
    if kind.__doc__:
        lines += [" ".join(kind.__doc__.split()), ""]
    lines += ["| field | type | required | limits |", "|---|---|---|---|"]
    for field in info:
        prop = schema["properties"].get(field.encode_name, {})
        required = "yes" if field.encode_name in schema.get("required", []) else "no"
        row = (field.encode_name, _type_name(prop, defs), required, _limits(prop))
        lines.append("| `{}` | {} | {} | {} |".format(*row))
    return [*lines, ""]


def render() -> str:
    all_types = [t for _, union in SECTIONS for t in get_args(union)]
    unique = list(dict.fromkeys(all_types))
    kinds = [*unique, *SHARED]
    _, defs = msgspec.json.schema_components(kinds, ref_template="#/$defs/{name}")
    out = [INTRO]
    for title, union in SECTIONS:
        out += [f"## {title}", ""]
        for kind in get_args(union):
            out += _message_section(kind, defs)
    out += ["## Shared objects", ""]
    for kind in SHARED:
        out += [f"### {kind.__name__}", "", "```json", json.dumps(defs[kind.__name__], indent=2), "```", ""]
    out += ["## Enumerations", ""]
    for enum in ENUMS:
        out += [f"- **{enum.__name__}**: " + ", ".join(f"`{m.value}`" for m in enum)]
    terminal = ", ".join(f"`{s.value}`" for s in sorted(p.TERMINAL_CALL_STATES))
    out += ["", f"Terminal call states: {terminal}", ""]
    return "\n".join(out)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
