"""Whatever a kiosk or an agent console sends, the server answers per the protocol and keeps serving.

Hypothesis generates inbound frames — valid messages of every type with random fields (sometimes naming a
live call), mutated JSON, wrong types, huge strings, binary frames, text frames that are not UTF-8 — and
sends them over a real kiosk socket and a real agent socket of one running server. After each frame a probe
(a request for a queue that does not exist, naming itself) marks the end of the server's answer. Then:

- a frame the protocol refuses by its bytes alone gets exactly that typed error (the test's own decoder is
  the oracle) and changes nothing in Redis;
- a message that decodes is either acted on, or refused with a typed error for the state it met and
  changes nothing;
- the socket stays open, except for the documented closes (a frame over the frame limit: 1009; a text frame
  that is not UTF-8: 1007), after which the party reconnects;
- the server logs no error and no unhandled exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from signaling import protocol as p
from signaling.handlers.inbound_limits import MAX_FRAME_BYTES
from signaling.queues import EscalationStep, QueueConfig, QueueSet
from signaling.settings import DEFAULT_DISPOSITIONS, DEFAULT_TOPICS, Settings
from tests.strategies import agent_messages, kiosk_messages
from tests.support import (
    WAIT_S,
    Client,
    RunningServer,
    connect_agent,
    connect_kiosk,
    redis_snapshot,
    wait_until,
)

Side = Literal["kiosk", "agent"]
KIOSK_ID, AGENT = "fuzz-kiosk", "fuzz-agent"
LIVE_CALL = "live-call-"
QUIET_S = 3600.0  # no timer fires during the test: every change in Redis comes from a frame

REFUSALS = {  # what a well-formed message may be refused with, depending on the state it meets
    p.ErrorCode.BAD_MESSAGE,
    p.ErrorCode.WRONG_STATE,
    p.ErrorCode.UNKNOWN_CALL,
    p.ErrorCode.UNKNOWN_TOPIC,
    p.ErrorCode.UNKNOWN_DISPOSITION,
    p.ErrorCode.QUEUE_CLOSED,
    p.ErrorCode.QUEUE_FULL,
    p.ErrorCode.AGENT_UNAVAILABLE,
    p.ErrorCode.FORBIDDEN,
    p.ErrorCode.KIOSK_DEGRADED,  # a help request after telemetry that said a device is broken
}


# ------------------------------------------------------------------------------------------- frames
@dataclass(frozen=True)
class Frame:
    kind: Literal["text", "binary", "not_utf8"]
    data: str | bytes

    def __repr__(self) -> str:  # Hypothesis prints failing examples; keep huge ones readable
        shown = self.data if len(self.data) <= 300 else f"{self.data[:200]!r}… ({len(self.data)} long)"
        return f"Frame({self.kind}, {shown!r})"


@dataclass(frozen=True)
class Expected:
    close: int | None = None
    error: p.ErrorCode | None = None
    """Refused for its bytes alone, with this code; None: it decodes, and the state decides."""
    ref: str | None = None


def expected(side: Side, frame: Frame) -> Expected:
    """What the protocol says about a frame before the server's state is consulted."""
    if frame.kind == "not_utf8":
        return Expected(close=aiohttp.WSCloseCode.INVALID_TEXT)
    if frame.kind == "binary":
        return Expected(error=p.ErrorCode.BAD_MESSAGE)
    assert isinstance(frame.data, str)
    size = len(frame.data.encode())
    if size > MAX_FRAME_BYTES:
        return Expected(close=aiohttp.WSCloseCode.MESSAGE_TOO_BIG)
    if size > p.MAX_MESSAGE_BYTES:
        return Expected(error=p.ErrorCode.TOO_LARGE)
    try:
        (p.decode_kiosk if side == "kiosk" else p.decode_agent)(frame.data)
    except p.ProtocolError as exc:
        return Expected(error=exc.code, ref=exc.ref)
    return Expected()


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63, max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)  # escaped lone surrogates: not Unicode
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
TAGS = sorted(
    str(t.__struct_config__.tag)
    for union in (p.KioskInbound, p.AgentInbound, p.ServerMessage)
    for t in get_args(union)
)
huge_sizes = st.sampled_from([65, 201, 1001, 2001, 60_001, 70_000, 100_000])
pads = st.sampled_from(["x", "\u00e9", "\U0001f600"])


def inbound(side: Side) -> st.SearchStrategy[Any]:
    """Valid messages of every type the side may send, some about a call that exists (a placeholder id,
    put in for a call seen when the frame is sent: generation must not depend on the server's state)."""
    messages = kiosk_messages if side == "kiosk" else agent_messages

    def about_live_call(message: Any, which: int | None) -> Any:
        if which is None or not hasattr(message, "call_id"):
            return message
        return msgspec.structs.replace(message, call_id=f"{LIVE_CALL}{which}")

    return st.builds(about_live_call, messages, st.none() | st.integers(0, 3))


def resolve(frame: Frame, live_calls: list[str]) -> Frame:
    """Put the calls seen so far in for the placeholders (left as they are, they are unknown calls)."""
    if not live_calls:
        return frame
    data = frame.data
    for which in range(4):
        live = live_calls[which % len(live_calls)]
        placeholder = f"{LIVE_CALL}{which}"
        if isinstance(data, str):
            data = data.replace(placeholder, live)
        else:
            data = data.replace(placeholder.encode(), live.encode())
    return dataclasses.replace(frame, data=data)


def on_the_happy_path(side: Side) -> st.SearchStrategy[Any]:
    """Messages likely to be acted on, so that calls are asked for, rung, answered, signalled, ended,
    transferred and wrapped up while the rest of the frames arrive."""
    call = st.integers(0, 3).map(lambda n: f"{LIVE_CALL}{n}")
    candidate = st.builds(p.IceCandidate, candidate=st.just("candidate:1 1 udp 1 192.0.2.1 5000 typ host"))
    signaling = st.builds(p.Ice, call_id=call, candidate=st.none() | candidate)
    if side == "kiosk":
        return st.one_of(
            st.builds(p.HelpRequest, topic=st.sampled_from(["cash", "cards"]), language=st.just("en")),
            st.builds(p.Cancel, call_id=call),
            st.builds(p.Hangup, call_id=call),
            st.builds(
                p.SessionDescription, call_id=call, sdp_type=st.just(p.SdpType.OFFER), sdp=st.just("v=0")
            ),
            signaling,
        )
    return st.one_of(
        st.builds(p.SetState, state=st.sampled_from(["available", "available", "away", "offline"])),
        st.builds(p.Accept, call_id=call),
        st.builds(p.Decline, call_id=call),
        st.builds(p.Hangup, call_id=call),
        st.builds(p.SessionDescription, call_id=call, sdp_type=st.just(p.SdpType.ANSWER), sdp=st.just("v=0")),
        signaling,
        st.builds(p.WrapUp, call_id=call, disposition=st.sampled_from(DEFAULT_DISPOSITIONS)),
        st.builds(p.ExtendWrapUp, call_id=call),
        st.builds(p.Transfer, call_id=call, to_topic=st.sampled_from(["cash", "cards", "other"])),
    )


def _as_dict(message: Any) -> dict[str, Any]:
    result: dict[str, Any] = msgspec.to_builtins(message)
    return result


def _json(value: Any) -> Frame:
    return Frame("text", json.dumps(value))  # ensure_ascii: lone surrogates travel as escapes


def mutated(messages: st.SearchStrategy[Any]) -> st.SearchStrategy[Frame]:
    """A valid message's JSON, broken one way: a field dropped, retyped or added, the tag swapped."""
    keys = st.sampled_from(["type", "call_id", "topic", "state", "sdp", "candidate", "extra", ""])

    def drop(d: dict[str, Any], key: str) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k != (key if key in d else next(iter(d)))}

    return st.one_of(
        st.builds(lambda m, k: _json(drop(_as_dict(m), k)), messages, keys),
        st.builds(lambda m, k, v: _json({**_as_dict(m), k: v}), messages, keys, json_values),
        st.builds(lambda m, t: _json({**_as_dict(m), "type": t}), messages, st.sampled_from(TAGS)),
        st.builds(lambda m, t: _json({**_as_dict(m), "type": t}), messages, st.text(max_size=20)),
    )


def text_edits(messages: st.SearchStrategy[Any]) -> st.SearchStrategy[Frame]:
    """A valid message's JSON text cut short, or with text inserted anywhere."""

    def cut(text: str, at: int) -> Frame:
        return Frame("text", text[: at % max(1, len(text))])

    def insert(text: str, at: int, extra: str) -> Frame:
        at %= len(text) + 1
        return Frame("text", text[:at] + extra + text[at:])

    encoded = messages.map(p.encode)
    return st.builds(cut, encoded, st.integers(0, 10_000)) | st.builds(
        insert, encoded, st.integers(0, 10_000), st.text(min_size=1, max_size=8)
    )


def huge(messages: st.SearchStrategy[Any]) -> st.SearchStrategy[Frame]:
    """A valid message with one string field (or a new one) far over its limit, or over every limit."""

    def grow(message: Any, size: int, pad: str) -> Frame:
        d = _as_dict(message)
        key = next((k for k, v in d.items() if k != "type" and isinstance(v, str)), "pad")
        return Frame("text", json.dumps({**d, key: pad * size}, ensure_ascii=False))

    def absurd(message: Any) -> Frame:
        return Frame("text", json.dumps({**_as_dict(message), "pad": "x" * MAX_FRAME_BYTES}))

    return st.one_of(*[st.builds(grow, messages, huge_sizes, pads)] * 4, messages.map(absurd))


def not_utf8(messages: st.SearchStrategy[Any]) -> st.SearchStrategy[Frame]:
    def spoil(message: Any, at: int, junk: bytes) -> Frame:
        raw = p.encode(message).encode()
        at %= len(raw) + 1
        return Frame("not_utf8", raw[:at] + junk + raw[at:])

    junk = st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
    return st.builds(spoil, messages, st.integers(0, 10_000), junk)


def frames(side: Side) -> st.SearchStrategy[Frame]:
    messages = inbound(side)
    kinds: list[tuple[int, st.SearchStrategy[Frame]]] = [  # (weight, strategy)
        (30, messages.map(lambda m: Frame("text", p.encode(m)))),
        (30, on_the_happy_path(side).map(lambda m: Frame("text", p.encode(m)))),
        (20, mutated(messages)),
        (10, text_edits(messages)),
        (6, huge(messages)),
        (6, json_values.map(_json)),
        (4, st.text(max_size=200).map(lambda t: Frame("text", t))),
        (4, st.binary(max_size=300).map(lambda b: Frame("binary", b))),
        (3, messages.map(lambda m: Frame("binary", p.encode(m).encode()))),
        (2, not_utf8(messages)),
    ]
    weighted = [s for weight, s in kinds for _ in range(weight)]
    return st.sampled_from(weighted).flatmap(lambda s: s)


# -------------------------------------------------------------------------------------------- the rig
class _Problems(logging.Handler):
    """Log records no bad input may cause: errors, and anything carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass
class Rig:
    server: RunningServer
    kiosk_secret: str
    agent_password: str
    problems: _Problems
    clients: dict[Side, Client] = field(default_factory=dict)
    probes: Iterator[int] = field(default_factory=itertools.count)

    async def connect(self, side: Side) -> None:
        if side == "kiosk":
            self.clients[side] = await connect_kiosk(self.server, KIOSK_ID, self.kiosk_secret)
        else:
            self.clients[side] = await connect_agent(self.server, AGENT, self.agent_password)
            # a new session is told its state after the welcome (numbered, through its outbox): once it
            # has arrived, what connecting writes to Redis is written
            await self.clients[side].expect(p.AgentStateChanged)

    def live_calls(self) -> list[str]:
        seen = {getattr(m, "call_id", None) for c in self.clients.values() for m in c.received}
        return sorted(c for c in seen if isinstance(c, str))

    async def conn_id(self, side: Side) -> bytes | str | None:
        keys = self.server.services.keys
        key = keys.kiosk(KIOSK_ID) if side == "kiosk" else keys.agent(AGENT)
        value: bytes | str | None = await self.server.services.redis.hget(key, "conn")
        return value

    async def send(self, side: Side, frame: Frame) -> None:
        ws = self.clients[side].ws
        if frame.kind == "text":
            assert isinstance(frame.data, str)
            await ws.send_str(frame.data)
        elif frame.kind == "binary":
            assert isinstance(frame.data, bytes)
            await ws.send_bytes(frame.data)
        else:
            assert isinstance(frame.data, bytes)
            await ws.send_frame(frame.data, aiohttp.WSMsgType.TEXT)

    async def probe(self, side: Side) -> None:
        """Send the probe and wait for its answer: everything the frame before it caused has been said."""
        token = f"probe-{next(self.probes)}"
        client = self.clients[side]
        if side == "kiosk":
            await client.send(p.HelpRequest(topic=token))
        else:
            await client.send(p.Transfer(call_id="probe", to_topic=token))
        answer = asyncio.ensure_future(client.expect(p.Error, where=lambda e: repr(token) in e.message))
        closed = asyncio.ensure_future(client.closed.wait())
        try:
            await asyncio.wait({answer, closed}, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not answer.done():
            answer.cancel()
            raise AssertionError(f"no answer to the probe; socket closed with {client.ws.close_code}")
        assert answer.result().code is p.ErrorCode.UNKNOWN_TOPIC

    async def ready(self, side: Side) -> None:
        """A clean start for an example, even after one that failed (so that Hypothesis can shrink it)."""
        self.problems.records.clear()
        if self.clients[side].closed.is_set():
            await self.reconnect_after_close(side, None)
        await self.server.services.delivery.outbox.flushed()  # what connecting said is in Redis

    async def reconnect_after_close(self, side: Side, conn_before: bytes | str | None) -> None:
        """The server has closed the socket: wait until it has recorded the party leaving, then rejoin."""
        client = self.clients[side]
        await asyncio.wait_for(client.closed.wait(), WAIT_S)
        await client.close()

        async def departed() -> bool:
            return conn_before is None or await self.conn_id(side) != conn_before

        await wait_until(departed, what=f"the server to record the {side} leaving")
        await self.connect(side)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One escalation step and no timers within the test: Redis changes only when a frame is acted on;
    no rate limit: this test is about content (test_rate_limits.py is about rate)."""
    queues = QueueSet({t: QueueConfig(t, escalation=(EscalationStep(0, 1, True),)) for t in DEFAULT_TOPICS})
    return dataclasses.replace(
        settings,
        queues=queues,
        reservation_timeout_s=QUIET_S,
        kiosk_presence_ttl_s=QUIET_S,
        agent_presence_ttl_s=QUIET_S,
        wrap_up_s=QUIET_S,
        decline_cooldown_s=QUIET_S,
        client_messages_per_s=1e6,
        client_message_burst=1_000_000,
    )


@pytest.fixture
async def rig(server: RunningServer) -> AsyncIterator[Rig]:
    problems = _Problems()
    logging.getLogger().addHandler(problems)
    rig = Rig(
        server,
        await server.enroll(KIOSK_ID),
        await server.add_agent(AGENT, skills=("cash", "cards"), languages=("en", "es")),
        problems,
    )
    try:
        await rig.connect("kiosk")
        await rig.connect("agent")
        yield rig
    finally:
        for client in rig.clients.values():
            await client.close()
        logging.getLogger().removeHandler(problems)


# --------------------------------------------------------------------------------------------- the test
@hypothesis_settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_whatever_a_client_sends_the_server_answers_per_the_protocol_and_keeps_serving(
    rig: Rig, data: st.DataObject
) -> None:
    side: Side = data.draw(st.sampled_from(["kiosk", "agent"]), label="side")
    frame = resolve(data.draw(frames(side), label="frame"), rig.live_calls())
    want = expected(side, frame)
    await rig.ready(side)
    client = rig.clients[side]
    before = await redis_snapshot(rig.server)
    conn_before = await rig.conn_id(side)
    start = len(client.received)

    await rig.send(side, frame)
    if want.close is not None:
        await rig.reconnect_after_close(side, conn_before)
        assert client.ws.close_code == want.close
    else:
        await rig.probe(side)
        errors = [m for m in client.received[start:] if isinstance(m, p.Error)][:-1]  # less the probe's
        _check_answer(want, errors)
        if errors:
            assert await redis_snapshot(rig.server) == before, "a refused message changed Redis"
    assert not rig.problems.records, [r.getMessage() for r in rig.problems.records]


def _check_answer(want: Expected, errors: list[p.Error]) -> None:
    assert all(e.message for e in errors)
    assert not any("Traceback" in e.message for e in errors)
    if want.error is not None:
        assert [e.code for e in errors] == [want.error]
        if want.error is not p.ErrorCode.TOO_LARGE:
            assert errors[0].ref == want.ref
    else:  # it decodes: acted on, or refused for the state it met
        assert len(errors) <= 1
        assert all(e.code in REFUSALS for e in errors), errors
