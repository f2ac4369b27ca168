"""Routing: how fast a waiting call reaches an agent, how many matches a second, what a match costs in Redis.

One run measures, through the real server (``kiosk-assist serve`` in its own process, on the local Redis
under its own key prefix, SQLite under a scratch data directory) and against the routing engine alone:

(a) match latency: a kiosk's ``help_request`` sent → the agent's ``offer`` received, one call at a time,
    with protocol-level WebSocket clients on loopback. The clock is the benchmark's (both clients live in
    this process): the server's logs are not timestamped finely enough to time it inside the server.
(b) throughput: N kiosks ask for help while no agent is available, then M agents go available at once.
    Matching (the headline): each agent passes every offer on (``decline``), so each of its messages
    makes the router release one call back to its place and match the agent to the next one; offers per
    second while the backlog is worked through (``MATCH_OFFERS_PER_AGENT`` offers an agent, below the
    50 calls a decline cooldown can hide from one agent). Served calls (a second server run): each agent
    accepts, hangs up and wraps up in a loop, every wrap-up re-matching (``--wave`` staggers going
    available); offers per second over the busy period. The same workloads against ``RoutingEngine`` in
    this process give the engine's own rates without WebSockets or the server's other work.
(c) the floor: EVALSHA of ``return 1`` against the same Redis, one at a time.
(d) Redis round trips per match: what the server has Redis do between the message that makes a match
    (help_request, set_state, wrap_up) and the offer reaching the agent, recorded with MONITOR (never
    while timing) and kept to the server process's own connections; commands on one connection less than
    50 µs apart count as one round trip (a pipeline). Also per whole served call, the scripts' own
    commands included, and ``INFO commandstats`` over (b) (server-wide: other clients of Redis count too).

Run: ``python -m bench.routing [--calls N] [--agents M] [--samples S] [--wave W] [--json]`` (about a
minute); ``--json`` prints one object with ``p50_ms``, ``p99_ms``, ``matches_per_s``, ``evalsha_rtt_ms``
and ``redis_round_trips_per_match`` first. The exit status is 1 when a phase failed (reported, with the
figures of the others).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import os
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from redis.asyncio import Redis
from redis.asyncio.client import Monitor, MonitorCommandInfo, Pipeline

from bench.servers import ServedProcess, local_redis, serve_process
from signaling.auth import COOKIE_NAME, Sessions
from signaling.protocol import (
    Accept,
    AgentInbound,
    AgentState,
    AgentStateChanged,
    CallAccepted,
    CallEnded,
    Cancel,
    Decline,
    Error,
    Hangup,
    HelpRequest,
    KioskHello,
    KioskInbound,
    Offer,
    ProtocolError,
    Queued,
    ServerMessage,
    SetState,
    Welcome,
    WrapUp,
    decode_server,
    encode,
)
from signaling.routing.engine import AgentProfile, Outcome, RoutingEngine, now_ms
from signaling.routing.keys import Keys
from signaling.routing.scripts import register_scripts
from signaling.settings import DEFAULT_DISPOSITIONS, DEFAULT_TOPICS, Settings
from signaling.store import Database, User, enroll_kiosk
from signaling.store.passwords import hash_password

M = TypeVar("M")
T = TypeVar("T")

TOPIC, PROBE_TOPIC, MATCH_TOPIC = DEFAULT_TOPICS[0], DEFAULT_TOPICS[1], DEFAULT_TOPICS[2]
"""Throughput agents take TOPIC; the latency probe agent takes PROBE_TOPIC, so the two never mix."""
PROBE_AGENT = "probe-agent"
PROBE_KIOSKS = ("probe-kiosk-1", "probe-kiosk-2")
DISPOSITION = DEFAULT_DISPOSITIONS[0]
WAIT_S = 10.0
"""Bound on every wait for one message."""
CONNECT_CONCURRENCY = 50
WARMUP = 20
TRACES_PER_PATH = 15
FLOOR_CALLS = 2000
ENGINE_SEQUENTIAL = 300
ENGINE_IN_FLIGHT = 200
"""Engine transitions in flight at once when measuring matching alone (as many as the server's agents)."""
HISTORY_COMMANDS = frozenset({"XREADGROUP", "XACK", "XAUTOCLAIM", "XINFO", "XGROUP"})
"""Stream-consumer commands: the history writer's, concurrent with a match, not on its path."""
MATCH_OFFERS_PER_AGENT = 15
"""Offers each agent passes on in the matching phase: a declined call is hidden from that agent for the
decline cooldown (30 s), and matching looks at the first 50 waiting calls, so stay well below 50."""
CLIENT_LIMITS = ("--client-rate", "100000", "--client-burst", "100000")
"""The benchmark's one probe kiosk sends a thousand requests a second, far beyond a real kiosk's allowance
(30 a second): the server runs with the per-socket limits out of the way, so they are not what is timed."""
TARGETS = {"p99_ms": 5.0, "matches_per_s": 2000.0, "redis_round_trips_per_match": 2.0}


class BenchError(RuntimeError):
    pass


_T0 = time.perf_counter()


def progress(what: str) -> None:
    """A progress line on stderr (stdout carries only the result)."""
    print(f"[{time.perf_counter() - _T0:6.1f} s] {what}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------- numbers
def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(pct(values, 50), 3),
        "p90": round(pct(values, 90), 3),
        "p99": round(pct(values, 99), 3),
        "max": round(max(values), 3),
        "n": len(values),
    }


# ------------------------------------------------------------------------------------ preparation
def raise_fd_limit(needed: int) -> int:
    """Raise this process's open-file limit (the server, started later, inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise BenchError(f"needs {needed} open files, the hard limit is {hard}: use fewer --calls")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


@dataclass
class Roster:
    secrets: dict[str, str]
    """kiosk id → device secret"""
    agents: list[str]


async def prepare_store(data_dir: Path, kiosks: int, agents: int) -> Roster:
    """Enroll kiosks and create agents in the SQLite store the server will open (before it starts).

    Agents are inserted with one shared password hash: nobody signs in with it (the benchmark creates
    their sessions directly) and argon2 at ~0.2 s an account would dominate the run."""
    db = await Database.connect(Settings(data_dir=data_dir).effective_database_url)
    try:
        await db.migrate()
        secrets = {}
        for kiosk_id in [f"kiosk-{i:05d}" for i in range(kiosks)] + list(PROBE_KIOSKS):
            secrets[kiosk_id] = await enroll_kiosk(db, kiosk_id, f"Bench branch {kiosk_id}")
        password_hash = await asyncio.to_thread(hash_password, uuid.uuid4().hex)
        names = [f"agent-{i:04d}" for i in range(agents)]
        async with db.session() as session:
            session.add_all([_agent(name, TOPIC, password_hash) for name in names])
            session.add(_agent(PROBE_AGENT, PROBE_TOPIC, password_hash))
        return Roster(secrets, names)
    finally:
        await db.close()


def _agent(name: str, topic: str, password_hash: str) -> User:
    return User(
        username=name,
        role="agent",
        display_name=name,
        password_hash=password_hash,
        skills=[topic],
        languages=["en"],
        capacity=1,
        disabled=False,
    )


async def delete_prefix(redis: Redis, prefix: str) -> None:
    batch: list[Any] = []
    async for key in redis.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)


# ---------------------------------------------------------------------------------------- clients
Handler = Callable[[float, ServerMessage], Awaitable[None]]


class Peer:
    """A protocol-level WebSocket client; every server message is stamped with its arrival time.

    Messages go to an inbox read with :meth:`expect`, or to ``handler`` once one is set, or nowhere
    (``discard``: waiting kiosks are sent position updates nobody here needs to decode)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, name: str) -> None:
        self.ws = ws
        self.name = name
        self.handler: Handler | None = None
        self.discard = False
        self._inbox: asyncio.Queue[tuple[float, ServerMessage | None]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(), name=f"reader-{name}")

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT or self.discard:
                    continue
                at = time.perf_counter()
                try:
                    decoded = decode_server(msg.data)
                except ProtocolError:
                    continue  # a message type newer than this benchmark: not one it waits for
                if self.handler is not None:
                    await self.handler(at, decoded)
                else:
                    self._inbox.put_nowait((at, decoded))
        finally:
            self._inbox.put_nowait((time.perf_counter(), None))

    async def send(self, message: KioskInbound | AgentInbound) -> float:
        """Send; returns the time just before the frame was written."""
        sent = time.perf_counter()
        await self.ws.send_str(encode(message))
        return sent

    async def expect(
        self, kind: type[M], where: Callable[[M], bool] | None = None, timeout: float = WAIT_S
    ) -> tuple[float, M]:
        """The next message of ``kind`` satisfying ``where`` (others are skipped), with its arrival time."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    at, msg = await self._inbox.get()
                    if msg is None:
                        raise BenchError(f"{self.name}: the server closed the socket")
                    if isinstance(msg, Error):
                        raise BenchError(f"{self.name}: the server refused a message: {msg}")
                    if isinstance(msg, kind) and (where is None or where(msg)):
                        return at, msg
        except TimeoutError:
            raise BenchError(f"{self.name}: no {kind.__name__} within {timeout} s") from None

    @property
    def reader(self) -> asyncio.Task[None]:
        """Ends when the socket closes."""
        return self._reader

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, aiohttp.ClientError, ConnectionError):
            await asyncio.wait_for(self.ws.close(), 5)
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


def for_call(call_id: str) -> Callable[[Any], bool]:
    return lambda msg: getattr(msg, "call_id", None) == call_id


def in_state(*states: AgentState) -> Callable[[AgentStateChanged], bool]:
    return lambda msg: msg.state in states


class Clients:
    """Every WebSocket the benchmark opens, on one HTTP session; closes them all, bounded."""

    def __init__(self, served: ServedProcess, redis: Redis) -> None:
        self.ws_url = "ws" + served.url.removeprefix("http")
        self.sessions = Sessions(redis, Keys(served.redis_prefix), 3600.0)
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar()
        )
        self.peers: list[Peer] = []

    async def _open(self, path: str, name: str, headers: dict[str, str] | None = None) -> Peer:
        ws = await self.http.ws_connect(self.ws_url + path, headers=headers)
        peer = Peer(ws, name)
        self.peers.append(peer)
        return peer

    async def kiosk(self, kiosk_id: str, secret: str) -> Peer:
        peer = await self._open("/ws/kiosk", kiosk_id)
        await peer.send(KioskHello(kiosk_id=kiosk_id, secret=secret))
        await peer.expect(Welcome)
        return peer

    async def agent(self, username: str) -> tuple[Peer, Welcome]:
        """An agent's console socket, signed in by creating its session directly (no argon2 per agent)."""
        token = await self.sessions.create(username, "agent")
        peer = await self._open("/ws/agent", username, {"Cookie": f"{COOKIE_NAME}={token}"})
        _, welcome = await peer.expect(Welcome)
        return peer, welcome

    async def aclose(self) -> None:
        """Close every socket, CONNECT_CONCURRENCY at a time (as many disconnects at once as connects)."""
        for first in range(0, len(self.peers), CONNECT_CONCURRENCY):
            batch = self.peers[first : first + CONNECT_CONCURRENCY]
            await asyncio.gather(*(peer.close() for peer in batch), return_exceptions=True)
        self.peers.clear()
        await self.http.close()


async def bounded(factories: Iterable[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run coroutine factories with at most ``limit`` in flight; the first failure cancels the rest.

    Not a TaskGroup: waiting for cancelled tasks is bounded here (a Redis call cancelled while the client's
    pool is exhausted was once seen never to return)."""
    gate = asyncio.Semaphore(limit)

    async def one(factory: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await factory()

    tasks = [asyncio.create_task(one(f)) for f in factories]
    if not tasks:
        return []
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = next((t for t in done if t.exception() is not None), None)
        if failed is not None:
            failed.result()  # raises its exception
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=WAIT_S)


# -------------------------------------------------------------------------------- (a) match latency
async def match_latency(kiosk: Peer, agent: Peer, samples: int) -> list[float]:
    """help_request sent → offer received, one call at a time; the kiosk cancels before the next one."""
    await agent.send(SetState(state="available"))
    await agent.expect(AgentStateChanged, in_state(AgentState.AVAILABLE))
    latencies = []
    for i in range(WARMUP + samples):
        sent = await kiosk.send(HelpRequest(topic=PROBE_TOPIC))
        received, offer = await agent.expect(Offer)
        await _cancel(kiosk, agent, offer.call_id)
        if i >= WARMUP:
            latencies.append((received - sent) * 1000)
    return latencies


async def _cancel(kiosk: Peer, agent: Peer, call_id: str) -> None:
    """The kiosk withdraws a ringing call; returns once the agent is available again."""
    await kiosk.send(Cancel(call_id=call_id))
    await kiosk.expect(CallEnded, for_call(call_id))
    await agent.expect(AgentStateChanged, in_state(AgentState.AVAILABLE))


# ------------------------------------------------------------------- (d) round trips on the match path
class RedisMonitor:
    """Every command Redis runs while open (MONITOR). Slows Redis down: only for counting, never timing."""

    def __init__(self, redis_url: str) -> None:
        self._client: Redis = Redis.from_url(redis_url)
        self._marker = f"bench-mark-{uuid.uuid4().hex}"
        self.commands: list[MonitorCommandInfo] = []
        self.marks: dict[str, int] = {}
        """marker label → index in ``commands`` where the marker ran"""
        self._stack = contextlib.AsyncExitStack()
        self._seen = asyncio.Event()

    async def __aenter__(self) -> RedisMonitor:
        await self._stack.__aenter__()
        self._stack.push_async_callback(self._client.aclose)
        monitor = await self._stack.enter_async_context(self._client.monitor())
        task = asyncio.create_task(self._collect(monitor), name="redis-monitor")
        self._stack.push_async_callback(_cancel_task, task)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _collect(self, monitor: Monitor) -> None:
        async for command in monitor.listen():
            if self._marker in command["command"]:
                self.marks[command["command"].rsplit(":", 1)[1]] = len(self.commands)
                self._seen.set()
            self.commands.append(command)

    async def mark(self, label: str) -> None:
        """Put a marker into Redis's command stream (an ECHO from this client)."""
        await self._client.echo(f"{self._marker}:{label}")

    async def flush(self) -> None:
        """Wait until every command run so far has reached this monitor."""
        label = f"flush-{uuid.uuid4().hex}"
        await self.mark(label)
        try:
            async with asyncio.timeout(WAIT_S):
                while label not in self.marks:
                    self._seen.clear()
                    await self._seen.wait()
        except TimeoutError:
            raise BenchError("MONITOR stopped reporting Redis's commands") from None

    def between(self, label: str) -> list[MonitorCommandInfo]:
        """The commands run between the markers ``<label>-start`` and ``<label>-end``."""
        return self.commands[self.marks[f"{label}-start"] + 1 : self.marks[f"{label}-end"]]


async def _cancel_task(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def redis_ports(pid: int, redis_port: int) -> set[str]:
    """Local ports of the TCP connections process ``pid`` holds to Redis (from /proc, Linux)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
            if match:
                inodes.add(match.group(1))
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                local, remote, inode = cols[1], cols[2], cols[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == redis_port:
                    ports.add(str(int(local.rsplit(":", 1)[1], 16)))
    return ports


PIPELINE_GAP_S = 50e-6
"""Two commands on one connection closer than this were written together (a pipeline): a reply cannot
reach the server's Python and a new command come back in less (loopback round trips are ~100 µs)."""


@dataclass
class Window:
    """What the server had Redis do between two markers: its own commands and its scripts' commands."""

    client: list[MonitorCommandInfo]
    lua: list[MonitorCommandInfo]

    @classmethod
    def of(cls, commands: Sequence[MonitorCommandInfo], ports: set[str], prefix: str) -> Window:
        client = [c for c in commands if c["client_type"] == "tcp" and c["client_port"] in ports]
        lua = [c for c in commands if c["client_type"] == "lua" and f" {prefix}:" in f" {c['command']}"]
        return cls(client, lua)

    def on_path(self) -> list[MonitorCommandInfo]:
        """The server's commands less the history writer's (a stream consumer, off the match path)."""
        return [c for c in self.client if _verb(c) not in HISTORY_COMMANDS]

    def round_trips(self) -> int:
        """Commands written one at a time count one each; a pipeline or MULTI…EXEC block counts one."""
        trips, last_on = 0, dict[str, float]()
        for c in self.on_path():
            if c["time"] - last_on.get(c["client_port"], -1.0) >= PIPELINE_GAP_S:
                trips += 1
            last_on[c["client_port"]] = c["time"]
        return trips


def _verb(command: MonitorCommandInfo) -> str:
    return command["command"].split(" ", 1)[0].upper()


def _label(command: MonitorCommandInfo, scripts: dict[str, str]) -> str:
    parts = command["command"].split(" ", 2)
    if parts[0].upper() == "EVALSHA" and len(parts) > 1:
        return f"EVALSHA({scripts.get(parts[1], parts[1][:8])})"
    return parts[0].upper()


@dataclass
class PathTrace:
    path: str
    scripts: dict[str, str]
    round_trips: list[int] = field(default_factory=list)
    commands: list[int] = field(default_factory=list)
    sequences: Counter[str] = field(default_factory=Counter)

    def add(self, window: Window) -> None:
        on_path = [c for c in window.on_path() if _verb(c) not in ("MULTI", "EXEC")]
        self.commands.append(len(on_path))
        self.round_trips.append(window.round_trips())
        self.sequences[" ".join(_label(c, self.scripts) for c in on_path)] += 1

    def result(self) -> dict[str, Any]:
        return {
            "round_trips": statistics.median(self.round_trips),
            "round_trips_range": [min(self.round_trips), max(self.round_trips)],
            "commands": statistics.median(self.commands),
            "sequence": self.sequences.most_common(1)[0][0],
            "traces": len(self.round_trips),
        }


@dataclass
class CycleTrace:
    """Everything the server had Redis do per served call (help_request … wrap-up), Lua included."""

    scripts: dict[str, str]
    cycles: int = 0
    trips: int = 0
    client: Counter[str] = field(default_factory=Counter)
    lua: Counter[str] = field(default_factory=Counter)

    def add(self, window: Window) -> None:
        self.cycles += 1
        self.trips += Window(window.client, []).round_trips() + sum(
            1 for c in window.client if _verb(c) in HISTORY_COMMANDS
        )
        self.client.update(
            _label(c, self.scripts) for c in window.client if _verb(c) not in ("MULTI", "EXEC")
        )
        self.lua.update(_verb(c) for c in window.lua)

    def result(self) -> dict[str, Any]:
        n = self.cycles
        return {
            "cycles": n,
            "round_trips": round(self.trips / n, 2),
            "commands": round(sum(self.client.values()) / n, 2),
            "lua_commands": round(sum(self.lua.values()) / n, 2),
            "by_command": {k: round(v / n, 2) for k, v in self.client.most_common()},
            "lua_by_command": {k: round(v / n, 2) for k, v in self.lua.most_common(12)},
        }


@dataclass
class Probe:
    agent: Peer
    kiosks: tuple[Peer, Peer]
    monitor: RedisMonitor


async def trace_help_request(p: Probe, label: str) -> None:
    """Agent available; a kiosk asks for help → the offer."""
    kiosk = p.kiosks[0]
    await p.monitor.mark(f"{label}-start")
    await kiosk.send(HelpRequest(topic=PROBE_TOPIC))
    _, offer = await p.agent.expect(Offer)
    await p.monitor.mark(f"{label}-end")
    await _cancel(kiosk, p.agent, offer.call_id)


async def trace_set_state(p: Probe, label: str) -> None:
    """A call waits; the agent goes available → the offer."""
    kiosk = p.kiosks[0]
    await p.agent.send(SetState(state="away"))
    await p.agent.expect(AgentStateChanged, in_state(AgentState.AWAY))
    await kiosk.send(HelpRequest(topic=PROBE_TOPIC))
    await kiosk.expect(Queued)
    await p.monitor.mark(f"{label}-start")
    await p.agent.send(SetState(state="available"))
    _, offer = await p.agent.expect(Offer)
    await p.monitor.mark(f"{label}-end")
    await _cancel(kiosk, p.agent, offer.call_id)


async def trace_wrap_up(p: Probe, label: str) -> None:
    """A call waits while the agent is in another; the agent wraps that one up → the next offer."""
    first, second = p.kiosks
    await first.send(HelpRequest(topic=PROBE_TOPIC))
    _, offer = await p.agent.expect(Offer)
    await _serve(first, p.agent, offer.call_id, wrap_up=False)
    await second.send(HelpRequest(topic=PROBE_TOPIC))
    await second.expect(Queued)
    await p.monitor.mark(f"{label}-start")
    await p.agent.send(WrapUp(call_id=offer.call_id, disposition=DISPOSITION))
    _, next_offer = await p.agent.expect(Offer)
    await p.monitor.mark(f"{label}-end")
    await _cancel(second, p.agent, next_offer.call_id)


async def trace_cycle(p: Probe, label: str) -> None:
    """One whole served call, as in the throughput run: help_request → offer → accept → hangup →
    wrap-up, until the agent is available again."""
    kiosk = p.kiosks[0]
    await p.monitor.mark(f"{label}-start")
    await kiosk.send(HelpRequest(topic=PROBE_TOPIC))
    _, offer = await p.agent.expect(Offer)
    await _serve(kiosk, p.agent, offer.call_id, wrap_up=True)
    await p.monitor.mark(f"{label}-end")


async def _serve(kiosk: Peer, agent: Peer, call_id: str, *, wrap_up: bool) -> None:
    """The agent accepts the offered call and hangs up; then wraps up and is available again."""
    await agent.send(Accept(call_id=call_id))
    await agent.expect(CallAccepted)
    await agent.send(Hangup(call_id=call_id))
    await agent.expect(CallEnded, for_call(call_id))
    await kiosk.expect(CallEnded, for_call(call_id))
    await agent.expect(AgentStateChanged, in_state(AgentState.WRAP_UP))
    if wrap_up:
        await agent.send(WrapUp(call_id=call_id, disposition=DISPOSITION))
        await agent.expect(AgentStateChanged, in_state(AgentState.AVAILABLE))


TRACED_PATHS: dict[str, Callable[[Probe, str], Awaitable[None]]] = {
    "help_request → offer": trace_help_request,
    "set_state available → offer": trace_set_state,
    "wrap_up → next offer": trace_wrap_up,
}


async def trace_round_trips(
    served: ServedProcess, redis: Redis, agent: Peer, kiosks: tuple[Peer, Peer]
) -> dict[str, Any]:
    """Record what the server has Redis do on each path to an offer, and per served call (MONITOR;
    nothing is timed while it runs)."""
    redis_port = int(redis.connection_pool.connection_kwargs["port"])
    scripts = {script.sha: name for name, script in register_scripts(redis).items()}
    ports = redis_ports(served.pid, redis_port)
    async with RedisMonitor(str(served.redis_url)) as monitor:
        probe = Probe(agent, kiosks, monitor)
        for i in range(TRACES_PER_PATH):
            for j, trace in enumerate(TRACED_PATHS.values()):
                await trace(probe, f"path{j}-{i}")
            await trace_cycle(probe, f"cycle-{i}")
        await monitor.flush()
    ports |= redis_ports(served.pid, redis_port)  # connections the server's pool opened meanwhile

    def window(label: str) -> Window:
        return Window.of(monitor.between(label), ports, served.redis_prefix)

    paths = {}
    for j, path in enumerate(TRACED_PATHS):
        record = PathTrace(path, scripts)
        for i in range(TRACES_PER_PATH):
            record.add(window(f"path{j}-{i}"))
        paths[path] = record.result()
    cycle = CycleTrace(scripts)
    for i in range(TRACES_PER_PATH):
        cycle.add(window(f"cycle-{i}"))
    return {"paths": paths, "per_served_call": cycle.result()}


# ------------------------------------------------------------------- (b) throughput through the server
@dataclass
class ServerRun:
    """The agents' loop: offer → accept, call_accepted → hangup, call_ended → wrap_up."""

    calls: int
    agents: int
    offers: list[float] = field(default_factory=list)
    rematch_ms: list[float] = field(default_factory=list)
    ended: int = 0
    started: set[str] = field(default_factory=set)
    """agents whose set_state the server has answered"""
    available: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    wave_done: asyncio.Event = field(default_factory=asyncio.Event)
    wave_size: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def handler(self, agent: Peer) -> Handler:
        wrapped_at: list[float] = []

        async def on_message(at: float, msg: ServerMessage) -> None:
            if isinstance(msg, Offer):
                self._offered(agent.name, at, wrapped_at)
                await agent.send(Accept(call_id=msg.call_id))
            elif isinstance(msg, CallAccepted):
                await agent.send(Hangup(call_id=msg.call_id))
            elif isinstance(msg, CallEnded):
                self.ended += 1
                wrapped_at[:] = [await agent.send(WrapUp(call_id=msg.call_id, disposition=DISPOSITION))]
            elif isinstance(msg, AgentStateChanged):
                self._state(agent.name, msg.state)
            elif isinstance(msg, Error):
                self.errors.append(f"{agent.name}: {msg.code}: {msg.message}")
                self.done.set()

        return on_message

    def _offered(self, name: str, at: float, wrapped_at: list[float]) -> None:
        self.offers.append(at)
        if wrapped_at:
            self.rematch_ms.append((at - wrapped_at.pop()) * 1000)
        self._start(name)

    def _state(self, name: str, state: AgentState) -> None:
        if state == AgentState.AVAILABLE:
            self.available.add(name)
        else:
            self.available.discard(name)
        if state != AgentState.AWAY:
            self._start(name)
        if self.ended >= self.calls and len(self.available) == self.agents:
            self.done.set()  # every call served and every agent idle again

    def _start(self, name: str) -> None:
        self.started.add(name)
        if len(self.started) >= self.wave_size:
            self.wave_done.set()


@dataclass
class MatchRun:
    """The matching phase's agents: every offer is passed on (declined), which matches them again."""

    target: int
    sent: float = 0.0
    offers: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def handler(self, agent: Peer) -> Handler:
        async def on_message(at: float, msg: ServerMessage) -> None:
            if isinstance(msg, Offer):
                if len(self.offers) >= self.target:
                    self.done.set()
                    return
                self.offers.append(at)
                await agent.send(Decline(call_id=msg.call_id))
            elif isinstance(msg, Error):
                self.errors.append(f"{agent.name}: {msg.code}: {msg.message}")
                self.done.set()

        return on_message


async def match_throughput(
    clients: Clients, served: ServedProcess, roster: Roster, redis: Redis
) -> dict[str, Any]:
    """M agents work through N waiting calls, passing every offer on: the router's matching rate."""
    kiosks = await queue_calls(clients, roster)
    connected = await bounded([partial(clients.agent, a) for a in roster.agents], CONNECT_CONCURRENCY)
    agents = [peer for peer, _ in connected]
    run = MatchRun(MATCH_OFFERS_PER_AGENT * len(agents))
    for agent in agents:
        agent.handler = run.handler(agent)
    window = await CpuWindow.open(redis, served.pid)
    started = window.started
    for agent in agents:
        await agent.send(SetState(state="available"))
    await until(run.done, agents, 60 + run.target / 100, f"{run.target} offers")
    if run.errors:
        raise BenchError(f"agents were refused: {run.errors[:3]}")
    busy = run.offers[-1] - started
    cpu, after, wall = await window.close()
    matches = len(run.offers)
    return {
        "calls": len(kiosks),
        "agents": len(agents),
        "matches": matches,
        "busy_s": round(busy, 3),
        "matches_per_s": round(matches / busy, 1),
        "cpu_pct": {k: round(100 * v / wall, 1) for k, v in cpu.items()},
        "cpu_ms_per_match": {k: round(1000 * v / matches, 3) for k, v in cpu.items()},
        "redis_commandstats_per_match": _per_call(window.commands, after, matches),
    }


async def queue_calls(clients: Clients, roster: Roster) -> list[Peer]:
    """Connect every kiosk and have each ask for help (no agent is available: all calls wait)."""

    async def one(kiosk_id: str) -> Peer:
        peer = await clients.kiosk(kiosk_id, roster.secrets[kiosk_id])
        await peer.send(HelpRequest(topic=TOPIC))
        await peer.expect(Queued)
        peer.discard = True
        return peer

    ids = [k for k in roster.secrets if k not in PROBE_KIOSKS]
    return await bounded([partial(one, k) for k in ids], CONNECT_CONCURRENCY)


async def first_of(event: asyncio.Event, watched: Iterable[asyncio.Task[Any]], timeout: float) -> bool:
    """Wait (bounded) for ``event`` or for any ``watched`` task to end; True if the event came first."""
    waiter = asyncio.create_task(event.wait())
    try:
        done, _ = await asyncio.wait([waiter, *watched], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await _cancel_task(waiter)
    return waiter in done


async def until(event: asyncio.Event, peers: Sequence[Peer], timeout: float, what: str) -> None:
    """Wait for ``event``, bounded; fail at once if the server closes one of ``peers``' sockets."""
    if await first_of(event, (p.reader for p in peers), timeout):
        return
    closed = [p.name for p in peers if p.reader.done()]
    if closed:
        raise BenchError(f"the server closed {len(closed)} agents' sockets ({closed[0]}, …): see server.log")
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


async def go_available(run: ServerRun, agents: Sequence[Peer], wave: int) -> None:
    """set_state available from every agent: ``wave`` at a time (0: all at once), each wave sent once the
    server has answered the one before."""
    step = wave or len(agents)
    for first in range(0, len(agents), step):
        run.wave_size = min(len(agents), first + step)
        run.wave_done.clear()
        for agent in agents[first : first + step]:
            await agent.send(SetState(state="available"))
        await until(run.wave_done, agents, WAIT_S, "the agents' set_state to be answered")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (the server's history writer), Linux /proc."""
    total = 0.0
    for one in (pid, *_children(pid)):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a child that just ended
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


async def redis_counters(redis: Redis) -> tuple[dict[str, int], float]:
    """INFO commandstats (calls per command, server-wide) and Redis's CPU seconds."""
    stats = await redis.info("commandstats")
    cpu = await redis.info("cpu")
    calls = {k.removeprefix("cmdstat_").upper(): int(v["calls"]) for k, v in stats.items()}
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


@dataclass
class CpuWindow:
    """CPU seconds of the server (with its children), of Redis and of this process, and Redis's command
    counts, from :meth:`open` to :meth:`close`."""

    redis: Redis
    pid: int
    commands: dict[str, int]
    redis_cpu: float
    server_cpu: float
    own_cpu: float
    started: float

    @classmethod
    async def open(cls, redis: Redis, pid: int) -> CpuWindow:
        commands, redis_cpu = await redis_counters(redis)
        return cls(
            redis, pid, commands, redis_cpu, cpu_seconds(pid), time.process_time(), time.perf_counter()
        )

    async def close(self) -> tuple[dict[str, float], dict[str, int], float]:
        """CPU by process, Redis's command counts now, and the window's wall-clock length."""
        commands, redis_cpu = await redis_counters(self.redis)
        cpu = {
            "server": cpu_seconds(self.pid) - self.server_cpu,
            "redis": redis_cpu - self.redis_cpu,
            "benchmark": time.process_time() - self.own_cpu,
        }
        return cpu, commands, time.perf_counter() - self.started


async def other_redis_clients(redis: Redis, served: ServedProcess) -> int:
    """Clients of this Redis that are neither the server nor this benchmark (their commands count too)."""
    port = int(redis.connection_pool.connection_kwargs["port"])
    ours = redis_ports(served.pid, port) | redis_ports(os.getpid(), port)
    clients = await redis.client_list()
    return sum(1 for c in clients if c["addr"].rsplit(":", 1)[1] not in ours)


async def server_throughput(
    clients: Clients, served: ServedProcess, roster: Roster, redis: Redis, wave: int
) -> dict[str, Any]:
    kiosks = await queue_calls(clients, roster)
    connected = await bounded([partial(clients.agent, a) for a in roster.agents], CONNECT_CONCURRENCY)
    agents = [peer for peer, _ in connected]
    run = ServerRun(len(kiosks), len(agents))
    for agent in agents:
        agent.handler = run.handler(agent)
    others = await other_redis_clients(redis, served)
    window = await CpuWindow.open(redis, served.pid)
    started = window.started
    await go_available(run, agents, wave)
    await until(run.done, agents, 60 + len(kiosks) / 50, f"{len(kiosks)} calls to be served")
    if run.errors:
        raise BenchError(f"agents were refused: {run.errors[:3]}")
    busy = run.offers[-1] - started
    cpu, after, wall = await window.close()
    return {
        "calls": len(kiosks),
        "agents": len(agents),
        "wave": min(wave or len(agents), len(agents)),
        "busy_s": round(busy, 3),
        "matches_per_s": round(len(run.offers) / busy, 1),
        "sustained_matches_per_s": _sustained(run.offers, len(agents)),
        "rematch_ms": summary_ms(run.rematch_ms) if run.rematch_ms else None,
        "cpu_pct": {k: round(100 * v / wall, 1) for k, v in cpu.items()},
        "cpu_ms_per_call": {k: round(1000 * v / len(kiosks), 3) for k, v in cpu.items()},
        "redis_commandstats_per_call": _per_call(window.commands, after, len(kiosks)),
        "other_redis_clients": others,
    }


def _sustained(offers: Sequence[float], agents: int) -> float | None:
    """The rate of re-matches after the first burst (one offer per agent as they all go available)."""
    if len(offers) <= agents + 1:
        return None
    return round((len(offers) - 1 - agents) / (offers[-1] - offers[agents]), 1)


def _per_call(before: dict[str, int], after: dict[str, int], calls: int) -> dict[str, Any]:
    """Commands Redis ran per served call (commandstats: every client's, commands inside scripts too)."""
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
    delta.pop("INFO", None)  # the benchmark's own reads of these counters
    top = sorted(delta.items(), key=lambda kv: -kv[1])[:12]
    return {
        "commands": round(sum(delta.values()) / calls, 1),
        "evalsha": round(delta.get("EVALSHA", 0) / calls, 2),
        "by_command": {k: round(v / calls, 2) for k, v in top},
    }


# --------------------------------------------------------------------------- (b) the engine alone
class Tally:
    def __init__(self) -> None:
        self.round_trips = 0
        self.commands: Counter[str] = Counter()


_tally: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("tally", default=None)


class CountingPipeline(Pipeline):
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if self.command_stack:
            _count([str(args[0]) for args, _ in self.command_stack])
        result: list[Any] = await super().execute(raise_on_error)
        return result


class CountingRedis(Redis):
    """A client that counts its round trips and commands (a pipeline is one round trip)."""

    total = Tally()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        _count([str(args[0])])
        send: Callable[..., Awaitable[Any]] = super().execute_command
        return await send(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return CountingPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def _count(commands: Sequence[str]) -> None:
    for tally in (CountingRedis.total, _tally.get()):
        if tally is not None:
            tally.round_trips += 1
            tally.commands.update(c.upper() for c in commands)


def outcome_of(result: object) -> Outcome:
    """The Outcome in what an engine transition returned (an Outcome, a tuple holding one, or a result
    object with ``.outcome``: the engine's return types vary between versions)."""
    if isinstance(result, Outcome):
        return result
    found = getattr(result, "outcome", None)
    if isinstance(found, Outcome):
        return found
    if isinstance(result, tuple):
        return next((x for x in result if isinstance(x, Outcome)), Outcome())
    return Outcome()


@dataclass
class EngineRun:
    calls: int
    inboxes: dict[str, asyncio.Queue[str | None]]
    offers: list[float] = field(default_factory=list)
    matching_trips: int = 0
    all_offered: asyncio.Event = field(default_factory=asyncio.Event)

    def dispatch(self, outcome: Outcome, trips: int) -> None:
        self.matching_trips += trips if outcome.offers else 0
        for reservation in outcome.offers:
            self.offers.append(time.perf_counter())
            self.inboxes[reservation.agent].put_nowait(reservation.call_id)
        if len(self.offers) >= self.calls:
            self.all_offered.set()


async def counted(call: Awaitable[T]) -> tuple[T, int]:
    """Await an engine call; also returns the Redis round trips it made (this task's own)."""
    tally = Tally()
    token = _tally.set(tally)
    try:
        return await call, tally.round_trips
    finally:
        _tally.reset(token)


async def engine_agent(engine: RoutingEngine, name: str, run: EngineRun) -> None:
    change, trips = await counted(engine.set_agent_state(name, "available"))
    run.dispatch(outcome_of(change), trips)
    inbox = run.inboxes[name]
    while (call_id := await inbox.get()) is not None:
        await engine.accept(call_id, name)
        await engine.hangup(call_id, "agent", name, "agent_hangup")
        result, trips = await counted(engine.wrap_up(name, call_id, DISPOSITION, ""))
        run.dispatch(outcome_of(result), trips)


async def engine_setup(engine: RoutingEngine, topic: str, calls: int, agents: int, tag: str) -> list[str]:
    """Kiosks online, agents online (away), and every call queued."""
    expiry = now_ms() + 600_000
    kiosks = [f"{tag}-kiosk-{i:05d}" for i in range(calls)]
    await bounded([partial(engine.kiosk_online, k, "Bench", uuid.uuid4().hex, expiry) for k in kiosks], 100)
    names = [f"{tag}-agent-{i:05d}" for i in range(agents)]
    profiles = [AgentProfile(n, (topic,)) for n in names]
    await bounded([partial(engine.agent_online, p, uuid.uuid4().hex, expiry) for p in profiles], 100)
    queued = await bounded([partial(engine.enqueue, k, "Bench", topic, "en", {}) for k in kiosks], 100)
    if any(q.outcome.offers for q in queued):
        raise BenchError("a call was offered before any agent was available")
    return names


async def engine_throughput(redis_url: str, calls: int, agents: int) -> dict[str, Any]:
    """The server's workload against RoutingEngine in this process: accept → hangup → wrap_up per call;
    and matching alone: as many agents as calls go available at once."""
    redis = CountingRedis.from_url(redis_url, max_connections=max(agents, ENGINE_IN_FLIGHT) + 100)
    prefix = f"benchengine{uuid.uuid4().hex[:8]}"
    engine = RoutingEngine(redis, Keys(prefix))
    try:
        await engine.publish_config()
        sequential = await engine_sequential(engine, prefix)
        names = await engine_setup(engine, TOPIC, calls, agents, "cycle")
        run = EngineRun(calls, {n: asyncio.Queue() for n in names})
        _, redis_cpu = await redis_counters(redis)
        own_cpu, before, started = time.process_time(), CountingRedis.total.round_trips, time.perf_counter()
        await run_engine_agents(engine, names, run)
        busy = run.offers[-1] - started
        trips = CountingRedis.total.round_trips - before
        wall, own_cpu = time.perf_counter() - started, time.process_time() - own_cpu
        redis_cpu = (await redis_counters(redis))[1] - redis_cpu
        return {
            "matches_per_s": round(len(run.offers) / busy, 1),
            "busy_s": round(busy, 3),
            "round_trips_per_match": round(run.matching_trips / len(run.offers), 2),
            "round_trips_per_call": round(trips / len(run.offers), 2),
            "cpu_pct": {
                "benchmark": round(100 * own_cpu / wall, 1),
                "redis": round(100 * redis_cpu / wall, 1),
            },
            "cpu_ms_per_call": {
                "benchmark": round(1000 * own_cpu / calls, 3),
                "redis": round(1000 * redis_cpu / calls, 3),
            },
            "match_only": await engine_match_only(engine, calls),
            "sequential_ms": sequential,
        }
    finally:
        await delete_prefix(redis, prefix)
        await redis.aclose()


async def engine_match_only(engine: RoutingEngine, calls: int) -> dict[str, Any]:
    """``calls`` waiting calls, as many agents going available (ENGINE_IN_FLIGHT at a time): every
    transition is a match, nothing else runs."""
    names = await engine_setup(engine, MATCH_TOPIC, calls, calls, "match")
    before, started, cpu = CountingRedis.total.round_trips, time.perf_counter(), time.process_time()
    changes = await bounded(
        [partial(engine.set_agent_state, n, "available") for n in names], ENGINE_IN_FLIGHT
    )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    offers = sum(len(outcome_of(change).offers) for change in changes)
    if offers != calls:
        raise BenchError(f"matching alone: {offers} offers for {calls} calls")
    return {
        "matches_per_s": round(offers / elapsed, 1),
        "round_trips_per_match": round((CountingRedis.total.round_trips - before) / offers, 2),
        "cpu_ms_per_match": round(1000 * cpu / offers, 3),
        "in_flight": ENGINE_IN_FLIGHT,
    }


async def run_engine_agents(engine: RoutingEngine, names: Sequence[str], run: EngineRun) -> None:
    """Every agent's loop until all calls are offered and served; any agent's failure ends the run."""
    tasks = [asyncio.create_task(engine_agent(engine, name, run), name=name) for name in names]
    try:
        if not await first_of(run.all_offered, tasks, 60 + run.calls / 50):
            failed = next((t for t in tasks if t.done()), None)
            if failed is not None:
                raise BenchError(f"engine agent {failed.get_name()} failed: {failed.exception()!r}")
            raise BenchError(f"engine stalled: {len(run.offers)} of {run.calls} calls offered")
        for inbox in run.inboxes.values():
            inbox.put_nowait(None)  # each agent finishes the call it has, then stops
        _, pending = await asyncio.wait(tasks, timeout=WAIT_S)
        if pending:
            raise BenchError(f"{len(pending)} engine agents did not finish their last call")
        for task in tasks:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=WAIT_S)  # bounded, whatever a cancelled call does


async def engine_sequential(engine: RoutingEngine, prefix: str) -> dict[str, dict[str, float]]:
    """One agent, one kiosk, one transition at a time: each EVALSHA's round trip including its Lua."""
    agent, kiosk = f"solo-{prefix}", f"solo-kiosk-{prefix}"
    expiry = now_ms() + 600_000
    await engine.kiosk_online(kiosk, "Bench", uuid.uuid4().hex, expiry)
    await engine.agent_online(AgentProfile(agent, (PROBE_TOPIC,)), uuid.uuid4().hex, expiry)
    await engine.set_agent_state(agent, "available")
    timings: dict[str, list[float]] = {"enqueue+match": [], "accept": [], "hangup": [], "wrap_up": []}
    for _ in range(ENGINE_SEQUENTIAL):
        enqueue = engine.enqueue(kiosk, "Bench", PROBE_TOPIC, "en", {})
        queued = await _timed(timings["enqueue+match"], enqueue)
        call_id = queued.call_id
        if not queued.outcome.offers:
            raise BenchError("the engine did not match a call to an available agent")
        await _timed(timings["accept"], engine.accept(call_id, agent))
        await _timed(timings["hangup"], engine.hangup(call_id, "agent", agent, "agent_hangup"))
        await _timed(timings["wrap_up"], engine.wrap_up(agent, call_id, DISPOSITION, ""))
    return {name: {"p50": round(pct(v, 50), 3), "p99": round(pct(v, 99), 3)} for name, v in timings.items()}


async def _timed(into: list[float], call: Awaitable[T]) -> T:
    start = time.perf_counter()
    result = await call
    into.append((time.perf_counter() - start) * 1000)
    return result


# ------------------------------------------------------------------------------------- (c) the floor
async def evalsha_floor(redis_url: str, calls: int = FLOOR_CALLS) -> list[float]:
    """Sequential EVALSHA of ``return 1`` with the server's client library: Redis's round trip floor."""
    redis: Redis = Redis.from_url(redis_url)
    try:
        script = redis.register_script("return 1")
        for _ in range(100):
            await script()
        timings = []
        for _ in range(calls):
            start = time.perf_counter()
            await script()
            timings.append((time.perf_counter() - start) * 1000)
        return timings
    finally:
        await redis.aclose()


# -------------------------------------------------------------------------------------------- run
@dataclass
class Scratch:
    path: Path
    keep: bool = False
    """Keep the directory (its server.log) after the run: something went wrong."""


@contextlib.asynccontextmanager
async def scratch_dir() -> AsyncIterator[Scratch]:
    scratch = Scratch(Path(tempfile.mkdtemp(prefix="ka-bench-routing-")))
    try:
        yield scratch
    except BaseException:
        scratch.keep = True
        raise
    finally:
        if scratch.keep:
            print(f"kept {scratch.path} (server.log) for a look", file=sys.stderr)
        else:
            shutil.rmtree(scratch.path, ignore_errors=True)


@dataclass(frozen=True)
class Options:
    calls: int = 1000
    agents: int = 200
    samples: int = 1000
    wave: int = 0


Phases = Callable[[Clients, ServedProcess], Awaitable[dict[str, Any]]]


async def through_server(data_dir: Path, roster: Roster, redis: Redis, options: Options) -> dict[str, Any]:
    result = await with_server(
        data_dir, redis, partial(_server_phases, roster=roster, redis=redis, options=options)
    )
    progress(
        f"matching through the server: {options.calls} calls wait, {options.agents} agents pass offers on"
    )
    try:
        matching = await with_server(data_dir, redis, partial(_match_phase, roster=roster, redis=redis))
    except BenchError as exc:
        matching = {"error": str(exc), "server_log": {"ERROR": [], "WARNING": []}}
    for level, lines in matching.pop("server_log").items():
        result["server_log"][level] += lines
    result["matching"] = matching
    return result


async def _match_phase(
    clients: Clients, served: ServedProcess, *, roster: Roster, redis: Redis
) -> dict[str, Any]:
    return await match_throughput(clients, served, roster, redis)


async def with_server(data_dir: Path, redis: Redis, phases: Phases) -> dict[str, Any]:
    """Start ``kiosk-assist serve`` on the local Redis, run ``phases`` against it, stop it, clean up."""
    prefixes: list[str] = []
    try:
        async with serve_process(data_dir, *CLIENT_LIMITS) as served:
            prefixes.append(served.redis_prefix)
            if served.redis_url is None:
                raise BenchError("the server started its own Redis instead of the local one")
            clients = Clients(served, redis)
            try:
                result = await phases(clients, served)
            finally:
                # The server goes first: draining, it closes every socket (GOING_AWAY) and leaves the calls
                # to presence expiry. Clients closing 1,200 sockets would make it run 1,200 `gone` scripts
                # at once, more than its Redis pool allows (see docs/performance.md).
                progress(f"stopping the server, closing {len(clients.peers)} sockets")
                await served.stop()
                await clients.aclose()
            result["server_log"] = server_problems(served)
            return result
    finally:
        for prefix in prefixes:
            await delete_prefix(redis, prefix)


async def _server_phases(
    clients: Clients, served: ServedProcess, *, roster: Roster, redis: Redis, options: Options
) -> dict[str, Any]:
    agent, _ = await clients.agent(PROBE_AGENT)
    first, second = [await clients.kiosk(k, roster.secrets[k]) for k in PROBE_KIOSKS]
    progress(f"match latency: {options.samples} calls one at a time")
    latency = await match_latency(first, agent, options.samples)
    progress("round trips: tracing the server's Redis commands (MONITOR)")
    traces = await trace_round_trips(served, redis, agent, (first, second))
    progress(f"throughput through the server: {options.calls} kiosks wait, {options.agents} agents serve")
    try:
        throughput = await server_throughput(clients, served, roster, redis, options.wave)
    except BenchError as exc:  # reported with the other figures, which stand on their own
        throughput = {"error": str(exc)}
    return {"latency_ms": latency, "traces": traces, "throughput": throughput}


def server_problems(served: ServedProcess) -> dict[str, list[str]]:
    """The ERROR and WARNING lines the server logged (a Redis failure, a socket it gave up on …)."""
    log = served.data_dir / "server.log"
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return {level: [line for line in lines if f"level={level}" in line] for level in ("ERROR", "WARNING")}


async def run(options: Options) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    fd_limit = raise_fd_limit(2 * (options.calls + options.agents) + 1024)
    redis_url = await local_redis()
    if redis_url is None:
        raise BenchError("no Redis answers at 127.0.0.1:6379 (this benchmark measures against it)")
    redis: Redis = Redis.from_url(redis_url)
    try:
        async with scratch_dir() as scratch:
            progress(f"enrolling {options.calls} kiosks and {options.agents} agents")
            roster = await prepare_store(scratch.path, options.calls, options.agents)
            progress("EVALSHA floor")
            floor = await evalsha_floor(redis_url)
            progress("starting kiosk-assist serve")
            server = await through_server(scratch.path, roster, redis, options)
            failed = "error" in server["throughput"] or "error" in server["matching"]
            scratch.keep = bool(any(server["server_log"].values()) or failed)
            progress("the engine alone")
            engine = await engine_throughput(redis_url, options.calls, options.agents)
            progress("done")
    finally:
        await redis.aclose()
    env = {
        "redis": redis_url,
        "cpus": os.cpu_count(),
        "load_avg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "fd_limit": fd_limit,
    }
    return report(server, engine, floor, options, env)


def report(
    server: dict[str, Any], engine: dict[str, Any], floor: list[float], options: Options, env: dict[str, Any]
) -> dict[str, Any]:
    latency = summary_ms(server["latency_ms"])
    paths = server["traces"]["paths"]
    errors = [phase["error"] for phase in (server["matching"], server["throughput"]) if "error" in phase]
    return {
        "p50_ms": latency["p50"],
        "p99_ms": latency["p99"],
        "matches_per_s": server["matching"].get("matches_per_s"),
        "evalsha_rtt_ms": round(pct(floor, 50), 3),
        "redis_round_trips_per_match": max(t["round_trips"] for t in paths.values()),
        "latency_ms": latency,
        "evalsha_rtt_p99_ms": round(pct(floor, 99), 3),
        "served_calls_per_s": server["throughput"].get("matches_per_s"),
        "matching": server["matching"],
        "server": server["throughput"],
        "engine": engine,
        "round_trips_by_path": paths,
        "redis_per_served_call": server["traces"]["per_served_call"],
        "server_errors": len(server["server_log"]["ERROR"]),
        "server_warnings": len(server["server_log"]["WARNING"]),
        "server_log_sample": (server["server_log"]["ERROR"] + server["server_log"]["WARNING"])[:3],
        "errors": errors,
        "options": options.__dict__,
        "env": env,
        "targets": TARGETS,
    }


def print_human(r: dict[str, Any]) -> None:
    lat, eng, env, per = r["latency_ms"], r["engine"], r["env"], r["redis_per_served_call"]
    lines = [
        f"Routing: {r['options']['calls']} calls, {r['options']['agents']} agents; {env['cpus']} CPUs, "
        f"load {env['load_avg_1m'][0]} → {env['load_avg_1m'][1]}; Redis {env['redis']}",
        f"match latency, help_request sent → offer received (loopback clients, {lat['n']} calls in turn):",
        f"  p50 {lat['p50']} ms  p90 {lat['p90']} ms  p99 {lat['p99']} ms  max {lat['max']} ms   "
        + _verdict(lat["p99"], "p99_ms"),
        *_matching_lines(r["matching"], r["options"]),
        *_throughput_lines(r["server"], r["options"]),
        f"throughput of the engine alone (same workload, RoutingEngine in this process): "
        f"{eng['matches_per_s']} matches/s; round trips {eng['round_trips_per_match']} per match, "
        f"{eng['round_trips_per_call']} per served call; CPU per served call: this process "
        f"{eng['cpu_ms_per_call']['benchmark']} ms, Redis {eng['cpu_ms_per_call']['redis']} ms",
        f"  matching alone ({eng['match_only']['in_flight']} in flight): "
        f"{eng['match_only']['matches_per_s']} matches/s, {eng['match_only']['cpu_ms_per_match']} ms CPU "
        "in this process per match",
        "  one transition at a time, p50 ms: "
        + "  ".join(f"{k} {v['p50']}" for k, v in eng["sequential_ms"].items()),
        f"EVALSHA floor (return 1, in turn): p50 {r['evalsha_rtt_ms']} ms  p99 {r['evalsha_rtt_p99_ms']} ms",
        "Redis round trips per match (the server's, between the trigger and the offer; MONITOR):",
        *(
            f"  {path:28} {tr['round_trips']:>4}   {tr['sequence']}"
            for path, tr in r["round_trips_by_path"].items()
        ),
        f"  worst path {r['redis_round_trips_per_match']}   "
        + _verdict(r["redis_round_trips_per_match"], "redis_round_trips_per_match"),
        f"per served call (help_request … wrap-up done): {per['round_trips']} round trips, "
        f"{per['commands']} commands, {per['lua_commands']} more inside the scripts",
    ]
    if r["server_errors"] or r["server_warnings"]:
        lines.append(
            f"the server logged {r['server_errors']} errors and {r['server_warnings']} warnings, "
            f"e.g. {r['server_log_sample'][0]}"
        )
    print("\n".join(lines))


def _matching_lines(m: dict[str, Any], options: dict[str, Any]) -> list[str]:
    head = f"matching through the server ({options['calls']} waiting calls, {options['agents']} agents"
    if "error" in m:
        return [f"{head}): FAILED: {m['error']}"]
    cpu, per = m["cpu_pct"], m["cpu_ms_per_match"]
    return [
        f"{head} passing every offer on, so each decline is a release and a new match):",
        f"  {m['matches_per_s']} matches/s ({m['matches']} offers in {m['busy_s']} s)   "
        + _verdict(m["matches_per_s"], "matches_per_s"),
        f"  CPU while busy (100% = one core): server {cpu['server']}%  Redis {cpu['redis']}%  "
        f"benchmark {cpu['benchmark']}%; per match: server {per['server']} ms, Redis {per['redis']} ms",
    ]


def _throughput_lines(srv: dict[str, Any], options: dict[str, Any]) -> list[str]:
    head = f"served calls through the server ({options['calls']} waiting calls, {options['agents']} agents"
    if "error" in srv:
        return [f"{head}): FAILED: {srv['error']}"]
    cpu, per_call, rematch = (
        srv["cpu_pct"],
        srv["cpu_ms_per_call"],
        srv["rematch_ms"] or {"p50": "-", "p99": "-"},
    )
    return [
        f"{head} going available {srv['wave']} at a time, then accepting, hanging up, wrapping up in turn):",
        f"  {srv['matches_per_s']} calls matched and served a second over {srv['busy_s']} s busy "
        f"({srv['sustained_matches_per_s']}/s after the first burst)",
        f"  re-match under load, wrap_up sent → next offer: p50 {rematch['p50']} ms  p99 {rematch['p99']} ms",
        f"  CPU while busy (100% = one core): server {cpu['server']}%  Redis {cpu['redis']}%  "
        f"benchmark {cpu['benchmark']}%; per served call: server {per_call['server']} ms, "
        f"Redis {per_call['redis']} ms",
    ]


def bench_error(exc: BaseException) -> BenchError | None:
    """The benchmark's own failure in ``exc`` (task groups wrap it), if that is what it is."""
    if isinstance(exc, BenchError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        return next((e for e in map(bench_error, exc.exceptions) if e is not None), None)
    return None


def _verdict(value: float, key: str) -> str:
    target, higher_is_better = TARGETS[key], key == "matches_per_s"
    met = value >= target if higher_is_better else value <= target
    bound = f"target {'≥' if higher_is_better else '≤'} {target:g}"
    return f"{bound}: met" if met else f"{bound}: missed by {abs(value - target) / target * 100:.0f}%"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=Options.calls, help="calls waiting when agents start")
    parser.add_argument("--agents", type=int, default=Options.agents, help="agents serving them")
    parser.add_argument("--samples", type=int, default=Options.samples, help="calls timed one by one")
    parser.add_argument(
        "--wave", type=int, default=Options.wave, help="agents going available together (0: all at once)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if min(args.calls, args.agents, args.samples) < 1 or args.wave < 0:
        parser.error("--calls, --agents and --samples must be at least 1, --wave at least 0")
    try:
        result = asyncio.run(run(Options(args.calls, args.agents, args.samples, args.wave)))
    except (BenchError, ExceptionGroup) as exc:
        error = bench_error(exc)
        if error is None:
            raise
        print(f"bench.routing: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print_human(result)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
