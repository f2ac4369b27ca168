"""Stress: 200 kiosks and 20 agents on three ``serve`` processes (one Redis, one PostgreSQL) behave at random
for a minute; then the durable call history must show that the invariants of the design held throughout.

The checks replay every routing event in the order Redis ran the transitions (the event's stream id). The
``at`` timestamp is the calling server's clock, read before its script ran, so two processes' events can be
out of order by ``at``; it is used only where the Lua itself compares times (the decline cooldown).

Knobs (environment): ``KA_STRESS_SEED`` replays a run's random choices, ``KA_STRESS_SECONDS`` sets the length
of the random behaviour (default 30).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from signaling.protocol import TERMINAL_CALL_STATES, EndReason
from signaling.routing.keys import Keys
from signaling.settings import Settings
from signaling.store import (
    Call,
    CallEvent,
    CallRecord,
    Database,
    add_user,
    enroll_kiosk,
    get_call,
    list_calls,
)
from tests.signaling.stress_clients import AgentBehaviour, AgentBot, KioskBehaviour, KioskBot, Record
from tests.support import (
    RunningServer,
    ServerProcess,
    cli_env,
    free_port,
    scratch_postgres_database,
    wait_until,
)

SERVERS = 3
KIOSKS = 200
AGENTS = 20
RUN_S = float(os.environ.get("KA_STRESS_SECONDS", "30"))
RESERVATION_TIMEOUT_S = 2
CAPACITY = 1
DEPOSITS_AGENTS = 7
"""The first agents also take "deposits": a third queue with fewer agents (longer waits, more giving up)."""
DECLINE_COOLDOWN_MS = int(Settings().decline_cooldown_s * 1000)
COOLDOWN_REASONS = frozenset({"decline", "timeout"})
"""Releases after which the call is not offered to that agent again for the cooldown (lib.lua)."""
TERMINAL = frozenset(state.value for state in TERMINAL_CALL_STATES)
LIVE = frozenset({"queued", "reserved", "connecting"})
SETTLE_TIMEOUT_S = 60.0


# ------------------------------------------------------------------------------------------ the history
@dataclass(frozen=True)
class Event:
    order: tuple[int, int]
    """The Redis stream id: the order in which Redis ran the transitions."""
    call_id: str
    kind: str
    at_ms: int
    """The transition's NOW: the calling server's clock, read before the script ran."""
    agent: str
    detail: dict[str, Any]

    def show(self) -> str:
        extra = {k: v for k, v in self.detail.items() if k in ("state", "reason", "topic", "priority")}
        stream_id = f"{self.order[0]}-{self.order[1]}"
        return f"    {stream_id} at={self.at_ms} {self.kind:<11} {self.agent or '-':<9} {extra}"


@dataclass
class History:
    events: list[Event]
    by_call: dict[str, list[Event]]
    records: dict[str, CallRecord]
    live: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Each call's final (state, reason) in Redis, the routing engine's own view."""

    def story(self, *call_ids: str) -> str:
        return "\n".join(
            f"  call {c}:\n" + "\n".join(e.show() for e in self.by_call.get(c, [])) for c in call_ids
        )


def stream_order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def to_ms(at: datetime) -> int:
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


async def load_history(db: Database, redis: Redis, keys: Keys) -> History:
    async with db.session(readonly=True) as session:
        rows = (await session.scalars(select(CallEvent))).all()
        events = sorted(
            (
                Event(stream_order(r.event_id), r.call_id, r.kind, to_ms(r.at), r.agent or "", dict(r.detail))
                for r in rows
            ),
            key=lambda e: e.order,
        )
        # list_calls stops at 1000 calls; a run has more, so enumerate the ids and read each with get_call
        call_ids = list(await session.scalars(select(Call.id)))
    limit = asyncio.Semaphore(8)

    async def read(call_id: str) -> CallRecord:
        async with limit:
            record = await get_call(db, call_id)
        assert record is not None, call_id
        return record

    records = await asyncio.gather(*(read(c) for c in call_ids))
    by_call: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_call[event.call_id].append(event)
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in call_ids:
            pipe.hmget(keys.call(call_id), ["state", "reason"])
        live = [tuple(v.decode() if v else "" for v in pair) for pair in await pipe.execute()]
    return History(
        events,
        dict(by_call),
        {r.id: r for r in records},
        {c: (state, reason) for c, (state, reason) in zip(call_ids, live, strict=True)},
    )


# --------------------------------------------------------------------------------------------- checks
@dataclass
class Findings:
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, invariant: str, problems: Iterable[str]) -> None:
        self.violations[invariant].extend(problems)


class CallWalk:
    """One call's events replayed in Redis order against the call's life cycle:
    created → (reserved → released)* → reserved → accepted → [transferred → queued …] → ended → wrapped_up."""

    def __init__(self) -> None:
        self.state = "new"
        self.holder = ""
        self.owes_wrap_up: set[str] = set()

    def step(self, e: Event) -> str | None:
        """Apply ``e``; a description of the problem if it could not happen in this state."""
        before, holder, ok = self.state, self.holder, True
        if e.kind == "created":
            ok, self.state = before == "new", "queued"
        elif e.kind == "reserved":
            ok, self.state, self.holder = before == "queued", "reserved", e.agent
        elif e.kind in ("released", "accepted"):
            ok = before == "reserved" and e.agent == self.holder
            self.state = "queued" if e.kind == "released" else "connecting"
            self.holder = "" if e.kind == "released" else self.holder
        elif e.kind == "transferred":
            ok, self.state = before == "connecting" and e.agent == self.holder, "queued"
            self.owes_wrap_up.add(self.holder)
            self.holder = ""
        elif e.kind == "ended":
            ok = self._end_ok(e)
            if before == "connecting" and e.detail.get("reason") != EndReason.AGENT_DISCONNECTED:
                self.owes_wrap_up.add(self.holder)
            self.state = "ended"
        elif e.kind == "wrapped_up":
            ok = e.agent in self.owes_wrap_up
            self.owes_wrap_up.discard(e.agent)
        if ok:
            return None
        return f"{e.kind} (agent {e.agent or '-'}) while the call was {before} (holder {holder or '-'})"

    def _end_ok(self, e: Event) -> bool:
        completed = e.detail.get("state") == "completed"
        return (
            self.state in LIVE
            and completed == (self.state == "connecting")
            and e.detail.get("state") in TERMINAL
            and bool(e.detail.get("reason"))
            and (e.detail.get("agent") or "") == self.holder
        )


def check_lifecycles(h: History, seen: dict[str, str], unconfirmed: set[str], findings: Findings) -> None:
    """Invariant 2 (one terminal state with a reason; none lost) and invariant 1 per call (one agent)."""
    problems: list[str] = []
    for call_id in sorted(set(seen) | set(h.records)):
        record = h.records.get(call_id)
        if record is None:
            problems.append(f"call {call_id} of kiosk {seen[call_id]} is missing from the history")
            continue
        if call_id not in seen and record.kiosk_id in unconfirmed:
            findings.counts["calls_of_unanswered_help_requests"] += 1
        elif call_id not in seen:
            problems.append(f"call {call_id} of kiosk {record.kiosk_id} was never reported to its kiosk")
        found = _record_problems(record) + _walk_problems(h.by_call.get(call_id, []))
        if (record.state.value, record.end_reason or "") != h.live.get(call_id):
            found.append(
                f"history says {record.state.value}/{record.end_reason}, Redis says {h.live.get(call_id)}"
            )
        problems.extend(f"call {call_id}: {p}\n{h.story(call_id)}" for p in found)
        findings.counts["calls_checked"] += 1
    findings.add("every call ends once, with a reason; none lost", problems)


def _record_problems(record: CallRecord) -> list[str]:
    out = []
    if record.state.value not in TERMINAL:
        out.append(f"state {record.state.value} is not terminal")
    if not record.end_reason:
        out.append("no end reason")
    for kind in ("created", "ended"):
        n = sum(1 for e in record.events if e.kind == kind)
        if n != 1:
            out.append(f"{n} {kind} events")
    ended = [e for e in record.events if e.kind == "ended"]
    if ended and (ended[0].detail.get("state"), ended[0].detail.get("reason")) != (
        record.state.value,
        record.end_reason,
    ):
        out.append(f"summary {record.state.value}/{record.end_reason} differs from its ended event")
    return out


def _walk_problems(events: list[Event]) -> list[str]:
    walk = CallWalk()
    out = [p for e in events if (p := walk.step(e))]
    if walk.state != "ended":
        out.append(f"never ended (last state {walk.state})")
    return out


def check_capacity(h: History, findings: Findings) -> None:
    """Invariant 1 across calls: an agent is never reserved a call while it holds its capacity, or while it
    wraps up (an agent in wrap_up is not offerable in lib.lua). Holding: reserved → released; reserved →
    accepted → ended → wrapped_up (no wrap-up when the agent's own disconnect ended the call)."""
    holding: dict[str, dict[str, str]] = defaultdict(dict)  # agent -> call -> ringing | talking | wrap_up
    problems = []
    for e in h.events:
        held = holding[e.agent] if e.agent else {}
        if e.kind == "reserved":
            findings.counts["capacity_reservations_checked"] += 1
            busy = any(p == "wrap_up" for p in held.values()) or len(held) >= CAPACITY
            if busy:
                problems.append(
                    f"{e.agent} reserved {e.call_id} at {e.order} while holding {held}\n"
                    + h.story(e.call_id, *held)
                )
            held[e.call_id] = "ringing"
        elif e.kind in ("released", "wrapped_up"):
            held.pop(e.call_id, None)
        elif e.kind == "accepted":
            held[e.call_id] = "talking"
        elif e.kind == "transferred":
            held[e.call_id] = "wrap_up"
        elif e.kind == "ended" and e.call_id in held:
            phase = held[e.call_id]
            if phase == "ringing" or e.detail.get("reason") == EndReason.AGENT_DISCONNECTED:
                held.pop(e.call_id)
            elif phase == "talking":
                held[e.call_id] = "wrap_up"
    findings.add("an agent holds at most its capacity (wrap-up included)", problems)


@dataclass
class FifoState:
    created: dict[str, Event] = field(default_factory=dict)
    queue: dict[str, tuple[str, int]] = field(default_factory=dict)
    waiting: dict[tuple[str, int], set[str]] = field(default_factory=lambda: defaultdict(set))
    cooldown: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))


def check_fifo(h: History, findings: Findings) -> None:
    """Invariant 3: within one queue (topic) and priority, calls are offered oldest first. When call B is
    reserved to agent X at t, no older call A of that queue may be waiting (created, not ended, not
    reserved) unless X declined or missed A within the decline cooldown before t."""
    s = FifoState()
    problems = []
    for e in h.events:
        key = s.queue.get(e.call_id)
        if e.kind == "created":
            s.created[e.call_id] = e
            key = s.queue[e.call_id] = (e.detail.get("topic", ""), int(e.detail.get("priority") or 0))
            s.waiting[key].add(e.call_id)
        elif key is None:
            continue
        elif e.kind == "reserved":
            s.waiting[key].discard(e.call_id)
            problems.extend(_older_waiting(h, s, e, key, findings))
        elif e.kind == "released":
            s.waiting[key].add(e.call_id)
            if e.detail.get("reason") in COOLDOWN_REASONS:
                s.cooldown[e.call_id][e.agent] = e.at_ms + DECLINE_COOLDOWN_MS
        elif e.kind == "transferred":
            key = s.queue[e.call_id] = (e.detail.get("to_topic") or key[0], key[1])
            s.waiting[key].add(e.call_id)
        elif e.kind == "ended":
            s.waiting[key].discard(e.call_id)
    findings.add("calls are offered oldest first within a queue and priority", problems)


def _older_waiting(h: History, s: FifoState, e: Event, key: tuple[str, int], findings: Findings) -> list[str]:
    findings.counts["fifo_offers_checked"] += 1
    b = s.created[e.call_id]
    out = []
    for a_id in s.waiting[key]:
        a = s.created[a_id]
        older_by_clock, older_in_redis = a.at_ms <= b.at_ms, a.order < b.order
        if not (older_by_clock or older_in_redis):
            continue
        if older_by_clock != older_in_redis:
            findings.counts["fifo_pairs_ambiguous"] += 1  # created within ms of each other by two processes
            continue
        findings.counts["fifo_older_waiting_compared"] += 1
        if s.cooldown[a_id].get(e.agent, -1) > e.at_ms:
            findings.counts["fifo_exempt_by_cooldown"] += 1
            continue
        out.append(
            f"{e.agent} was offered {e.call_id} (created {b.at_ms}) at {e.at_ms} while older {a_id} "
            f"(created {a.at_ms}) of queue {key} waited and was not declined by {e.agent}\n"
            + h.story(a_id, e.call_id)
        )
    return out


def check_client_views(h: History, rec: Record, findings: Findings) -> None:
    """The clients' own view: each call_ended a kiosk or agent got matches the history, arrived once, and
    every call id a client heard of is one of its own calls (invariant 4)."""
    problems = []
    for who, ended in (("kiosk", rec.kiosk_ended), ("agent", rec.agent_ended)):
        for (party, call_id), n in Counter((p, c) for p, c, _, _ in ended).items():
            if n > 1:
                problems.append(f"{who} {party} got call_ended for {call_id} {n} times")
        for party, call_id, state, reason in ended:
            findings.counts[f"{who}_endings_compared"] += 1
            record = h.records.get(call_id)
            stored = (record.state.value, record.end_reason) if record else None
            if stored != (state, reason):
                problems.append(f"{who} {party} saw {call_id} end {state}/{reason}; history: {stored}")
    for kiosk, call_id in rec.kiosk_heard:
        record = h.records.get(call_id)
        if record is None or record.kiosk_id != kiosk:
            problems.append(f"kiosk {kiosk} heard of call {call_id} of {record.kiosk_id if record else '?'}")
    reserved_to = {(e.agent, e.call_id) for e in h.events if e.kind == "reserved"}
    for agent, call_id in rec.agent_heard:
        if (agent, call_id) not in reserved_to:
            problems.append(
                f"agent {agent} heard of call {call_id}, never reserved to it\n{h.story(call_id)}"
            )
    findings.add("clients see only their own calls, and what the history says", problems)


def clock_skew(h: History, findings: Findings) -> None:
    """Informational: how often ``at`` disagrees with the order Redis ran the transitions in, and how often
    get_call's event order (``at``, then row id) differs from it."""
    worst, latest = 0, 0
    for e in h.events:
        if e.at_ms < latest:
            findings.counts["events_earlier_than_their_predecessor"] += 1
            worst = max(worst, latest - e.at_ms)
        latest = max(latest, e.at_ms)
    findings.counts["max_clock_skew_ms"] = worst
    by_clock = sorted(h.events, key=lambda e: (e.at_ms, e.order))
    replay = Findings()
    check_capacity(History(by_clock, {}, {}), replay)
    per_call: dict[str, list[Event]] = defaultdict(list)
    for e in by_clock:
        per_call[e.call_id].append(e)
    false_alarms = sum(len(p) for p in replay.violations.values())
    false_alarms += sum(1 for events in per_call.values() if _walk_problems(events))
    findings.counts["violations_if_ordered_by_at_instead"] = false_alarms
    for call_id, record in sorted(h.records.items()):
        if [e.kind for e in record.events] != [e.kind for e in h.by_call.get(call_id, [])]:
            findings.counts["calls_whose_get_call_order_differs_from_redis"] += 1
            if not findings.examples:
                got = ", ".join(f"{e.kind}@{to_ms(e.at)}" for e in record.events)
                findings.examples.append(
                    f"get_call({call_id}) gives [{got}]; in Redis order:\n{h.story(call_id)}"
                )


# ------------------------------------------------------------------------------------------ the run
@dataclass
class Cast:
    kiosks: list[KioskBot]
    agents: list[AgentBot]
    kiosk_tasks: list[asyncio.Task[None]]
    agent_tasks: list[asyncio.Task[None]]


async def populate(db: Database) -> tuple[dict[str, str], dict[str, str]]:
    await db.migrate()
    kiosk_ids = [f"k-{n:03d}" for n in range(KIOSKS)]
    secrets = await asyncio.gather(
        *(enroll_kiosk(db, k, f"Branch {n % 40}") for n, k in enumerate(kiosk_ids))
    )
    agents = {f"agent-{n:02d}": f"pw-{n:02d}" for n in range(AGENTS)}
    await asyncio.gather(
        *(
            add_user(
                db, name, pw, "agent", skills=("cash", "cards", "deposits")[: 3 if n < DEPOSITS_AGENTS else 2]
            )
            for n, (name, pw) in enumerate(agents.items())
        )
    )
    return dict(zip(kiosk_ids, secrets, strict=True)), agents


async def event_progress(db: Database, redis: Redis, keys: Keys) -> tuple[bool, set[str], set[str], set[str]]:
    """Whether every event Redis wrote is stored; the calls created, ended, and owing a wrap-up.

    Judged from the stored events, not the calls' summary rows: a summary that is wrong must show up as a
    violation in the checks, not as a wait that never ends."""
    kinds = ("created", "ended", "wrapped_up")
    async with db.session(readonly=True) as session:
        stored = await session.scalar(select(func.count()).select_from(CallEvent))
        rows = (
            await session.execute(
                select(CallEvent.call_id, CallEvent.kind, CallEvent.detail).where(CallEvent.kind.in_(kinds))
            )
        ).all()
    created = {c for c, kind, _ in rows if kind == "created"}
    ended = {c for c, kind, _ in rows if kind == "ended"}
    answered = {
        c
        for c, kind, d in rows
        if kind == "ended"
        and d.get("state") == "completed"
        and d.get("reason") != EndReason.AGENT_DISCONNECTED
    }
    owed = answered - {c for c, kind, _ in rows if kind == "wrapped_up"}
    return stored == await redis.xlen(keys.events), created, ended, owed


async def history_settled(db: Database, redis: Redis, keys: Keys, seen: dict[str, str]) -> bool:
    """Every event Redis wrote is stored, and every call created in the run has ended."""
    all_stored, created, ended, _ = await event_progress(db, redis, keys)
    return all_stored and (set(seen) | created) <= ended


async def wrap_ups_settled(db: Database, redis: Redis, keys: Keys, seen: dict[str, str]) -> bool:
    """As ``history_settled``, and every answered call is wrapped up (unless the agent's own disconnect
    ended it: then there is no wrap-up)."""
    all_stored, created, ended, owed = await event_progress(db, redis, keys)
    return all_stored and (set(seen) | created) <= ended and not owed


async def unsettled(db: Database, redis: Redis, keys: Keys, seen: dict[str, str]) -> str:
    """What keeps the history from being complete (for the failure message)."""
    all_stored, created, ended, owed = await event_progress(db, redis, keys)
    lines = [f"every event stored: {all_stored}"]
    lines += [f"no call in the history: {c} of kiosk {seen[c]}" for c in sorted(set(seen) - created)[:10]]
    for call_id in sorted(((set(seen) | created) - ended) | owed)[:10]:
        record = await get_call(db, call_id)
        events = (
            [(e.kind, to_ms(e.at), e.agent, e.detail.get("reason")) for e in record.events] if record else []
        )
        live = await redis.hgetall(keys.call(call_id))
        lines.append(f"call {call_id} (not ended, or owes a wrap-up): {events}; in Redis: {live}")
    return "\n".join(lines)


async def start_cast(
    servers: list[RunningServer],
    http: aiohttp.ClientSession,
    kiosks: dict[str, str],
    agents: dict[str, str],
    rng: random.Random,
    rec: Record,
) -> Cast:
    kiosk_bots = [
        KioskBot(k, secret, servers, http, random.Random(rng.random()), rec, KioskBehaviour())
        for k, secret in kiosks.items()
    ]
    agent_bots = [
        AgentBot(name, pw, servers, random.Random(rng.random()), rec, AgentBehaviour())
        for name, pw in agents.items()
    ]
    return Cast(
        kiosk_bots,
        agent_bots,
        [asyncio.create_task(b.run(), name=b.label) for b in kiosk_bots],
        [asyncio.create_task(b.run(), name=b.label) for b in agent_bots],
    )


Check = Callable[[], Awaitable[bool]]


async def wind_down(
    cast: Cast, settled: Check, wrapped: Check, explain: Callable[[], Awaitable[str]]
) -> None:
    """Stop the behaviour: every kiosk ends its call and leaves; agents finish, wrap up, then leave."""
    for agent in cast.agents:
        agent.drain()
    for kiosk in cast.kiosks:
        kiosk.stop()
    await asyncio.wait_for(asyncio.gather(*cast.kiosk_tasks), SETTLE_TIMEOUT_S)
    await _settle(settled, "every call over in the history", explain)
    for agent in cast.agents:
        agent.resync()  # the welcome names any wrap-up still owed
    await _settle(wrapped, "every answered call wrapped up", explain)
    for agent in cast.agents:
        agent.close()
    await asyncio.wait_for(asyncio.gather(*cast.agent_tasks), SETTLE_TIMEOUT_S)
    await _settle(settled, "the last events stored", explain)


async def _settle(check: Check, what: str, explain: Callable[[], Awaitable[str]]) -> None:
    try:
        await wait_until(check, SETTLE_TIMEOUT_S, what)
    except TimeoutError:
        raise AssertionError(f"not settled after {SETTLE_TIMEOUT_S}s: {what}\n{await explain()}") from None


async def cancel_all(cast: Cast | None) -> None:
    if cast is None:
        return
    tasks = [t for t in cast.kiosk_tasks + cast.agent_tasks if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=30)


def server_errors(servers: list[ServerProcess]) -> list[str]:
    lines = []
    for server in servers:
        for line in server.logs().splitlines():
            if "Traceback" in line or "level=ERROR" in line or "level=CRITICAL" in line:
                lines.append(f"{server.url}: {line}")
    return lines


def kinds_of(problems: list[str]) -> dict[str, int]:
    """How many problems of each kind (the first line with ids and times taken out)."""
    pattern = r"\b[0-9a-f]{32}\b|agent-\d+|k-\d+|\d{6,}(-\d+)?"
    return dict(Counter(re.sub(pattern, "*", problem.splitlines()[0]) for problem in problems))


def calls_named(problems: list[str]) -> str:
    """The call ids the problems are about (each problem's first), in order, once each."""
    found = (re.search(r"\b[0-9a-f]{32}\b", problem) for problem in problems)
    return " ".join(dict.fromkeys(m.group() for m in found if m))


def summary(h: History, rec: Record, findings: Findings, timings: dict[str, float], errors: list[str]) -> str:
    kinds = Counter(e.kind for e in h.events)
    releases = Counter(e.detail.get("reason", "?") for e in h.events if e.kind == "released")
    states = Counter(r.state.value for r in h.records.values())
    reasons = Counter(r.end_reason for r in h.records.values())
    wrapped_by = Counter(e.detail.get("by", "agent") for e in h.events if e.kind == "wrapped_up")
    lines = [
        f"calls: {len(h.records)} {dict(states)}; end reasons {dict(reasons)}",
        f"events: {len(h.events)}; offers (reserved) {kinds['reserved']}, accepted {kinds['accepted']}, "
        f"released {dict(releases)}, wrapped up {kinds['wrapped_up']} {dict(wrapped_by)}",
        f"clients: {dict(sorted(rec.stats.items()))}",
        f"checks: {dict(sorted(findings.counts.items()))}",
        f"client notes (informational): {len(rec.notes)}; unconfirmed help requests: {len(rec.unconfirmed)}",
        "timings: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items())
        + f"; total {sum(timings.values()):.1f}s",
        f"server log errors: {len(errors)}",
    ]
    return "\n".join("stress: " + line for line in lines)


@pytest.mark.postgres
@pytest.mark.xdist_group("multi_process_load")  # not beside the chaos test: each runs its own servers
@pytest.mark.timeout(300)
async def test_three_processes_under_random_load_keep_every_routing_invariant(
    redis_url: str, redis_prefix: str, redis_env: dict[str, str], tmp_path: Path
) -> None:
    seed = int(os.environ.get("KA_STRESS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nstress: seed {seed} (replay the choices with KA_STRESS_SEED={seed}); {RUN_S:.0f}s of behaviour")
    rng = random.Random(seed)
    rec = Record()
    timings: dict[str, float] = {}
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        timings[name] = time.monotonic() - mark
        mark = time.monotonic()

    async with scratch_postgres_database() as db_url:
        db = await Database.connect(db_url)
        redis = Redis.from_url(redis_url)
        keys = Keys(redis_prefix)
        env = cli_env(KIOSK_ASSIST_DATABASE_URL=db_url, **redis_env)
        args = ("--reservation-timeout", str(RESERVATION_TIMEOUT_S))
        servers = [
            ServerProcess(free_port(), "--data-dir", str(tmp_path / f"s{n}"), *args, env=env)
            for n in range(SERVERS)
        ]
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        cast: Cast | None = None
        try:
            kiosks, agents = await populate(db)
            lap("populate")
            await asyncio.gather(*(s.start() for s in servers))
            lap("servers start")
            cast = await start_cast([s.as_running() for s in servers], http, kiosks, agents, rng, rec)
            await asyncio.sleep(RUN_S)  # the length of the run: behaviour, not synchronisation
            lap("behaviour")

            async def settled() -> bool:
                return await history_settled(db, redis, keys, rec.calls)

            async def wrapped() -> bool:
                return await wrap_ups_settled(db, redis, keys, rec.calls)

            async def explain() -> str:
                return await unsettled(db, redis, keys, rec.calls)

            await wind_down(cast, settled, wrapped, explain)
            lap("wind down")
            history = await load_history(db, redis, keys)
            assert len(await list_calls(db, limit=1000)) == min(1000, len(history.records))
            lap("read history")
        finally:
            await cancel_all(cast)
            await http.close()
            await asyncio.gather(*(server.stop() for server in servers))
            await redis.aclose()
            await db.close()

    lap("stop")
    judge(history, rec, servers, seed, timings)
    for server in servers:
        server.log_path.unlink(missing_ok=True)


def judge(
    history: History, rec: Record, servers: list[ServerProcess], seed: int, timings: dict[str, float]
) -> None:
    """Run every check on the history, print the summary, and fail with the violations found."""
    started = time.monotonic()
    findings = Findings()
    check_lifecycles(history, rec.calls, set(rec.unconfirmed), findings)
    check_capacity(history, findings)
    check_fifo(history, findings)
    check_client_views(history, rec, findings)
    clock_skew(history, findings)
    timings["checks"] = time.monotonic() - started
    errors = server_errors(servers)
    print(summary(history, rec, findings, timings, errors))
    for text in findings.examples + rec.notes[:20] + errors[:10]:
        print(f"stress: note: {text}")
    print("stress: server logs (removed if the test passes): " + " ".join(str(x.log_path) for x in servers))
    assert not rec.failures, "\n".join(rec.failures[:5])
    violated = {name: problems for name, problems in findings.violations.items() if problems}
    report = "\n".join(
        f"{name}: {len(problems)} violation(s), calls {calls_named(problems)}"
        f"\n  by kind: {kinds_of(problems)}\n  first:\n" + "\n".join(problems[:3])
        for name, problems in violated.items()
    )
    assert not violated, f"seed {seed}:\n{report}"
