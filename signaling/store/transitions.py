"""How each kind of routing event changes the ``Call`` row that summarises a call.

Rules: events apply in the order given; once a call is terminal (completed, abandoned, timed out,
failed) its state, reason and agent never change again, so the first ``ended`` wins; ``wrapped_up`` may
follow the end. Kinds not listed here are kept as events only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from signaling.protocol import TERMINAL_CALL_STATES, CallState
from signaling.store.errors import InvalidEvent
from signaling.store.models import Call

Fields = dict[str, str]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TERMINAL = frozenset(state.value for state in TERMINAL_CALL_STATES)


def at_from_ms(at_ms: int) -> datetime:
    """A UTC datetime from milliseconds since the epoch (integer arithmetic: no float rounding)."""
    return _EPOCH + timedelta(milliseconds=at_ms)


def is_terminal(call: Call) -> bool:
    return call.state in _TERMINAL


def field(event_id: str, fields: Fields, name: str, max_length: int, default: str | None = None) -> str:
    """``fields[name]``, checked to be at most ``max_length`` long; InvalidEvent if absent and no default."""
    value = fields.get(name, default)
    if value is None:
        raise InvalidEvent(event_id, f"missing field {name!r}")
    if len(value) > max_length:
        raise InvalidEvent(event_id, f"field {name!r} is longer than {max_length} characters")
    return value


def optional(event_id: str, fields: Fields, name: str, max_length: int) -> str | None:
    """``fields[name]`` if present and not empty, else None."""
    return field(event_id, fields, name, max_length, "") or None


def new_call(call_id: str, at: datetime) -> Call:
    """A placeholder row, filled in by ``created`` (or left sparse if that event never arrives)."""
    return Call(
        id=call_id, kiosk_id="", topic="", language="", priority=0, context={}, state="queued", created_at=at
    )


def created(call: Call, event_id: str, fields: Fields, at: datetime) -> None:
    call.kiosk_id = field(event_id, fields, "kiosk_id", 64)
    call.topic = field(event_id, fields, "topic", 64, "")
    call.language = field(event_id, fields, "language", 16, "")
    call.priority = _int(event_id, fields.get("priority", "0"))
    call.context = _context(event_id, fields.get("context", "{}"))
    call.created_at = min(call.created_at, at)  # a placeholder took the time of a later event
    if call.queued_at is None:
        call.queued_at = at


def reserved(call: Call, event_id: str, fields: Fields, at: datetime) -> None:
    agent = field(event_id, fields, "agent", 64)
    if not is_terminal(call):
        call.state, call.agent, call.offered_at = CallState.RESERVED.value, agent, at


def released(call: Call, event_id: str, fields: Fields, at: datetime) -> None:
    if not is_terminal(call):
        call.state, call.agent = CallState.QUEUED.value, None


def accepted(call: Call, event_id: str, fields: Fields, at: datetime) -> None:
    agent = optional(event_id, fields, "agent", 64) or call.agent
    if not is_terminal(call):
        call.state, call.agent, call.answered_at = CallState.CONNECTING.value, agent, at


def ended(call: Call, event_id: str, fields: Fields, at: datetime) -> None:
    state = field(event_id, fields, "state", 16)
    reason = field(event_id, fields, "reason", 64)
    if state not in _TERMINAL:
        raise InvalidEvent(event_id, f"state {state!r} is not terminal: expected one of {sorted(_TERMINAL)}")
    if not reason:
        raise InvalidEvent(event_id, "an ended call needs a reason")
    agent = optional(event_id, fields, "agent", 64) or call.agent
    if not is_terminal(call):
        call.state, call.end_reason, call.ended_at, call.agent = state, reason, at, agent


def wrapped_up(call: Call, event_id: str, fields: Fields, at: datetime) -> None:
    # a wrap-up ended by its timer files nothing, and must not erase what an agent filed
    disposition = optional(event_id, fields, "disposition", 64)
    if disposition is not None:
        call.disposition = disposition
        call.notes = fields.get("notes", "")
    call.wrapped_up_at = at


def transferred(call: Call, event_id: str, fields: Fields, at: datetime) -> None:
    topic = field(event_id, fields, "to_topic", 64)
    if not is_terminal(call):
        call.state, call.agent, call.topic = CallState.QUEUED.value, None, topic


Transition = Callable[[Call, str, Fields, datetime], None]
TRANSITIONS: dict[str, Transition] = {
    "created": created,
    "reserved": reserved,
    "released": released,
    "accepted": accepted,
    "ended": ended,
    "wrapped_up": wrapped_up,
    "transferred": transferred,
}


def _int(event_id: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidEvent(event_id, f"priority {value!r} is not a whole number") from None


def _context(event_id: str, value: str) -> dict[str, Any]:
    try:
        context = json.loads(value)
    except ValueError:
        raise InvalidEvent(event_id, "context is not valid JSON") from None
    if not isinstance(context, dict):
        raise InvalidEvent(event_id, "context is not a JSON object")
    return context
