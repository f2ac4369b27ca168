"""The routing engine against a reference model, as a Hypothesis state machine.

Random interleavings of kiosks asking for help (and cancelling), agents signing in, going available or away,
offers accepted, declined and timing out, hang-ups, wrap-ups (by the agent, a supervisor or the timer),
transfers, disconnects (current, stale and expired connections), heartbeats and the periodic timers and
sweep, on the real Redis with a fake clock. After every step the routing state in Redis must equal the
model's, and the design's invariants must hold:

1. a call is reserved or assigned to at most one agent; an agent holds at most its capacity;
2. every call reaches exactly one terminal state: one ``ended`` event, from a live state, never two;
3. offers go to the oldest highest-priority call an agent may take, and to the longest-idle agent (the
   engine's offers must be exactly those the model predicts);
4. no call is both queued and reserved; queues and availability sets hold exactly what the model says;
5. a waiting call is never left waiting while an eligible agent is free: a transition may leave a match
   pending only where one already was (or where time or presence changed), and none is left after a sweep.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar, Literal, TypeVar

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

import signaling.routing.engine as routing_engine
from signaling.errors import RoutingError
from signaling.protocol import ErrorCode
from signaling.routing.engine import AgentProfile, AgentStatus, Gone, Outcome, PartyKind, RoutingEngine
from signaling.routing.keys import Keys
from tests.strategies import routing_agent_profiles

T = TypeVar("T")

TOPICS = ("cash", "cards")
CONFIGURED_TOPIC = "cards"  # has a queue config (a transfer needs one); "cash" runs on the Lua's defaults
ESCALATION_MS = 5_000  # then "cards" takes any language (the product's default does so after a minute)
QUEUE_CONFIG = {CONFIGURED_TOPIC: {"aging_ms": "30000", "steps": f"0:1:0,{ESCALATION_MS}:1:1"}}
AGING_MS = {"cash": 60_000, CONFIGURED_TOPIC: 30_000}  # a priority call goes ahead of calls this much older
KIOSKS = ("k0", "k1", "k2", "k3")
AGENTS = ("a0", "a1", "a2")
KINDS: tuple[PartyKind, ...] = ("kiosk", "agent")
START_MS = 1_700_000_000_000
RING_MS = 2_000
COOLDOWN_MS = 30_000
WRAP_UP_MS = 5_000
EXTENSION_MS = 5_000
MAX_WAIT_MS = 8_000
MAX_MISSES = 2
SHORT_PRESENCE_MS = 3_000
FOREVER_MS = 10**9
ANSWERED_WINDOW_MS = 3_600_000
LIVE = ("queued", "reserved", "connecting")
LANGUAGES = st.sampled_from(("en", "es"))
HANGUP_REASONS = {"kiosk": "kiosk_hangup", "agent": "agent_hangup", "supervisor": "removed_by_supervisor"}
TTLS = st.sampled_from((FOREVER_MS, FOREVER_MS, SHORT_PRESENCE_MS))  # presence: mostly kept up by heartbeats
Offer = tuple[str, str]  # (call, agent)


class FakeClock:
    """Stands in for ``now_ms``: the Lua scripts take NOW from it, and so do ``due`` and presence."""

    def __init__(self) -> None:
        self.ms = START_MS

    def __call__(self) -> int:
        return self.ms


class CallIds:
    """Stands in for the engine's ``uuid`` module: call ids in creation order, so that a replayed example
    (shrinking) sees the same ordering wherever Redis breaks ties by member."""

    def __init__(self) -> None:
        self.count = 0

    def uuid4(self) -> SimpleNamespace:
        self.count += 1
        return SimpleNamespace(hex=f"call{self.count:03d}")


class Refused(Exception):
    """The model's verdict that the engine must refuse a request with this error code."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.value)
        self.code = code


# ------------------------------------------------------------------------------------------ model
@dataclass
class MCall:
    id: str
    kiosk: str
    topic: str
    language: str
    priority: int
    created: int
    seq: int
    first_topic: str
    state: str = "queued"
    agent: str = ""
    reason: str = ""
    deadline: int | None = None  # ring deadline while reserved
    wait_deadline: int | None = None
    declined: dict[str, int] = field(default_factory=dict)

    @property
    def score(self) -> int:
        """Queue order: priority lifts a call by its first queue's ageing, then FIFO (by arrival)."""
        return (self.created - self.priority * AGING_MS[self.first_topic]) * 1024 + self.seq % 1024

    @property
    def live(self) -> bool:
        return self.state in LIVE


@dataclass
class MAgent:
    profile: AgentProfile
    known: bool = False  # has signed in once: the engine knows the profile
    listed: bool = False  # in the set of signed-in agents (and staffed on its topics)
    conn: str | None = None
    presence: int | None = None
    state: str = "offline"
    reason: str = ""
    next: str = ""
    load: int = 0
    call: str = ""
    idle: int | None = None
    misses: int = 0
    wrap_deadline: int | None = None
    extended: bool = False

    @property
    def name(self) -> str:
        return self.profile.username

    @property
    def skills(self) -> tuple[str, ...]:
        return self.profile.skills if self.known else ()


@dataclass
class MKiosk:
    id: str
    conn: str | None = None
    presence: int | None = None
    call: str | None = None


@dataclass(frozen=True)
class MGone:
    ended: tuple[str, str, str, str] | None  # call, final state, agent, kiosk
    released: str | None
    offers: list[Offer]


def _zset(pairs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(pairs, key=lambda p: (p[1], p[0]))


class Model:
    """What routing should be, written from the design: plain Python, no Redis."""

    def __init__(self, clock: FakeClock, profiles: Sequence[AgentProfile]) -> None:
        self.clock = clock
        self.calls: dict[str, MCall] = {}
        self.kiosks = {k: MKiosk(k) for k in KIOSKS}
        self.agents = {p.username: MAgent(p) for p in profiles}
        self.answered: dict[str, dict[str, int]] = {t: {} for t in TOPICS}
        self.seq = 0

    @property
    def now(self) -> int:
        return self.clock.ms

    # ------------------------------------------------------------------------------ who may take what
    def kiosk_present(self, call: MCall) -> bool:
        exp = self.kiosks[call.kiosk].presence
        return exp is not None and exp > self.now

    def agent_present(self, agent: MAgent) -> bool:
        return agent.presence is not None and agent.presence > self.now

    def offerable(self, agent: MAgent) -> bool:
        """Free to be rung: the state allows it, there is room, and a console is connected to ring."""
        busy = agent.state in ("available", "ringing", "in_call") and agent.load < agent.profile.capacity
        return busy and bool(agent.conn)

    def eligible(self, call: MCall, agent: MAgent) -> bool:
        any_language = call.topic == CONFIGURED_TOPIC and self.now - call.created >= ESCALATION_MS
        if call.language not in agent.profile.languages and not any_language:
            return False
        if call.declined.get(agent.name, self.now) > self.now:
            return False
        return self.agent_present(agent)

    def queued(self, topic: str) -> list[MCall]:
        waiting = [c for c in self.calls.values() if c.state == "queued" and c.topic == topic]
        return sorted(waiting, key=lambda c: (c.score, c.id))

    def available(self, topic: str) -> list[MAgent]:
        free = [a for a in self.agents.values() if topic in a.skills and self.offerable(a)]
        return sorted(free, key=lambda a: (a.idle or 0, a.name))

    def pending(self) -> set[Offer]:
        """Matches the engine could make now: a waiting call and a free agent who may take it."""
        return {
            (c.id, a.name)
            for t in TOPICS
            for c in self.queued(t)
            if self.kiosk_present(c)
            for a in self.available(t)
            if self.eligible(c, a)
        }

    # -------------------------------------------------------------------------------- agent states
    def set_state(self, agent: MAgent, state: str, reason: str) -> None:
        if state == "available":
            agent.idle = self.now
        agent.state, agent.reason = state, reason

    def settle(self, agent: MAgent) -> None:
        """An offer gone or a wrap-up filed: the agent goes where they asked to go next."""
        agent.wrap_deadline, agent.call, agent.extended = None, "", False
        if agent.load > 0:
            self.set_state(agent, "in_call", "")
            return
        next_state, agent.next = agent.next, ""
        if not self.agent_present(agent):  # their console is gone (or its heartbeats lapsed)
            self.set_state(agent, "offline", "")
            return
        state, _, reason = next_state.partition(":")
        self.set_state(agent, state or "available", reason)

    # ------------------------------------------------------------------------------------ matching
    def reserve(self, call: MCall, agent: MAgent) -> Offer:
        call.state, call.agent, call.deadline = "reserved", agent.name, self.now + RING_MS
        agent.load += 1
        agent.state, agent.call = "ringing", call.id
        return call.id, agent.name

    def match_topic(self, topic: str) -> list[Offer]:
        """Oldest highest-priority call first, each to the longest-idle agent who may take it."""
        offers: list[Offer] = []
        while free := self.available(topic):
            pair = next(
                (
                    (c, a)
                    for c in self.queued(topic)
                    if self.kiosk_present(c)
                    for a in free
                    if self.eligible(c, a)
                ),
                None,
            )
            if pair is None:
                break
            offers.append(self.reserve(*pair))
        return offers

    def match_agent(self, name: str) -> list[Offer]:
        """A freed agent: the best call (lowest score) among all their topics that they may take."""
        agent, offers = self.agents[name], []
        while self.offerable(agent):
            calls = [
                c
                for t in agent.skills
                for c in self.queued(t)
                if self.kiosk_present(c) and self.eligible(c, agent)
            ]
            if not calls:
                break
            offers.append(self.reserve(min(calls, key=lambda c: c.score), agent))
        return offers

    def abandon(self, call_id: str) -> None:
        """The engine abandoned a waiting call on its way: only allowed if its kiosk is gone."""
        call = self.calls.get(call_id)
        assert call is not None, f"abandoned an unknown call {call_id}"
        assert call.state == "queued", f"abandoned {call_id} while it was {call.state}"
        assert not self.kiosk_present(call), f"abandoned {call_id} although its kiosk is present"
        self.finish(call, "abandoned", "kiosk_disconnected")

    # ------------------------------------------------------------------------------- call endings
    def finish(self, call: MCall, state: str, reason: str) -> str:
        call.state, call.reason = state, reason
        call.deadline = call.wait_deadline = None
        call.declined = {}
        kiosk = self.kiosks[call.kiosk]
        if kiosk.call == call.id:
            kiosk.call = None
        return call.agent

    def end_call(self, call: MCall, reason: str, agent_goes_offline: bool) -> tuple[str, str, str]:
        prev = call.state
        final = "completed" if prev == "connecting" else "abandoned"
        name = self.finish(call, final, reason)
        if name and prev in ("reserved", "connecting"):
            agent = self.agents[name]
            agent.load -= 1
            if agent_goes_offline:
                agent.call, agent.next = "", ""
                self.set_state(agent, "offline", "")
            elif prev == "connecting":
                agent.call, agent.extended, agent.wrap_deadline = call.id, False, self.now + WRAP_UP_MS
                self.set_state(agent, "wrap_up", "")
            else:
                self.settle(agent)
        return prev, final, name

    def release_reservation(self, call: MCall, name: str, mode: str) -> str:
        agent = self.agents[name]
        call.state, call.agent, call.deadline = "queued", "", None
        if mode in ("decline", "timeout"):
            call.declined[name] = self.now + COOLDOWN_MS
        agent.load -= 1
        if agent.call == call.id:
            agent.call = ""
        if mode == "offline":
            self.set_state(agent, "offline", "")
            return "offline"
        if mode == "timeout":
            agent.misses += 1
            if agent.misses >= MAX_MISSES:
                agent.misses, agent.next = 0, ""
                self.set_state(agent, "away", "missed offers")
                return "away"
        self.settle(agent)
        return agent.state

    # --------------------------------------------------------------------------------- transitions
    def enqueue(
        self, call_id: str, kiosk_id: str, topic: str, language: str, priority: int, wait: bool
    ) -> None:
        kiosk = self.kiosks[kiosk_id]
        self.seq += 1
        call = MCall(call_id, kiosk_id, topic, language, priority, self.now, self.seq, topic)
        call.wait_deadline = self.now + MAX_WAIT_MS if wait else None
        self.calls[call_id] = call
        kiosk.call = call_id

    def live_call(self, kiosk_id: str) -> str | None:
        call_id = self.kiosks[kiosk_id].call
        return call_id if call_id and self.calls[call_id].live else None

    def agent_online(self, name: str, conn: str, expiry: int) -> tuple[str, str]:
        agent = self.agents[name]
        agent.known = agent.listed = True
        agent.conn, agent.presence = conn, expiry
        if agent.state == "offline":
            agent.call, agent.load, agent.next = "", 0, ""
            self.set_state(agent, "away", "signed in")
        return agent.state, agent.call

    def set_agent_state(self, name: str, want: str, reason: str) -> tuple[str, str, list[Offer]]:
        agent = self.agents[name]
        offers: list[Offer] = []
        if agent.state in ("ringing", "in_call", "wrap_up"):
            agent.next = "" if want == "available" else f"{want}:{reason}" if reason else want
        elif want == "available":
            agent.misses, agent.next = 0, ""
            if agent.state != "available":
                self.set_state(agent, "available", "")
            offers = self.match_agent(name)
        else:
            agent.next = ""
            self.set_state(agent, want, reason)
        return agent.state, agent.next, offers

    def accept(self, call_id: str, name: str) -> tuple[str, int]:
        call = self.calls.get(call_id)
        if call is None or call.agent != name:
            raise Refused(ErrorCode.UNKNOWN_CALL)
        if call.state != "reserved":
            raise Refused(ErrorCode.WRONG_STATE)
        agent = self.agents[name]
        call.state, call.deadline = "connecting", None
        agent.state, agent.call, agent.misses = "in_call", call_id, 0
        answered = self.answered[call.topic]
        answered[call_id] = self.now
        for old in [c for c, at in answered.items() if at <= self.now - ANSWERED_WINDOW_MS]:
            del answered[old]
        return call.kiosk, call.created

    def release(self, call_id: str, name: str, mode: str) -> tuple[str, str, list[Offer]] | None:
        call = self.calls.get(call_id)
        if call is None or call.state != "reserved" or (name and call.agent != name):
            if mode == "decline":
                raise Refused(ErrorCode.UNKNOWN_CALL)
            return None
        if mode == "timeout" and call.deadline is not None and call.deadline > self.now:
            return None
        agent = call.agent
        state = self.release_reservation(call, agent, mode)
        return agent, state, self.match_topic(call.topic) + self.match_agent(agent)

    def hangup(
        self, call_id: str, kind: str, party: str, reason: str
    ) -> tuple[str, str, str, str, list[Offer]]:
        call = self.calls.get(call_id)
        if (
            call is None
            or (kind == "kiosk" and call.kiosk != party)
            or (kind == "agent" and call.agent != party)
        ):
            raise Refused(ErrorCode.UNKNOWN_CALL)
        if not call.live or (kind, call.state == "connecting") in (("agent", False), ("supervisor", True)):
            raise Refused(ErrorCode.WRONG_STATE)  # an agent hangs up an answered call; a supervisor not
        prev, final, agent = self.end_call(call, reason, False)
        offers = self.match_agent(agent) if prev == "reserved" and agent else []
        return prev, final, agent, call.kiosk, offers

    def wrap_up(self, name: str, call_id: str, how: str) -> tuple[str, list[Offer]] | None:
        agent = self.agents[name]
        if agent.state != "wrap_up" or (call_id and agent.call != call_id):
            raise Refused(ErrorCode.WRONG_STATE)
        if how == "timer" and agent.wrap_deadline is not None and agent.wrap_deadline > self.now:
            return None
        done = agent.call
        self.settle(agent)
        return done, self.match_agent(name)

    def extend_wrap_up(self, name: str, call_id: str) -> int:
        agent = self.agents[name]
        if agent.state != "wrap_up" or agent.call != call_id or agent.extended:
            raise Refused(ErrorCode.WRONG_STATE)
        agent.wrap_deadline = (agent.wrap_deadline or self.now) + EXTENSION_MS
        agent.extended = True
        return agent.wrap_deadline

    def transfer(self, call_id: str, frm: str, to_topic: str, to_agent: str) -> tuple[str, list[Offer]]:
        call = self.calls.get(call_id)
        if call is None or call.agent != frm:
            raise Refused(ErrorCode.UNKNOWN_CALL)
        if call.state != "connecting":
            raise Refused(ErrorCode.WRONG_STATE)
        if to_topic not in ("", CONFIGURED_TOPIC):
            raise Refused(ErrorCode.UNKNOWN_TOPIC)
        target = self.agents.get(to_agent)
        if to_agent and (
            to_agent == frm or target is None or not self.offerable(target) or not self.agent_present(target)
        ):
            raise Refused(ErrorCode.AGENT_UNAVAILABLE)
        call.state, call.agent, call.topic = "queued", "", to_topic or call.topic
        agent = self.agents[frm]
        agent.load -= 1
        agent.call, agent.extended, agent.wrap_deadline = call_id, False, self.now + WRAP_UP_MS
        self.set_state(agent, "wrap_up", "")
        if target is not None:
            return call.kiosk, [self.reserve(call, target)]
        return call.kiosk, self.match_topic(call.topic)

    def expire_wait(self, call_id: str) -> str | None:
        call = self.calls.get(call_id)
        if call is None or call.wait_deadline is None or call.wait_deadline > self.now:
            return None
        if call.state == "reserved":
            return None
        call.wait_deadline = None
        if call.state != "queued":
            return None
        self.finish(call, "timed_out", "max_wait")
        return call.kiosk

    def gone(self, kind: str, party: str, conn: str) -> MGone | None:
        holder: MKiosk | MAgent = self.kiosks[party] if kind == "kiosk" else self.agents[party]
        if conn and holder.conn is not None and holder.conn != conn:
            return None
        if not conn and holder.presence is not None and holder.presence > self.now:
            return None
        holder.conn = holder.presence = None
        if isinstance(holder, MKiosk):
            return self.kiosk_gone(holder)
        return self.agent_gone(holder)

    def left(self, kind: str, party: str, conn: str, grace: int) -> bool:
        """A connection dropped without a goodbye: kept for the grace period, with no console to ring."""
        holder: MKiosk | MAgent = self.kiosks[party] if kind == "kiosk" else self.agents[party]
        if holder.conn is None or holder.conn != conn:
            return False
        holder.conn, holder.presence = "", self.now + grace
        return True

    def kiosk_gone(self, kiosk: MKiosk) -> MGone:
        call_id = self.live_call(kiosk.id)
        if call_id is None:
            return MGone(None, None, [])
        prev, final, agent = self.end_call(self.calls[call_id], "kiosk_disconnected", False)
        offers = self.match_agent(agent) if prev == "reserved" and agent else []
        return MGone((call_id, final, agent, kiosk.id), None, offers)

    def agent_gone(self, agent: MAgent) -> MGone:
        ended, released, offers = None, None, []
        if agent.state == "ringing" and agent.call:
            call = self.calls[agent.call]
            self.release_reservation(call, agent.name, "offline")
            released, offers = call.id, self.match_topic(call.topic)
            if offers:
                event("a call released by a departing agent went to another")
        elif agent.state == "in_call" and agent.call:
            call = self.calls[agent.call]
            _, final, _ = self.end_call(call, "agent_disconnected", True)
            ended = (call.id, final, agent.name, call.kiosk)
        agent.listed = False
        if agent.state != "wrap_up":
            agent.call, agent.load, agent.next = "", 0, ""
            self.set_state(agent, "offline", "")
        return MGone(ended, released, offers)

    def sweep(self) -> list[Offer]:
        offers: list[Offer] = []
        for topic in TOPICS:
            if self.queued(topic) and self.available(topic):
                offers += self.match_topic(topic)
        return offers

    def heartbeat(self, members: Sequence[str], expiry: int) -> None:
        for member in members:
            kind, _, party = member.partition(":")
            holder: MKiosk | MAgent = self.kiosks[party] if kind == "kiosk" else self.agents[party]
            if holder.presence is not None:
                holder.presence = expiry

    # ------------------------------------------------------------------------- Redis, as it should be
    def presence(self) -> list[tuple[str, int]]:
        members = [(f"kiosk:{k.id}", k.presence) for k in self.kiosks.values()]
        members += [(f"agent:{a.name}", a.presence) for a in self.agents.values()]
        return _zset([(m, exp) for m, exp in members if exp is not None])

    def view(self) -> dict[str, Any]:
        calls, agents = self.calls.values(), self.agents.values()
        return {
            "queue": {t: [(c.id, c.score) for c in self.queued(t)] for t in TOPICS},
            "avail": {t: [(a.name, a.idle or 0) for a in self.available(t)] for t in TOPICS},
            "answered": {t: _zset(list(self.answered[t].items())) for t in TOPICS},
            "staffed": {t: sorted(a.name for a in agents if a.listed and t in a.skills) for t in TOPICS},
            "reservations": _zset([(c.id, c.deadline) for c in calls if c.deadline is not None]),
            "wrapups": _zset([(a.name, a.wrap_deadline) for a in agents if a.wrap_deadline is not None]),
            "waits": _zset([(c.id, c.wait_deadline) for c in calls if c.wait_deadline is not None]),
            "presence": self.presence(),
            "agents": sorted(a.name for a in agents if a.listed),
            "agent": {
                a.name: (a.state, a.reason, a.next, a.load, a.call, a.misses, a.extended, a.conn, a.idle)
                for a in agents
            },
            "kiosk": {k.id: (k.call, k.conn) for k in self.kiosks.values()},
            "call": {c.id: (c.state, c.agent, c.topic, c.reason, c.score) for c in calls},
            "declined": {c.id: c.declined for c in calls},
        }


# ------------------------------------------------------------------------------- Redis, as it is
AGENT_FIELDS = ["state", "reason", "next", "load", "call", "misses", "extended", "conn", "idle_ms"]
CALL_FIELDS = ["state", "agent", "topic", "reason", "score"]
SNAPSHOT_LUA = """
-- Read many keys in one round trip and answer one JSON string (cheap to parse: the machine reads the
-- whole routing state after every step). ARGV[1]: JSON list of [label, kind, key, extra].
local out = {}
for _, q in ipairs(cjson.decode(ARGV[1])) do
  local label, kind, key = q[1], q[2], q[3]
  if kind == 'zset' then
    out[label] = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  elseif kind == 'set' then
    out[label] = redis.call('SMEMBERS', key)
  elseif kind == 'hash' then
    out[label] = redis.call('HGETALL', key)
  elseif kind == 'fields' then
    local raw, row = redis.call('HMGET', key, unpack(q[4])), {}
    for i = 1, #q[4] do row[i] = raw[i] or cjson.null end
    out[label] = row
  else
    out[label] = redis.call('XRANGE', key, q[4], '+')
  end
end
return cjson.encode(out)
"""


def _list(raw: Any) -> list[Any]:
    return raw if isinstance(raw, list) else []  # cjson writes an empty array as {}


def _pairs(raw: Any) -> list[tuple[str, int]]:
    flat = _list(raw)
    return [(flat[i], int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


def _agent_row(raw: Sequence[Any]) -> tuple[Any, ...]:
    state, reason, nxt, load, call, misses, extended, conn, idle = raw
    return (
        state or "offline",
        reason or "",
        nxt or "",
        int(load or 0),
        call or "",
        int(misses or 0),
        extended == "1",
        conn,
        None if idle is None else int(idle),
    )


def _call_row(raw: Sequence[Any]) -> tuple[Any, ...]:
    state, agent, topic, reason, score = raw
    return (state, agent or "", topic, reason or "", int(score))


@dataclass
class EventTrack:
    """A call's life as its events tell it."""

    state: str = "queued"
    agent: str = ""
    reason: str = ""
    ended: int = 0


def _follow(track: EventTrack, kind: str, fields: dict[str, str]) -> None:
    """One event of a call; anything out of order is a broken lifecycle."""
    agent = fields.get("agent", "")
    if kind == "ended":
        assert track.state in LIVE, f"a second ended event (was {track.state}): {fields}"
        track.state, track.reason, track.ended = fields["state"], fields["reason"], track.ended + 1
        track.agent = ""
        return
    moves = {
        ("queued", "reserved"): "reserved",
        ("reserved", "released"): "queued",
        ("reserved", "accepted"): "connecting",
        ("connecting", "transferred"): "queued",
    }
    if kind == "wrapped_up":
        return  # the agent's part: the call may live on (after a transfer) or have ended
    assert (track.state, kind) in moves, f"{kind} event while the call was {track.state}"
    if kind in ("released", "accepted"):
        assert agent == track.agent, f"{kind} by {agent}, but the call was with {track.agent}"
    track.state = moves[(track.state, kind)]
    track.agent = agent if track.state in ("reserved", "connecting") else ""


# ------------------------------------------------------------------------------------ the machine
def _mostly(data: st.DataObject, likely: Sequence[str], anything: Sequence[str]) -> str:
    """One of the likely choices (where shrinking goes), or now and then anything at all."""
    return data.draw(
        st.sampled_from(likely) | st.sampled_from(anything) if likely else st.sampled_from(anything)
    )


@dataclass(frozen=True)
class Setup:
    redis_url: str
    prefix: str
    clock: FakeClock
    call_ids: CallIds


class RoutingMachine(RuleBasedStateMachine):
    setup: ClassVar[Setup]  # given by the test, which binds a subclass to its Redis and clock

    def __init__(self) -> None:
        super().__init__()
        self.clock = self.setup.clock
        self.clock.ms = START_MS
        self.setup.call_ids.count = 0
        self.loop = asyncio.new_event_loop()
        self.redis = Redis.from_url(self.setup.redis_url)
        self.keys = Keys(f"{self.setup.prefix}:m{uuid.uuid4().hex[:10]}")
        self.engine = RoutingEngine(
            self.redis,
            self.keys,
            reservation_timeout_s=RING_MS / 1000,
            max_missed_offers=MAX_MISSES,
            decline_cooldown_s=COOLDOWN_MS / 1000,
            wrap_up_s=WRAP_UP_MS / 1000,
            wrap_up_extension_s=EXTENSION_MS / 1000,
            queues=QUEUE_CONFIG,
            clock=self.setup.clock,
        )
        self.run(self.engine.publish_config())
        self.snapshot_script = self.redis.register_script(SNAPSHOT_LUA)
        self._model: Model | None = None
        self.tracks: dict[str, EventTrack] = {}
        self.last_event = "-"
        self.conns: dict[str, list[str]] = {}
        self.pending: set[Offer] = set()
        self.step = "neutral"

    @property
    def model(self) -> Model:
        assert self._model is not None
        return self._model

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def refused(self, code: ErrorCode, coro: Coroutine[Any, Any, Any]) -> None:
        with pytest.raises(RoutingError) as info:
            self.run(coro)
        assert info.value.code is code, f"refused with {info.value.code}, the model says {code}"
        event(f"refused: {code.value}")

    def check_status(self, name: str, status: AgentStatus) -> None:
        """The agent's state a script returned (what the console is told) is the model's."""
        agent = self.model.agents[name]
        if agent.state == "wrap_up":
            assert (status.wrap_up_deadline_ms, status.wrap_up_extended) == (
                agent.wrap_deadline,
                agent.extended,
            )
        expected = (agent.state, agent.reason, agent.call, agent.next)
        got = (status.state, status.reason, status.call_id, status.next_state)
        assert got == expected, f"{name}'s status {got}; the model says {expected}"

    def absorb(self, outcome: Outcome, offers: list[Offer]) -> None:
        got = [(r.call_id, r.agent) for r in outcome.offers]
        assert got == offers, f"offers {got}; the model expected {offers}"
        for r in outcome.offers:  # each offer carries the call as it is now
            call = self.model.calls[r.call_id]
            assert r.call is not None
            view = (r.call.kiosk_id, r.call.topic, r.call.language, r.call.priority, r.call.created_ms)
            assert view == (call.kiosk, call.topic, call.language, call.priority, call.created)
        if offers:
            event("offer made" if len(offers) == 1 else "several offers in one transition")
        for call_id in outcome.abandoned:
            event("a call of a vanished kiosk abandoned while matching")
            assert outcome.abandoned_kiosks[call_id] == self.model.calls[call_id].kiosk
            self.model.abandon(call_id)

    def new_conn(self, member: str) -> str:
        conns = self.conns.setdefault(member, [])
        conns.append(f"{member}#{len(conns) + 1}")
        return conns[-1]

    def teardown(self) -> None:
        try:
            self.run(self._drop_keys())
        finally:
            self.run(self.redis.aclose())
            self.loop.close()

    async def _drop_keys(self) -> None:
        keys = [key async for key in self.redis.scan_iter(match=f"{self.keys.prefix}:*", count=1000)]
        if keys:
            await self.redis.delete(*keys)

    @initialize(
        profiles=st.tuples(*(routing_agent_profiles(name, TOPICS) for name in AGENTS)),
        free=st.tuples(*(st.sampled_from((True, True, False)) for _ in AGENTS)),
    )
    def open_for_business(self, profiles: tuple[AgentProfile, ...], free: tuple[bool, ...]) -> None:
        """Every kiosk and agent signed in (through the engine, as the rules do); some agents available."""
        self._model = Model(self.clock, profiles)
        for kiosk in KIOSKS:
            self.kiosk_connects(kiosk, FOREVER_MS)
        for agent, available in zip(AGENTS, free, strict=True):
            self.agent_connects(agent, FOREVER_MS)
            if available:
                self.agent_sets_state(agent, "available", "")

    # -------------------------------------------------------------------------------- time and presence
    @rule(
        ms=st.sampled_from([1, 1_000, RING_MS, SHORT_PRESENCE_MS, WRAP_UP_MS, COOLDOWN_MS, 61_000]),
        heartbeat=st.sampled_from((True, True, False)),
        ttl=TTLS,
        timers=st.sampled_from((True, True, False)),
    )
    def time_passes(self, ms: int, heartbeat: bool, ttl: int, timers: bool) -> None:
        """Time passes; usually the servers keep refreshing the presence of the connections they hold,
        and their reaper and sweep run (or, now and then, have not run yet)."""
        self.step = "neutral"
        if heartbeat:
            members = [f"kiosk:{k.id}" for k in self.model.kiosks.values() if k.conn]
            members += [f"agent:{a.name}" for a in self.model.agents.values() if a.conn]
            self.run(self.engine.refresh_presence(members, self.clock.ms + ttl))
            self.model.heartbeat(members, self.clock.ms + ttl)
        self.clock.ms += ms
        if timers:
            self.reaper_runs()
            self.sweep_runs()

    @rule(kind=st.sampled_from(KINDS), data=st.data(), ttl=TTLS)
    def party_connects(self, kind: PartyKind, data: st.DataObject, ttl: int) -> None:
        """A kiosk or an agent console (re)connects, maybe while an older connection lingers."""
        party = data.draw(st.sampled_from(KIOSKS if kind == "kiosk" else AGENTS))
        if kind == "kiosk":
            self.kiosk_connects(party, ttl)
        else:
            self.agent_connects(party, ttl)

    def kiosk_connects(self, kiosk: str, ttl: int) -> None:
        self.step = "neutral"
        conn, expiry = self.new_conn(f"kiosk:{kiosk}"), self.clock.ms + ttl
        self.run(self.engine.kiosk_online(kiosk, f"lobby of {kiosk}", conn, expiry))
        model_kiosk = self.model.kiosks[kiosk]
        model_kiosk.conn, model_kiosk.presence = conn, expiry

    def agent_connects(self, agent: str, ttl: int) -> None:
        self.step = "neutral"
        conn, expiry = self.new_conn(f"agent:{agent}"), self.clock.ms + ttl
        got = self.run(self.engine.agent_online(self.model.agents[agent].profile, conn, expiry))
        assert got == self.model.agent_online(agent, conn, expiry)

    # ------------------------------------------------------------------------------------- kiosks
    @precondition(lambda self: any(k.conn for k in self.model.kiosks.values()))
    @rule(data=st.data(), topic=st.sampled_from(TOPICS), language=LANGUAGES, wait=st.booleans())
    def kiosk_asks_for_help(self, data: st.DataObject, topic: str, language: str, wait: bool) -> None:
        self.ask(data, topic, language, 0, wait)

    @precondition(lambda self: any(k.conn for k in self.model.kiosks.values()))
    @rule(data=st.data(), topic=st.sampled_from(TOPICS), language=LANGUAGES, wait=st.booleans())
    def kiosk_with_a_device_fault_asks_for_help(
        self, data: st.DataObject, topic: str, language: str, wait: bool
    ) -> None:
        self.ask(data, topic, language, 1, wait)

    def ask(self, data: st.DataObject, topic: str, language: str, priority: int, wait: bool) -> None:
        self.step = "matching"
        connected = [k for k in self.model.kiosks if self.model.kiosks[k].conn]
        kiosk = _mostly(data, [k for k in connected if self.model.live_call(k) is None], connected)
        max_wait_s = MAX_WAIT_MS / 1000 if wait else 0.0
        asked = self.engine.enqueue(kiosk, "lobby", topic, language, {"tx": "42"}, priority, max_wait_s)
        if self.model.live_call(kiosk) is not None:
            self.refused(ErrorCode.WRONG_STATE, asked)
            return
        queued = self.run(asked)
        self.model.enqueue(queued.call_id, kiosk, topic, language, priority, wait)
        self.absorb(queued.outcome, self.model.match_topic(topic))
        waiting = self.model.calls[queued.call_id].state == "queued"
        assert (queued.position > 0) == waiting, f"position {queued.position}; the call waits: {waiting}"

    # -------------------------------------------------------------------------------------- agents
    @rule(
        agent=st.sampled_from(AGENTS),
        want=st.sampled_from(("available", "available", "away", "offline")),
        reason=st.sampled_from(("", "lunch")),
    )
    def agent_sets_state(self, agent: str, want: str, reason: str) -> None:
        """From the agent's console (or, for an agent not signed in, a supervisor forcing it)."""
        self.step = "matching"
        change = self.run(self.engine.set_agent_state(agent, want, reason))
        state, next_state, offers = self.model.set_agent_state(agent, want, reason)
        assert (change.state, change.next_state) == (state, next_state)
        self.absorb(change.outcome, offers)

    @rule(agent=st.sampled_from(AGENTS), want=st.sampled_from(("available", "away")))
    def supervisor_sets_agent_state(self, agent: str, want: str) -> None:
        """As the supervisor API does: the state (kept as next while busy), then a forced release of a
        ringing offer or the end of a wrap-up."""
        self.step = "matching"
        was, call_id = self.model.agents[agent].state, self.model.agents[agent].call
        self.agent_sets_state(agent, want, "set by sue")
        if was == "ringing":
            self.release(call_id, agent, "forced")
        elif was == "wrap_up":
            self.wrap_up(agent, "", "supervisor")

    # -------------------------------------------------------------------------------------- offers
    def due(self, timer: str) -> list[str]:
        """What a timer sorted set holds that is due now, by the model, in the order Redis keeps."""
        return [member for member, at in self.model.view()[timer] if at <= self.clock.ms]

    def calls(self, *states: str) -> list[str]:
        return [c.id for c in self.model.calls.values() if not states or c.state in states]

    def offered_or_any(self, data: st.DataObject) -> tuple[str, str]:
        """Mostly a real offer (call, its agent); sometimes any call with any agent."""
        offered = [(c, self.model.calls[c].agent) for c in self.calls("reserved")]
        anything = st.tuples(st.sampled_from(self.calls()), st.sampled_from(AGENTS))
        return data.draw(st.sampled_from(offered) | anything if offered else anything)

    @precondition(lambda self: bool(self.calls("reserved")))
    @rule(data=st.data())
    def agent_accepts(self, data: st.DataObject) -> None:
        self.step = "matching"
        call_id, agent = self.offered_or_any(data)
        accepting = self.engine.accept(call_id, agent)
        try:
            expected = self.model.accept(call_id, agent)
        except Refused as refused:
            self.refused(refused.code, accepting)
            return
        accepted = self.run(accepting)
        assert (accepted.kiosk_id, accepted.created_ms) == expected
        self.check_status(agent, accepted.status)
        event("offer accepted")

    @precondition(lambda self: bool(self.calls("reserved")))
    @rule(data=st.data())
    def agent_declines(self, data: st.DataObject) -> None:
        self.step = "matching"
        call_id, agent = self.offered_or_any(data)
        self.release(call_id, agent, "decline")

    def release(self, call_id: str, agent: str, mode: str) -> None:
        releasing = self.engine.release(call_id, agent, mode)
        try:
            expected = self.model.release(call_id, agent, mode)
        except Refused as refused:
            self.refused(refused.code, releasing)
            return
        released = self.run(releasing)
        if expected is None:
            assert released is None, f"{mode} of {call_id} released it; the model says it must not"
            return
        assert released is not None, f"{mode} of {call_id} did nothing; the model expected a release"
        assert (released.agent, released.agent_state) == expected[:2]
        event(f"offer released: {mode}, agent now {released.agent_state}")
        self.absorb(released.outcome, expected[2])
        self.check_status(released.agent, released.status)

    # ------------------------------------------------------------------------------- call endings
    @precondition(lambda self: bool(self.calls(*LIVE)))
    @rule(
        data=st.data(),
        kind=st.sampled_from(("kiosk", "agent", "supervisor")),
        right_party=st.sampled_from((True, True, False)),
    )
    def party_hangs_up(
        self, data: st.DataObject, kind: Literal["kiosk", "agent", "supervisor"], right_party: bool
    ) -> None:
        """A kiosk hangs up or cancels, an agent hangs up, a supervisor removes a waiting call."""
        self.step = "matching"
        likely = self.calls("connecting") if kind == "agent" else self.calls(*LIVE)
        call = self.model.calls[_mostly(data, likely, self.calls())]
        party = {"kiosk": call.kiosk, "agent": call.agent, "supervisor": "sue"}[kind]
        if not right_party:
            party = data.draw(st.sampled_from(KIOSKS if kind == "kiosk" else AGENTS))
        reason = HANGUP_REASONS[kind]
        hanging_up = self.engine.hangup(call.id, kind, party, reason)
        try:
            prev, final, agent, kiosk, offers = self.model.hangup(call.id, kind, party, reason)
        except Refused as refused:
            self.refused(refused.code, hanging_up)
            return
        ended = self.run(hanging_up)
        got = (ended.previous_state, ended.final_state, ended.agent, ended.kiosk_id)
        assert got == (prev, final, agent, kiosk)
        self.absorb(ended.outcome, offers)
        if agent:
            assert ended.agent_status is not None, "a call with an agent ended without the agent's state"
            self.check_status(agent, ended.agent_status)

    # ------------------------------------------------------------------------------------ wrap-ups
    def in_wrap_up(self) -> list[str]:
        return [a.name for a in self.model.agents.values() if a.state == "wrap_up"]

    @precondition(lambda self: bool(self.in_wrap_up()))
    @rule(data=st.data(), own_call=st.sampled_from((True, True, False)))
    def agent_files_wrap_up(self, data: st.DataObject, own_call: bool) -> None:
        """Mostly the agent's own wrap-up; sometimes another agent's, or the wrong call."""
        self.step = "matching"
        name = _mostly(data, self.in_wrap_up(), AGENTS)
        call_id = self.model.agents[name].call
        if not own_call or not call_id:
            call_id = data.draw(st.sampled_from(self.calls()))
        self.wrap_up(name, call_id, "agent")

    def wrap_up(self, name: str, call_id: str, how: str) -> None:
        filing = self.engine.wrap_up(name, call_id, "resolved", "", how=how)
        try:
            expected = self.model.wrap_up(name, call_id, how)
        except Refused as refused:
            self.refused(refused.code, filing)
            return
        done = self.run(filing)
        if expected is None:
            assert done is None, f"{how} wrap-up of {name} went through before its deadline"
            return
        assert done is not None, f"{how} wrap-up of {name} was not done; the model expected it"
        assert done.call_id == expected[0]
        event(f"wrap-up ended by {how}")
        self.absorb(done.outcome, expected[1])
        self.check_status(name, done.status)

    @precondition(lambda self: bool(self.in_wrap_up()))
    @rule(data=st.data(), own_call=st.booleans())
    def agent_extends_wrap_up(self, data: st.DataObject, own_call: bool) -> None:
        self.step = "matching"
        name = data.draw(st.sampled_from(self.in_wrap_up()))
        call_id = self.model.agents[name].call if own_call else data.draw(st.sampled_from(self.calls()))
        extending = self.engine.extend_wrap_up(name, call_id)
        try:
            deadline = self.model.extend_wrap_up(name, call_id)
        except Refused as refused:
            self.refused(refused.code, extending)
            return
        status = self.run(extending)
        assert status.wrap_up_deadline_ms == deadline
        assert status.wrap_up_extended, "an extended wrap-up must say it cannot be extended again"
        self.check_status(name, status)

    # ------------------------------------------------------------------------------------ transfers
    @precondition(lambda self: bool(self.calls("connecting")))
    @rule(data=st.data(), to_topic=st.sampled_from(("", CONFIGURED_TOPIC, "cash")), named=st.booleans())
    def agent_transfers(self, data: st.DataObject, to_topic: str, named: bool) -> None:
        """Cold transfer to the same queue, to a configured one (or an unknown one), or to a named agent."""
        self.step = "matching"
        call = self.model.calls[data.draw(st.sampled_from(self.calls("connecting")))]
        to_agent = data.draw(st.sampled_from(AGENTS)) if named else ""
        from_agent = call.agent
        transferring = self.engine.transfer(call.id, from_agent, to_topic, to_agent, "see notes")
        try:
            kiosk, offers = self.model.transfer(call.id, call.agent, to_topic, to_agent)
        except Refused as refused:
            self.refused(refused.code, transferring)
            return
        done = self.run(transferring)
        assert done.kiosk_id == kiosk
        assert done.topic == self.model.calls[call.id].topic
        event(f"transferred to {'an agent' if to_agent else 'a queue'}")
        self.absorb(done.outcome, offers)
        self.check_status(from_agent, done.status)

    # --------------------------------------------------------------------------------- disconnects
    @rule(data=st.data(), kind=st.sampled_from(KINDS))
    def connection_closes(self, data: st.DataObject, kind: PartyKind) -> None:
        """The current connection, a stale one, or '' (the presence reaper's: any connection)."""
        self.step = "matching"
        if kind == "kiosk":
            party = _mostly(data, [k for k in KIOSKS if self.model.live_call(k)], KIOSKS)
        else:
            busy = [a.name for a in self.model.agents.values() if a.state in ("ringing", "in_call")]
            party = _mostly(data, busy, AGENTS)
        conns = self.conns.get(f"{kind}:{party}", [])
        conn = data.draw(st.sampled_from([*reversed(conns), ""]))
        self.gone(kind, party, conn)

    @rule(
        data=st.data(), kind=st.sampled_from(KINDS), grace=st.sampled_from((1_000, SHORT_PRESENCE_MS, 30_000))
    )
    def connection_drops(self, data: st.DataObject, kind: PartyKind, grace: int) -> None:
        """A connection (mostly the current one) drops without a goodbye: the party keeps everything for the
        grace period; an agent is not rung meanwhile; the reaper takes it out if it does not come back."""
        self.step = "neutral"
        party = data.draw(st.sampled_from(KIOSKS if kind == "kiosk" else AGENTS))
        conns = self.conns.get(f"{kind}:{party}", [])
        if not conns:
            return
        conn = data.draw(st.sampled_from([*reversed(conns)]))
        kept = self.run(self.engine.left(kind, party, conn, grace / 1000))
        assert kept == self.model.left(kind, party, conn, grace)
        if kept:
            event(f"{kind} dropped")

    def busy_agents(self) -> list[str]:
        return [a.name for a in self.model.agents.values() if a.state in ("ringing", "in_call") and a.conn]

    @precondition(lambda self: bool(self.busy_agents()))
    @rule(data=st.data())
    def busy_agent_disconnects(self, data: st.DataObject) -> None:
        """The console of an agent being rung or in a call closes (its current connection)."""
        self.step = "matching"
        agent = data.draw(st.sampled_from(self.busy_agents()))
        self.gone("agent", agent, self.conns[f"agent:{agent}"][-1])

    def gone(self, kind: PartyKind, party: str, conn: str) -> None:
        got = self.run(self.engine.gone(kind, party, conn))
        expected = self.model.gone(kind, party, conn)
        if expected is None:
            assert got is None, f"gone({kind} {party}, {conn!r}) acted; the model says it is superseded"
            return
        assert isinstance(got, Gone), f"gone({kind} {party}, {conn!r}) was superseded; the model says not"
        ended = got.ended and (got.ended.call_id, got.ended.final_state, got.ended.agent, got.ended.kiosk_id)
        assert (ended, got.released_call) == (expected.ended, expected.released)
        event(f"{kind} gone" + (" mid-call" if ended else " while rung" if got.released_call else ""))
        self.absorb(got.outcome, expected.offers)
        if kind == "kiosk" and got.ended and got.ended.agent:  # the agent left in the call is told its state
            assert got.ended.agent_status is not None
            self.check_status(got.ended.agent, got.ended.agent_status)

    # ------------------------------------------------------------------------------ timers and sweep
    @rule()
    def reaper_runs(self) -> None:
        """The server's reaper: due ring timeouts, lapsed presence, due wrap-ups, due maximum waits."""
        self.step = "matching"
        due = self.run(self.engine.due(self.keys.reservations))
        assert due == self.due("reservations")
        for call_id in due:
            self.release(call_id, "", "timeout")
        expired = self.run(self.engine.expired_presence())
        assert [f"{kind}:{party}" for kind, party in expired] == self.due("presence")
        for kind, party in expired:
            self.gone(kind, party, "")
        due = self.run(self.engine.due(self.keys.wrapups))
        assert due == self.due("wrapups")
        for name in due:
            self.wrap_up(name, "", "timer")
        due = self.run(self.engine.due(self.keys.waits))
        assert due == self.due("waits")
        for call_id in due:
            assert self.run(self.engine.expire_wait(call_id)) == self.model.expire_wait(call_id)

    @precondition(lambda self: bool(self.model.calls))
    @rule(data=st.data(), timer=st.sampled_from(("ring", "wrap_up", "wait")))
    def a_timer_fires_out_of_turn(self, data: st.DataObject, timer: str) -> None:
        """Another server's timer for one item, due or not, current or stale."""
        self.step = "matching"
        if timer == "ring":
            self.release(
                _mostly(data, self.calls("reserved"), self.calls()),
                "",
                "timeout",
            )
        elif timer == "wrap_up":
            self.wrap_up(_mostly(data, self.in_wrap_up(), AGENTS), "", "timer")
        else:
            call_id = data.draw(st.sampled_from(self.calls()))
            assert self.run(self.engine.expire_wait(call_id)) == self.model.expire_wait(call_id)

    @rule()
    def sweep_runs(self) -> None:
        self.step = "sweep"
        offers = self.model.sweep()
        if offers:
            event("the sweep made a match")
        self.absorb(self.run(self.engine.sweep(TOPICS)), offers)

    # ----------------------------------------------------------------------------------- invariants
    @invariant()
    def the_invariants_hold(self) -> None:
        """One read of Redis after every step; then every check, in this order."""
        snapshot = self.run(self.snapshot())
        self.redis_holds_what_the_model_says(snapshot)
        self.at_most_one_agent_per_call_and_capacity_kept()
        self.every_call_ends_exactly_once(_list(snapshot["events"]))
        self.no_match_is_left_pending()

    def redis_holds_what_the_model_says(self, snapshot: dict[str, Any]) -> None:
        expected, actual = self.model.view(), self.redis_view(snapshot)
        wrong = {k: {"model": expected[k], "redis": actual[k]} for k in expected if expected[k] != actual[k]}
        assert not wrong, f"Redis differs from the model: {wrong}"

    def at_most_one_agent_per_call_and_capacity_kept(self) -> None:
        holders: dict[str, str] = {}
        for agent in self.model.agents.values():
            held = [
                c.id
                for c in self.model.calls.values()
                if c.agent == agent.name and c.state in ("reserved", "connecting")
            ]
            assert len(held) == agent.load <= agent.profile.capacity, f"{agent.name} holds {held}"
            for call_id in held:
                assert holders.setdefault(call_id, agent.name) == agent.name, f"{call_id} has two agents"

    def every_call_ends_exactly_once(self, events: list[Any]) -> None:
        for event_id, flat in events:
            self.last_event = f"({event_id}"
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            call_id, kind = fields["call_id"], fields["kind"]
            if kind == "created":
                assert call_id not in self.tracks, f"{call_id} created twice"
                self.tracks[call_id] = EventTrack()
                continue
            assert call_id in self.tracks, f"{kind} event of a call never created: {call_id}"
            _follow(self.tracks[call_id], kind, fields)
            if kind == "ended":
                event(f"call ended: {fields['state']} ({fields['reason']})")
        assert set(self.tracks) == set(self.model.calls)
        for call in self.model.calls.values():
            track = self.tracks[call.id]
            assert track.ended == (0 if call.live else 1), f"{call.id} is {call.state}; {track.ended} ends"
            assert (track.state, track.reason) == (call.state, call.reason), f"{call.id}: {track}"
            assert track.agent == (call.agent if call.state in ("reserved", "connecting") else "")

    def no_match_is_left_pending(self) -> None:
        pending = self.model.pending()
        if self.step == "sweep":
            assert not pending, f"after a sweep, calls wait for free agents who may take them: {pending}"
        elif self.step == "matching":
            left = pending - self.pending
            assert not left, f"a transition left matches undone: {left}"
        if pending:
            event("a match left for the sweep")
        self.pending = pending

    async def snapshot(self) -> dict[str, Any]:
        k = self.keys
        reads: list[list[Any]] = []
        for t in TOPICS:
            reads += [[f"queue:{t}", "zset", k.queue(t)], [f"avail:{t}", "zset", k.available(t)]]
            reads += [[f"answered:{t}", "zset", k.answered(t)], [f"staffed:{t}", "set", k.staffed(t)]]
        reads += [
            [name, "zset", getattr(k, name)] for name in ("reservations", "wrapups", "waits", "presence")
        ]
        reads += [["agents", "set", k.agents], ["events", "events", k.events, self.last_event]]
        reads += [[f"agent:{a}", "fields", k.agent(a), AGENT_FIELDS] for a in AGENTS]
        reads += [[f"kiosk:{i}", "fields", k.kiosk(i), ["call", "conn"]] for i in KIOSKS]
        for call_id in self.model.calls:
            reads += [[f"call:{call_id}", "fields", k.call(call_id), CALL_FIELDS]]
            reads += [[f"declined:{call_id}", "hash", f"{k.call(call_id)}:declined"]]
        raw = await self.snapshot_script(args=[json.dumps(reads)])
        snapshot: dict[str, Any] = json.loads(raw)
        return snapshot

    def redis_view(self, snap: dict[str, Any]) -> dict[str, Any]:
        """The snapshot in the shape of ``Model.view``."""
        declined = {c: _pairs(snap[f"declined:{c}"]) for c in self.model.calls}
        return {
            "queue": {t: _pairs(snap[f"queue:{t}"]) for t in TOPICS},
            "avail": {t: _pairs(snap[f"avail:{t}"]) for t in TOPICS},
            "answered": {t: _pairs(snap[f"answered:{t}"]) for t in TOPICS},
            "staffed": {t: sorted(_list(snap[f"staffed:{t}"])) for t in TOPICS},
            **{name: _pairs(snap[name]) for name in ("reservations", "wrapups", "waits", "presence")},
            "agents": sorted(_list(snap["agents"])),
            "agent": {a: _agent_row(snap[f"agent:{a}"]) for a in AGENTS},
            "kiosk": {i: tuple(snap[f"kiosk:{i}"]) for i in KIOSKS},
            "call": {c: _call_row(snap[f"call:{c}"]) for c in self.model.calls},
            "declined": {c: dict(pairs) for c, pairs in declined.items()},
        }


@pytest.mark.timeout(600)  # a pass takes seconds; a failure is shrunk for up to Hypothesis's five minutes
def test_routing_keeps_its_invariants_through_random_interleavings(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, call_ids = FakeClock(), CallIds()
    monkeypatch.setattr(routing_engine, "now_ms", clock)
    monkeypatch.setattr(routing_engine, "uuid", call_ids)

    class Machine(RoutingMachine):
        setup = Setup(redis_url, redis_prefix, clock, call_ids)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
