"""Chaos: three ``serve`` processes on one Redis and one PostgreSQL, kiosks and agents behaving at random
while servers are SIGKILLed (and started again on the same port), Redis is restarted once, and clients lose
their connections without a close frame and resume on a random live server. Afterwards the durable call
history and what every client saw must show that the design's invariants held:

1. every call created reached exactly one terminal state, with a reason; none lost, none duplicated;
2. no call was ever reserved or assigned to two agents at once, nor an agent given more than its capacity
   (the routing events replayed in the order Redis ran them, as in ``test_stress.py``);
3. each client's numbered messages, session by session, came once, in order, without a gap, across every
   resume; every call end a client saw is the one in the history, and no client saw a call end twice or
   two ways;
4. no server logged a traceback.

History is stored by one ``kiosk-assist history`` process beside servers run with ``--history external``
(``KA_CHAOS_HISTORY=child`` runs ``serve``'s default instead: a writer child per server). Why: with
``child``, a SIGKILLed server's writer goes with it, and the batch it had read but not stored stays pending
in the consumer group until another writer claims it, which it does only after the events have been idle
for 30 s (``CLAIM_IDLE_MS``) and on its periodic reclaim: a kill late in the run would hold the check for
history up to a minute, past this test's time budget. That path (a writer dying mid-batch loses nothing) is
``test_history_worker.py``'s; here the question is whether the servers' kills, Redis's restart and the
clients' reconnects lose or duplicate anything, and a writer that is not killed answers it in bounded time.

It found two server bugs, both fixed: messages published while a server was subscribing again after a
Redis restart never reached its open connections (now they catch up from their outboxes), and Redis errors
during the outage were logged as tracebacks and answered with 500 on ``/ws/agent`` (now warnings and 503).

Knobs (environment): ``KA_CHAOS_SEED`` replays a run's random choices (the interleaving of processes still
varies), ``KA_CHAOS_SECONDS`` sets the length of the random behaviour (default 25), ``KA_CHAOS_HISTORY``
(``external`` or ``child``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis

from signaling.protocol import split_seq
from signaling.routing.keys import Keys
from signaling.store import Database, add_user, enroll_kiosk
from tests.signaling.chaos_clients import (
    AgentBehaviour,
    AgentBot,
    Bot,
    Gap,
    KioskBehaviour,
    KioskBot,
    Record,
    now,
)
from tests.signaling.chaos_cluster import (
    Fault,
    Fleet,
    HistoryProcess,
    Injected,
    RestartableRedis,
    plan_faults,
    run_faults,
)
from tests.signaling.test_stress import (
    Findings,
    History,
    calls_named,
    check_capacity,
    check_fifo,
    check_lifecycles,
    history_settled,
    kinds_of,
    load_history,
    unsettled,
    wrap_ups_settled,
)
from tests.support import ServerProcess, cli_env, free_port, wait_until

SERVERS = 3
KIOSKS = 36
AGENTS = 8
DEPOSITS_AGENTS = 3
"""The first agents also take "deposits": a queue with fewer agents (longer waits, more giving up)."""
RUN_S = float(os.environ.get("KA_CHAOS_SECONDS", "25"))
KILLS = max(1, round(RUN_S / 15))
HISTORY_MODE = os.environ.get("KA_CHAOS_HISTORY", "external")
PREFIX = "chaos"
RESERVATION_TIMEOUT_S = 2
WRAP_UP_S = 10
"""An agent's wrap-up ends on its own after this long (bounds the wind-down if an agent lost track)."""
SETTLE_TIMEOUT_S = 30.0 if HISTORY_MODE == "external" else 90.0
"""With writer children, the events a killed server's child had read wait 30 s idle (and a reclaim)."""

CALLS_END_ONCE = "(1) every call ends once, with a reason, none lost; (2) each step of it by its one holder"
ONE_AGENT = "(2) a call is held by one agent at a time; an agent holds at most its capacity"
OLDEST_FIRST = "invariant 3: oldest call first within a queue and priority"
STREAMS = "(3) numbered messages: each once, in order, no gap, per session across resumes"
RESUMES = "(3) a reconnect within the grace period resumes its session"
ENDINGS = "(3) the call ends clients saw agree with the history, once each"
ENDS_HEARD = "(3) every call's end reaches its kiosk (across its resumes)"
OWN_CALLS = "(3) clients hear only of their own calls"
TRACEBACKS = "(4) no server logged a traceback"
Log = tuple[str, str, list[str]]
"""(who: a server's URL or "history writer", the log file, its lines)."""
STRESS_CHECK_NAMES = {
    "every call ends once, with a reason; none lost": CALLS_END_ONCE,
    "an agent holds at most its capacity (wrap-up included)": ONE_AGENT,
    "calls are offered oldest first within a queue and priority": OLDEST_FIRST,
}


# ------------------------------------------------------------------------------------------- the run
@dataclass
class Cast:
    kiosks: list[KioskBot]
    agents: list[AgentBot]
    kiosk_tasks: list[asyncio.Task[None]]
    agent_tasks: list[asyncio.Task[None]]


async def populate(db: Database) -> tuple[dict[str, str], dict[str, str]]:
    await db.migrate()
    kiosk_ids = [f"k-{n:03d}" for n in range(KIOSKS)]
    secrets = await asyncio.gather(*(enroll_kiosk(db, k, f"Branch {n % 9}") for n, k in enumerate(kiosk_ids)))
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


def start_cast(
    fleet: Fleet,
    http: aiohttp.ClientSession,
    kiosks: dict[str, str],
    agents: dict[str, str],
    rng: random.Random,
    rec: Record,
) -> Cast:
    servers = fleet.servers
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


async def _settle(check: Check, what: str, explain: Callable[[], Awaitable[str]]) -> None:
    try:
        await wait_until(check, SETTLE_TIMEOUT_S, what)
    except TimeoutError:
        raise AssertionError(f"not settled after {SETTLE_TIMEOUT_S}s: {what}\n{await explain()}") from None


async def wind_down(
    cast: Cast, settled: Check, wrapped: Check, explain: Callable[[], Awaitable[str]]
) -> None:
    """Stop the behaviour: every kiosk ends its call and leaves; agents finish, wrap up, then leave."""
    for agent in cast.agents:
        agent.drain()
    for kiosk in cast.kiosks:
        kiosk.stop()
    await _finish(cast.kiosks, cast.kiosk_tasks, "every kiosk ends its call and leaves")
    await _settle(settled, "every call over in the history", explain)
    await _settle(wrapped, "every answered call wrapped up", explain)
    for agent in cast.agents:
        agent.close()
    await _finish(cast.agents, cast.agent_tasks, "every agent leaves")
    await _settle(settled, "the last events stored", explain)


async def _finish(bots: Sequence[Bot], tasks: list[asyncio.Task[None]], what: str) -> None:
    """Wait (bounded) for the bots to finish; name the ones that did not, and what they were doing."""
    await asyncio.wait(tasks, timeout=SETTLE_TIMEOUT_S)
    stuck = [
        f"{bot.label} (next: {bot.action or '-'})"
        for bot, task in zip(bots, tasks, strict=True)
        if not task.done()
    ]
    if stuck:
        raise AssertionError(f"not done after {SETTLE_TIMEOUT_S}s: {what}: {', '.join(stuck)}")


async def cancel_all(cast: Cast | None) -> None:
    if cast is None:
        return
    tasks = [t for t in cast.kiosk_tasks + cast.agent_tasks if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=30)


@dataclass
class Run:
    seed: int
    rec: Record
    fleet: Fleet
    writer: HistoryProcess | None
    faults: list[Fault]
    timings: dict[str, float]
    injected: list[Injected] = field(default_factory=list)
    missed: dict[Gap, list[str]] = field(default_factory=dict)
    """For each gap a client saw: the messages it missed, as the party's outbox in Redis keeps them."""


@dataclass
class Stage:
    """The test's own services: Redis, the ``serve`` processes, the history writer, the database."""

    redis: RestartableRedis
    fleet: Fleet
    writer: HistoryProcess | None
    db: Database
    http: aiohttp.ClientSession


@contextlib.asynccontextmanager
async def chaos_stage(postgres_url: str, tmp_path: Path) -> AsyncIterator[Stage]:
    """Redis started (the servers and the writer are started by the run); everything stopped afterwards."""
    async with contextlib.AsyncExitStack() as stack:
        redis = RestartableRedis(tmp_path / "redis")
        stack.push_async_callback(redis.stop)
        await redis.start()
        env = cli_env(
            KIOSK_ASSIST_DATABASE_URL=postgres_url,
            KIOSK_ASSIST_REDIS_URL=redis.url,
            KIOSK_ASSIST_REDIS_PREFIX=PREFIX,
        )
        args = (
            "--history", HISTORY_MODE, "--reservation-timeout", str(RESERVATION_TIMEOUT_S),
            "--wrap-up-time", str(WRAP_UP_S),
        )  # fmt: skip
        fleet = Fleet(
            [
                ServerProcess(free_port(), "--data-dir", str(tmp_path / f"s{n}"), *args, env=env)
                for n in range(SERVERS)
            ]
        )
        stack.push_async_callback(fleet.stop_all)
        writer = HistoryProcess(tmp_path / "history", env) if HISTORY_MODE == "external" else None
        if writer is not None:
            stack.push_async_callback(writer.stop)
        db = await Database.connect(postgres_url)
        stack.push_async_callback(db.close)
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        stack.push_async_callback(http.close)
        yield Stage(redis, fleet, writer, db, http)


async def play(stage: Stage, run: Run, rng: random.Random, lap: Callable[[str], None]) -> History:
    """Start the servers and the clients, inject the faults, wind down, and read the durable history."""
    db, fleet, writer = stage.db, stage.fleet, stage.writer
    kiosks, agents = await populate(db)
    lap("populate")
    await asyncio.gather(fleet.start_all(), *([writer.start()] if writer else []))
    lap("servers start")
    run.rec.t0 = now()  # the clients' clock (in the evidence) counts from here, as the faults' does
    run.rec.t0_wall = time.time()
    cast = start_cast(fleet, stage.http, kiosks, agents, rng, run.rec)
    redis = Redis.from_url(stage.redis.url)
    try:
        await run_faults(run.faults, fleet, stage.redis, RUN_S, run.injected)
        lap("behaviour and faults")
        await fleet.all_ready(30)
        keys, seen = Keys(PREFIX), run.rec.calls

        async def settled() -> bool:
            return await history_settled(db, redis, keys, seen)

        async def wrapped() -> bool:
            return await wrap_ups_settled(db, redis, keys, seen)

        async def explain() -> str:
            log = writer.logs() if writer else ""
            trouble = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
            return await unsettled(db, redis, keys, seen) + "\nhistory writer: " + "\n".join(trouble[-20:])

        await wind_down(cast, settled, wrapped, explain)
        lap("wind down")
        history = await load_history(db, redis, keys)
        run.missed = await missed_messages(redis, run.rec)
        lap("read history")
        return history
    finally:
        await cancel_all(cast)
        await redis.aclose()


@pytest.mark.postgres
@pytest.mark.xdist_group("multi_process_load")  # not beside the stress test: each runs its own servers
@pytest.mark.timeout(300)
async def test_killed_servers_a_restarted_redis_and_cut_connections_lose_no_call_and_no_message(
    postgres_url: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("KA_CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(
        f"\nchaos: seed {seed} (replay the choices with KA_CHAOS_SEED={seed}); {RUN_S:.0f}s of behaviour, "
        f"history: {HISTORY_MODE}"
    )
    rng = random.Random(seed)
    timings: dict[str, float] = {}
    mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        timings[name] = time.monotonic() - mark
        mark = time.monotonic()

    async with chaos_stage(postgres_url, tmp_path) as stage:
        run = Run(seed, Record(), stage.fleet, stage.writer, plan_faults(rng, RUN_S, SERVERS, KILLS), timings)
        history = await play(stage, run, rng, lap)
    lap("stop")
    judge(history, run)  # fails the test on any violation, keeping the logs
    run.fleet.remove_logs()
    if run.writer is not None and run.writer.log_path is not None:
        run.writer.log_path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------- evidence
async def missed_messages(redis: Redis, rec: Record) -> dict[Gap, list[str]]:
    """The messages each gap left out, looked up in the party's outbox (kept for the grace period and a
    margin): numbered and stored there, so published by the server side, yet never handed to the client."""
    out = {}
    for gap in rec.gaps:
        raw = await redis.lrange(f"{PREFIX}:outbox:{gap.party}", 0, -1)
        kept = [m.decode() if isinstance(m, bytes) else str(m) for m in raw]
        out[gap] = [m for m in kept if gap.first <= (split_seq(m)[0] or 0) <= gap.last]
    return out


def show_missed(gap: Gap, messages: list[str]) -> str:
    shown = "\n".join(f"      {m[:150]}" for m in messages) or "      (no longer there)"
    return f"{gap.party} never got seq {gap.first}..{gap.last}; its outbox in Redis holds:\n{shown}"


def subscription_lines(logs: list[Log]) -> list[str]:
    """When each server lost its subscription to Redis and subscribed again."""
    return [f"{who}: {line}" for who, _, lines in logs for line in lines if "delivery: subscri" in line]


# --------------------------------------------------------------------------------------------- checks
def check_endings(h: History, rec: Record, findings: Findings) -> None:
    """Every ``call_ended`` a client handled is the history's end of that call; none came twice, none two
    different ways."""
    problems = []
    for who, ended in (("kiosk", rec.kiosk_ended), ("agent", rec.agent_ended)):
        seen: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for party, call_id, state, reason in ended:
            seen[(party, call_id)].append((state, reason))
        for (party, call_id), ends in sorted(seen.items()):
            findings.counts[f"{who}_endings_compared"] += 1
            record = h.records.get(call_id)
            stored = (record.state.value, record.end_reason or "") if record else None
            if len(set(ends)) > 1:
                problems.append(f"{who} {party} saw call {call_id} end two ways: {ends}; history: {stored}")
            elif len(ends) > 1:
                problems.append(f"{who} {party} got call_ended for {call_id} {len(ends)} times: {ends}")
            if any(end != stored for end in ends):
                problems.append(
                    f"{who} {party} saw call {call_id} end {ends}; history: {stored}\n{h.story(call_id)}"
                )
    findings.add(ENDINGS, problems)


def check_ends_heard(h: History, rec: Record, findings: Findings) -> None:
    """Invariant 4 (delivered once, including across a reconnect within the grace period): every call's
    end reaches its kiosk, whose reconnects all resumed (every kiosk comes back and leaves only once its
    call is over). A lost ``call_ended`` that is not numbered (never written to the outbox) leaves no gap
    in the stream; this catches it."""
    heard = {(kiosk, call_id) for kiosk, call_id, _, _ in rec.kiosk_ended}
    refused = {p.split(" ", 1)[0].removeprefix("kiosk:") for p in rec.refused_resumes}
    problems = []
    for call_id, record in sorted(h.records.items()):
        if (record.kiosk_id, call_id) in heard:
            findings.counts["call_ends_heard_by_their_kiosk"] += 1
        elif record.kiosk_id in refused:
            findings.counts["call_ends_unheard_after_a_refused_resume"] += 1
        else:
            ended = next((e for e in h.by_call.get(call_id, []) if e.kind == "ended"), None)
            at = f"{ended.at_ms / 1000 - rec.t0_wall:.2f}s" if ended else "?"
            problems.append(
                f"kiosk {record.kiosk_id} never heard call {call_id} end ({record.state.value}/"
                f"{record.end_reason}, at {at})\n{h.story(call_id)}"
            )
    findings.add(ENDS_HEARD, problems)


def check_own_calls(h: History, rec: Record, findings: Findings) -> None:
    """Invariant 4's first half: a kiosk hears only of its calls; an agent only of calls offered to it."""
    problems = []
    for kiosk, call_id in sorted(rec.kiosk_heard):
        record = h.records.get(call_id)
        if record is None or record.kiosk_id != kiosk:
            problems.append(f"kiosk {kiosk} heard of call {call_id} of {record.kiosk_id if record else '?'}")
    reserved_to = {(e.agent, e.call_id) for e in h.events if e.kind == "reserved"}
    for agent, call_id in sorted(rec.agent_heard):
        if (agent, call_id) not in reserved_to:
            problems.append(
                f"agent {agent} heard of call {call_id}, never reserved to it\n{h.story(call_id)}"
            )
    findings.add(OWN_CALLS, problems)


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ level=(\w+) logger=(\S+) (.*)$")


def tracebacks(logs: list[Log]) -> list[str]:
    """The tracebacks in the logs: one problem per process, logged message and exception (the last one
    raised), with a count and the first place it was logged."""
    seen: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for who, path, lines in logs:
        for where, record, rest in _records(path, lines):
            if any(x.startswith("Traceback (most recent call last)") for x in rest):
                raised = [x for x in rest if x and not x.startswith((" ", "\t"))][-1]
                seen[(who, record, raised.strip()[:160])].append(where)
    return [
        f"{who}: {record} -> {raised} (x{len(places)}, first at {places[0]})"
        for (who, record, raised), places in seen.items()
    ]


def _records(path: str, lines: list[str]) -> list[tuple[str, str, list[str]]]:
    """(file:line, logger level 'message', the lines that follow it) of each log record."""
    out: list[tuple[str, str, list[str]]] = [(f"{path}:1", "(before the first record)", [])]
    for n, line in enumerate(lines, 1):
        if (m := LOG_RECORD.match(line)) is not None:
            out.append((f"{path}:{n}", f"{m.group(2)} {m.group(1)} {m.group(3)[:120]!r}", []))
        else:
            out[-1][2].append(line)
    return out


def error_lines(logs: list[Log]) -> list[str]:
    return [
        f"{who}: {line}"
        for who, _, lines in logs
        for line in lines
        if "level=ERROR" in line or "level=CRITICAL" in line
    ]


def all_logs(run: Run) -> list[Log]:
    logs = run.fleet.log_lines()
    if run.writer is not None and run.writer.log_path is not None:
        logs.append(("history writer", str(run.writer.log_path), run.writer.logs().splitlines()))
    return logs


# ------------------------------------------------------------------------------------------- verdict
def summary(h: History, run: Run, findings: Findings, errors: list[str]) -> str:
    rec = run.rec
    kinds = Counter(e.kind for e in h.events)
    states = Counter(r.state.value for r in h.records.values())
    reasons = Counter(r.end_reason for r in h.records.values())
    lines = [
        f"faults: {len(run.faults)} planned, {len(run.injected)} injected:",
        *(f"  {i.describe(run.fleet)}" for i in run.injected),
        f"calls: {len(h.records)} {dict(states)}; end reasons {dict(reasons)}",
        f"events: {len(h.events)}; offers (reserved) {kinds['reserved']}, accepted {kinds['accepted']}, "
        f"released {kinds['released']}, wrapped up {kinds['wrapped_up']}",
        f"clients: {dict(sorted(rec.stats.items()))}",
        f"checks: {dict(sorted(findings.counts.items()))}",
        f"client notes (informational): {len(rec.notes)}; unconfirmed help requests: {len(rec.unconfirmed)}",
        "timings: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in run.timings.items())
        + f"; total {sum(run.timings.values()):.1f}s",
        f"log lines at level ERROR (informational): {len(errors)}",
    ]
    return "\n".join("chaos: " + line for line in lines)


def run_checks(h: History, run: Run, logs: list[Log]) -> Findings:
    rec, findings = run.rec, Findings()
    check_lifecycles(h, rec.calls, set(rec.unconfirmed), findings)
    check_capacity(h, findings)
    check_fifo(h, findings)
    for old, new in STRESS_CHECK_NAMES.items():  # (a name the stress test changes stays reported as is)
        findings.violations[new] = findings.violations.pop(old, [])
    findings.add(STREAMS, rec.stream_problems)
    findings.add(RESUMES, rec.refused_resumes)
    check_endings(h, rec, findings)
    check_ends_heard(h, rec, findings)
    check_own_calls(h, rec, findings)
    findings.add(TRACEBACKS, tracebacks(logs))
    return findings


def report(violated: dict[str, list[str]]) -> str:
    return "\n".join(
        f"VIOLATED {name}: {len(problems)} violation(s), calls {calls_named(problems)}"
        f"\n  by kind: {kinds_of([_first_line(p) for p in problems])}\n  first:\n" + "\n".join(problems[:3])
        for name, problems in violated.items()
    )


def judge(h: History, run: Run) -> None:
    """Run every check, print the summary and the evidence, and fail naming each check that found
    violations."""
    started = time.monotonic()
    logs = all_logs(run)
    findings = run_checks(h, run, logs)
    run.timings["checks"] = time.monotonic() - started
    errors = error_lines(logs)
    print(summary(h, run, findings, errors))
    for text in run.rec.notes[:20] + errors[:10]:
        print(f"chaos: note: {text}")
    for gap, messages in list(run.missed.items())[:10]:
        print(f"chaos: evidence: {show_missed(gap, messages)}")
    for text in subscription_lines(logs):
        print(f"chaos: evidence: {text}")
    print("chaos: logs (removed if the test passes): " + " ".join(path for _, path, _ in logs))
    assert not run.rec.failures, "\n".join(run.rec.failures[:5])
    violated = {name: problems for name, problems in findings.violations.items() if problems}
    assert not violated, f"seed {run.seed} (KA_CHAOS_SEED={run.seed}):\n{report(violated)}"


def _first_line(problem: str) -> str:
    """A problem's first line, without the times and sequence numbers that make each one different."""
    return re.sub(r"\d+(\.\d+)?s\b|seq \d+|after \d+|\b\d+ missing", "#", problem.splitlines()[0])
