"""The routing engine: queues, agents, reservations and call state, all in Redis.

Every transition is one Lua script (see ``lua/``), so a match costs one EVALSHA, and any number of server
processes can share one Redis. The engine knows no transport: handlers call it and act on what it returns.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from redis.asyncio import Redis

from signaling.errors import RoutingError
from signaling.protocol import ErrorCode
from signaling.routing.keys import Keys
from signaling.routing.pipelining import ScriptRunner
from signaling.routing.scripts import register_scripts

PartyKind = Literal["kiosk", "agent"]

ANSWER_WINDOW_MS = 15 * 60 * 1000
"""Wait estimates come from the calls answered in this window (and the agents staffed)."""


def now_ms() -> int:
    return int(time.time() * 1000)


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _strs(values: Sequence[Any]) -> list[str]:
    return [_s(v) for v in values]


@dataclass(frozen=True)
class Reservation:
    call_id: str
    agent: str
    call: CallView | None = field(default=None, compare=False)
    """The call as it was offered (the script that made the reservation returns it)."""

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> Reservation:
        cid, agent, kiosk, location, topic, language, created, context, priority, notes = _strs(raw)
        call = CallView(
            call_id=cid,
            kiosk_id=kiosk,
            topic=topic,
            language=language,
            state="reserved",
            agent=agent,
            location=location,
            created_ms=int(created),
            context=json.loads(context or "{}"),
            priority=int(priority or 0),
            notes=notes,
        )
        return cls(cid, agent, call)


@dataclass(frozen=True)
class Outcome:
    """Side effects of a transition that someone must be told about."""

    offers: list[Reservation] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    abandoned_kiosks: dict[str, str] = field(default_factory=dict, compare=False)
    """The kiosk of each abandoned call."""

    @classmethod
    def parse(cls, offers: Sequence[Any], abandoned: Sequence[Any]) -> Outcome:
        pairs = [(_s(call_id), _s(kiosk)) for call_id, kiosk in abandoned]
        return cls(
            offers=[Reservation.parse(raw) for raw in offers],
            abandoned=[call_id for call_id, _ in pairs],
            abandoned_kiosks=dict(pairs),
        )

    def merge(self, other: Outcome) -> Outcome:
        return Outcome(
            self.offers + other.offers,
            self.abandoned + other.abandoned,
            self.abandoned_kiosks | other.abandoned_kiosks,
        )


@dataclass(frozen=True)
class AgentProfile:
    username: str
    skills: tuple[str, ...]
    languages: tuple[str, ...] = ("en",)
    capacity: int = 1
    proficiency: Mapping[str, int] = field(default_factory=dict)
    """Per skill, 1 (learning) to 5 (expert); a skill without a level counts as 3."""

    def proficiency_csv(self) -> str:
        return ",".join(f"{topic}:{self.proficiency.get(topic, 3)}" for topic in self.skills)


@dataclass(frozen=True)
class AgentStatus:
    state: str
    reason: str
    call_id: str
    next_state: str
    wrap_up_deadline_ms: int | None
    wrap_up_extended: bool = False

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> AgentStatus:
        state, reason, call_id, next_state, deadline, extended = _strs(raw)
        return cls(
            state, reason, call_id, next_state, int(float(deadline)) if deadline else None, extended == "1"
        )


@dataclass(frozen=True)
class StateChange:
    state: str
    next_state: str
    """What the agent asked to become once the current work ends ('' = available)."""
    outcome: Outcome
    status: AgentStatus


@dataclass(frozen=True)
class Enqueued:
    call_id: str
    outcome: Outcome
    position: int
    """1-based place in the queue; 0 when the call is already ringing an agent."""
    answered: int
    """Calls of this topic answered in the engine's answer window (for the wait estimate)."""
    staffed: int
    """Agents online with this topic's skill."""


@dataclass(frozen=True)
class Accepted:
    kiosk_id: str
    created_ms: int
    status: AgentStatus


@dataclass(frozen=True)
class WrappedUp:
    call_id: str
    outcome: Outcome
    status: AgentStatus


@dataclass(frozen=True)
class Transferred:
    kiosk_id: str
    topic: str
    """The queue the call waits in now."""
    outcome: Outcome
    status: AgentStatus
    """The transferring agent's (in wrap-up)."""


@dataclass(frozen=True)
class QueueBoard:
    topic: str
    waiting: int
    oldest_created_ms: int | None
    agents: dict[str, str]
    """Agents staffed on this topic (online with the skill) and their states."""


@dataclass(frozen=True)
class Released:
    call_id: str
    agent: str
    agent_state: str
    outcome: Outcome
    status: AgentStatus


@dataclass(frozen=True)
class Ended:
    call_id: str
    previous_state: str
    final_state: str
    agent: str
    kiosk_id: str
    outcome: Outcome
    agent_status: AgentStatus | None = field(default=None, compare=False)
    """The agent's state after the call ended (None without an agent, or when it is not known)."""


@dataclass(frozen=True)
class Gone:
    ended: Ended | None
    released_call: str | None
    outcome: Outcome


@dataclass(frozen=True)
class CallView:
    call_id: str
    kiosk_id: str
    topic: str
    language: str
    state: str
    agent: str
    location: str
    created_ms: int
    context: dict[str, str]
    priority: int = 0
    notes: str = ""

    @classmethod
    def from_hash(cls, raw: Mapping[Any, Any]) -> CallView:
        h = {_s(k): _s(v) for k, v in raw.items()}
        return cls(
            call_id=h["id"],
            kiosk_id=h["kiosk_id"],
            topic=h["topic"],
            language=h["language"],
            state=h["state"],
            agent=h.get("agent", ""),
            location=h.get("location", ""),
            created_ms=int(h["created_ms"]),
            context=json.loads(h.get("context") or "{}"),
            priority=int(h.get("priority") or 0),
            notes=h.get("notes", ""),
        )


class RoutingEngine:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        reservation_timeout_s: float = 20.0,
        max_missed_offers: int = 3,
        decline_cooldown_s: float = 30.0,
        wrap_up_s: float = 120.0,
        wrap_up_extension_s: float = 60.0,
        queues: Mapping[str, Mapping[str, str]] | None = None,
        clock: Callable[[], int] | None = None,
        media_report_fresh_s: float = 15.0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.timeout_ms = int(reservation_timeout_s * 1000)
        self.max_missed_offers = max_missed_offers
        self.decline_cooldown_ms = int(decline_cooldown_s * 1000)
        self.wrap_up_ms = int(wrap_up_s * 1000)
        self.wrap_up_extension_ms = int(wrap_up_extension_s * 1000)
        self.queues = dict(queues or {})
        self.media_fresh_ms = int(media_report_fresh_s * 1000)
        self.clock = clock
        """Milliseconds for the scripts' NOW; None (the product): Redis's own clock, shared by every server
        and read when the script runs, not when the request was made."""
        self._scripts = register_scripts(redis)
        self.scripts = ScriptRunner(redis, self._scripts)

    async def publish_config(self) -> None:
        """Routing rules the Lua scripts read (every server writes the same values at startup)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.keys.config,
                mapping={
                    "decline_cooldown_ms": self.decline_cooldown_ms,
                    "wrap_up_ms": self.wrap_up_ms,
                    "wrap_up_extension_ms": self.wrap_up_extension_ms,
                },
            )
            for topic, fields in self.queues.items():
                pipe.hset(self.keys.queue_config(topic), mapping=cast("Mapping[Any, Any]", fields))
            await pipe.execute()

    async def _run(self, name: str, *args: Any) -> list[Any]:
        now = self.clock() if self.clock is not None else ""
        result: list[Any] = await self.scripts.run(name, [self.keys.prefix, now, *args])
        return result

    async def aclose(self) -> None:
        """Wait for the scripts already sent to Redis."""
        await self.scripts.aclose()

    # ------------------------------------------------------------------------------------ kiosks
    async def kiosk_online(self, kiosk_id: str, location: str, conn_id: str, expiry_ms: int) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.keys.kiosk(kiosk_id), mapping={"conn": conn_id, "location": location})
            pipe.zadd(self.keys.presence, {f"kiosk:{kiosk_id}": expiry_ms})
            await pipe.execute()

    async def enqueue(
        self,
        kiosk_id: str,
        location: str,
        topic: str,
        language: str,
        context: Mapping[str, str],
        priority: int = 0,
        max_wait_s: float = 0.0,
    ) -> Enqueued:
        call_id = uuid.uuid4().hex
        res = await self._run(
            "enqueue",
            call_id,
            kiosk_id,
            topic,
            language,
            priority,
            json.dumps(dict(context), separators=(",", ":")),
            location,
            self.timeout_ms,
            int(max_wait_s * 1000),
            ANSWER_WINDOW_MS,
        )
        status = _s(res[0])
        if status == "active_call":
            raise RoutingError(ErrorCode.WRONG_STATE, f"this kiosk already has a live call {_s(res[1])}")
        if status == "full":
            raise RoutingError(
                ErrorCode.QUEUE_FULL, "All our staff are busy and the queue is full. Please try again later."
            )
        if status == "degraded":  # the message is the kiosk's own account of what is broken
            raise RoutingError(ErrorCode.KIOSK_DEGRADED, _s(res[1]))
        return Enqueued(call_id, Outcome.parse(res[2], res[3]), int(res[4]), int(res[5]), int(res[6]))

    async def kiosk_call(self, kiosk_id: str) -> str | None:
        value = await self.redis.hget(self.keys.kiosk(kiosk_id), "call")
        return _s(value) if value else None

    # ------------------------------------------------------------------------------------ agents
    async def agent_online(self, profile: AgentProfile, conn_id: str, expiry_ms: int) -> tuple[str, str]:
        res = await self._run(
            "agent_online",
            profile.username,
            ",".join(profile.skills),
            profile.proficiency_csv(),
            ",".join(profile.languages),
            profile.capacity,
            expiry_ms,
            conn_id,
        )
        return _s(res[0]), _s(res[1])

    async def set_agent_state(self, username: str, state: str, reason: str = "") -> StateChange:
        """Available, away (with a reason) or offline now; while busy, kept as the next state."""
        res = await self._run("agent_state", username, state, reason, self.timeout_ms)
        return StateChange(_s(res[1]), _s(res[2]), Outcome.parse(res[3], res[4]), AgentStatus.parse(res[5]))

    async def agent_status(self, username: str) -> AgentStatus:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.agent(username), ["state", "reason", "call", "next", "extended"])
            pipe.zscore(self.keys.wrapups, username)
            (state, reason, call, next_state, extended), deadline = await pipe.execute()
        return AgentStatus(
            _s(state) if state else "offline",
            _s(reason) if reason else "",
            _s(call) if call else "",
            _s(next_state) if next_state else "",
            int(deadline) if deadline is not None and state == b"wrap_up" else None,
            extended == b"1",
        )

    # ------------------------------------------------------------------------------------- calls
    async def accept(self, call_id: str, username: str, source: str = "") -> Accepted:
        """``source``: the agent's address, kept in the event for the audit log."""
        res = await self._run("accept", call_id, username, source)
        status = _s(res[0])
        if status == "unknown_call":
            raise RoutingError(ErrorCode.UNKNOWN_CALL, "no such call is offered to you")
        if status == "wrong_state":
            raise RoutingError(ErrorCode.WRONG_STATE, f"the call is {_s(res[1])}, not ringing")
        return Accepted(_s(res[1]), int(_s(res[2])), AgentStatus.parse(res[3]))

    async def release(self, call_id: str, username: str, mode: str) -> Released | None:
        res = await self._run("release", call_id, username, mode, self.max_missed_offers, self.timeout_ms)
        status = _s(res[0])
        if status == "unknown_call" and mode == "decline":
            raise RoutingError(ErrorCode.UNKNOWN_CALL, "no such call is offered to you")
        if status != "ok":
            return None
        return Released(
            call_id, _s(res[1]), _s(res[2]), Outcome.parse(res[3], res[4]), AgentStatus.parse(res[5])
        )

    async def hangup(
        self, call_id: str, kind: PartyKind | Literal["supervisor"], party: str, reason: str
    ) -> Ended:
        res = await self._run("hangup", call_id, kind, party, reason, self.timeout_ms)
        status = _s(res[0])
        if status == "unknown_call":
            raise RoutingError(ErrorCode.UNKNOWN_CALL, "no such call of yours")
        if status == "wrong_state":
            raise RoutingError(ErrorCode.WRONG_STATE, f"the call is {_s(res[1])}")
        agent_status = AgentStatus.parse(res[7]) if res[7] else None
        return Ended(
            call_id,
            _s(res[1]),
            _s(res[2]),
            _s(res[3]),
            _s(res[4]),
            Outcome.parse(res[5], res[6]),
            agent_status,
        )

    async def wrap_up(
        self, username: str, call_id: str, disposition: str, notes: str, how: str = "agent"
    ) -> WrappedUp | None:
        """End the agent's wrap-up (``how``: agent, timer or supervisor); None when the timer is not due."""
        res = await self._run("wrap_up", username, call_id, disposition, notes, how, self.timeout_ms)
        status = _s(res[0])
        if status == "not_due":
            return None
        if status == "wrong_state":
            raise RoutingError(ErrorCode.WRONG_STATE, f"{username} has no call to wrap up")
        return WrappedUp(_s(res[1]), Outcome.parse(res[2], res[3]), AgentStatus.parse(res[4]))

    async def extend_wrap_up(self, username: str, call_id: str) -> AgentStatus:
        """Push the wrap-up deadline back once; returns the agent's status with the new deadline."""
        res = await self._run("extend_wrap_up", username, call_id)
        status = _s(res[0])
        if status == "already_extended":
            raise RoutingError(ErrorCode.WRONG_STATE, "the wrap-up time can be extended only once")
        if status == "wrong_state":
            raise RoutingError(ErrorCode.WRONG_STATE, "there is no call of yours to wrap up")
        return AgentStatus.parse(res[2])

    async def transfer(
        self, call_id: str, from_agent: str, to_topic: str, to_agent: str, notes: str, source: str = ""
    ) -> Transferred:
        """Cold transfer to a queue or a named free agent (``source``: the agent's address, for the audit)."""
        res = await self._run(
            "transfer", call_id, from_agent, to_topic, to_agent, notes, self.timeout_ms, source
        )
        status = _s(res[0])
        errors = {
            "unknown_call": (ErrorCode.UNKNOWN_CALL, "no such call of yours"),
            "wrong_state": (ErrorCode.WRONG_STATE, "only a call in progress can be transferred"),
            "agent_unavailable": (ErrorCode.AGENT_UNAVAILABLE, f"{to_agent} cannot take a call now"),
            "unknown_topic": (ErrorCode.UNKNOWN_TOPIC, f"unknown queue {to_topic!r}"),
        }
        if status in errors:
            code, text = errors[status]
            raise RoutingError(code, text)
        return Transferred(_s(res[1]), _s(res[5]), Outcome.parse(res[2], res[3]), AgentStatus.parse(res[4]))

    async def expire_wait(self, call_id: str) -> str | None:
        """End a call that waited past its queue's maximum; returns its kiosk, or None if not due."""
        res = await self._run("expire_wait", call_id)
        return _s(res[1]) if _s(res[0]) == "ok" else None

    async def due(self, key: str, limit: int = 100) -> list[str]:
        return _strs(await self.redis.zrangebyscore(key, "-inf", now_ms(), 0, limit))

    async def boards(self, topics: Sequence[str]) -> list[QueueBoard]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zcard(self.keys.queue(topic))
                pipe.smembers(self.keys.staffed(topic))
            raw = await pipe.execute()
        staffed = sorted({_s(a) for i in range(1, len(raw), 2) for a in raw[i]})
        states = await self._states(staffed)
        oldest = _strs(await self._run("oldest", *topics)) if topics else []
        return [
            QueueBoard(
                topic,
                int(raw[2 * i]),
                int(oldest[i]) if oldest[i] else None,
                {_s(a): states[_s(a)] for a in sorted(raw[2 * i + 1], key=_s)},
            )
            for i, topic in enumerate(topics)
        ]

    async def agents_by_state(self) -> dict[str, int]:
        """How many signed-in agents (on any server) are in each state."""
        states = await self._states(sorted(_s(a) for a in await self.redis.smembers(self.keys.agents)))
        counts: dict[str, int] = {}
        for state in states.values():
            counts[state] = counts.get(state, 0) + 1
        return counts

    async def _states(self, agents: Sequence[str]) -> dict[str, str]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent in agents:
                pipe.hget(self.keys.agent(agent), "state")
            states = await pipe.execute()
        return {a: _s(s) if s else "offline" for a, s in zip(agents, states, strict=True)}

    async def answer_stats(self, topics: Sequence[str], window_ms: int) -> dict[str, tuple[int, int]]:
        """Per topic: calls answered in the window, agents staffed now (for wait estimates)."""
        since = now_ms() - window_ms
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zcount(self.keys.answered(topic), since, "+inf")
                pipe.scard(self.keys.staffed(topic))
            raw = await pipe.execute()
        return {t: (int(raw[2 * i]), int(raw[2 * i + 1])) for i, t in enumerate(topics)}

    async def call_states(self, call_ids: Sequence[str]) -> list[str | None]:
        """The state of each call (None for a call Redis no longer holds), in one round trip."""
        if not call_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id in call_ids:
                pipe.hget(self.keys.call(call_id), "state")
            states = await pipe.execute()
        return [_s(state) if state else None for state in states]

    async def get_call(self, call_id: str) -> CallView | None:
        raw = await self.redis.hgetall(self.keys.call(call_id))
        return CallView.from_hash(raw) if raw else None

    async def queue_positions(self, calls: Sequence[tuple[str, str]]) -> list[int | None]:
        """1-based positions of (call_id, topic) pairs in their queues; None when no longer queued."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for call_id, topic in calls:
                pipe.zrank(self.keys.queue(topic), call_id)
            ranks = await pipe.execute()
        return [None if r is None else int(r) + 1 for r in ranks]

    async def queue_depths(self, topics: Sequence[str]) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in topics:
                pipe.zcard(self.keys.queue(topic))
            counts = await pipe.execute()
        return {t: int(c) for t, c in zip(topics, counts, strict=True)}

    async def available_agents(self, topic: str) -> int:
        return int(await self.redis.zcard(self.keys.available(topic)))

    # ------------------------------------------------------------------------- presence and time
    async def gone(self, kind: PartyKind, party: str, conn_id: str) -> Gone | None:
        res = await self._run("gone", kind, party, conn_id, self.max_missed_offers, self.timeout_ms)
        if _s(res[0]) != "ok":
            return None
        ended_raw, released_raw = _strs(res[1]), _strs(res[2])
        outcome = Outcome.parse(res[3], res[4])
        ended = None
        if ended_raw:
            call_id, final, other = ended_raw
            agent, kiosk = (other, party) if kind == "kiosk" else (party, other)
            status = AgentStatus.parse(res[5]) if res[5] else None
            ended = Ended(call_id, "", final, agent, kiosk, Outcome(), status)
        return Gone(ended, released_raw[0] if released_raw else None, outcome)

    async def left(self, kind: PartyKind, party: str, conn_id: str, grace_s: float) -> bool:
        """A connection dropped: keep the party's place, call or reservation for ``grace_s`` seconds;
        False when a newer connection of the party has taken over already."""
        res = await self._run("left", kind, party, conn_id, int(grace_s * 1000))
        return _s(res[0]) == "ok"

    async def media_status(self, call_id: str, kiosk_id: str, flowing: bool) -> float | None:
        """The kiosk says whether its call's media flows; a report holds for ``media_report_fresh_s``.
        Returns the call's setup time in seconds (accept to media flowing) on its first flowing report."""
        res = await self._run("media", call_id, kiosk_id, "1" if flowing else "0", self.media_fresh_ms)
        status = _s(res[0])
        if status == "unknown_call":
            raise RoutingError(ErrorCode.UNKNOWN_CALL, f"no such call of yours: {call_id}", "media_status")
        if status != "ok":
            raise RoutingError(
                ErrorCode.WRONG_STATE, f"call {call_id} is {_s(res[1])}; it has no media", "media_status"
            )
        setup_ms = _s(res[1]) if len(res) > 1 else ""
        return int(setup_ms) / 1000 if setup_ms else None

    async def survey(self, call_id: str, kiosk_id: str, rating: int, comment: str) -> None:
        """Record the customer's rating of an ended call of ``kiosk_id`` (once per call)."""
        res = await self._run("survey", call_id, kiosk_id, str(rating), comment)
        status = _s(res[0])
        if status == "unknown_call":
            raise RoutingError(ErrorCode.UNKNOWN_CALL, f"no such call of yours: {call_id}", "survey")
        if status == "wrong_state":
            raise RoutingError(
                ErrorCode.WRONG_STATE, f"call {call_id} is {_s(res[1])}; rate it after it ends", "survey"
            )
        if status != "ok":
            raise RoutingError(ErrorCode.WRONG_STATE, f"call {call_id} was rated already", "survey")

    async def sweep(self, topics: Sequence[str]) -> Outcome:
        """Match again wherever calls wait while agents are available (decline cooldowns, lost matches)."""
        res = await self._run("sweep", self.timeout_ms, *topics)
        return Outcome.parse(res[0], res[1])

    async def refresh_presence(self, members: Sequence[str], expiry_ms: int) -> None:
        if members:
            await self.redis.zadd(self.keys.presence, dict.fromkeys(members, expiry_ms), xx=True)

    async def expired_presence(self, limit: int = 100) -> list[tuple[PartyKind, str]]:
        members = _strs(await self.redis.zrangebyscore(self.keys.presence, "-inf", now_ms(), 0, limit))
        out: list[tuple[PartyKind, str]] = []
        for member in members:
            kind, _, party = member.partition(":")
            if kind in ("kiosk", "agent"):
                out.append(("kiosk" if kind == "kiosk" else "agent", party))
        return out
