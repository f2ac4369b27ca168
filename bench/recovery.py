"""Recovery: how fast a call comes back after its signalling connection or its media path breaks.

(a) signalling resume: during a call (protocol level, no media), one party's WebSocket is cut (TCP abort,
    no close frame); the other party sends it an ICE candidate while it is away; the party reconnects at
    once (the kiosk program's first backoff step, about 0 s) with its resume token and last ``seq``. The
    clock runs from the cut to the candidate received on the new socket. The kiosk side is the kiosk
    program's own signalling client (``KioskSignaling``); the agent side reconnects to
    ``/ws/agent?resume=TOKEN&last_seq=N`` with its session cookie, as the console does. Each run cuts the
    kiosk, then the agent, in the same call. A cut the call does not survive (the server ends it, or
    starts a new session) is recorded, and the runs go on in a new call.
(b) media re-establish: a real call, the kiosk program (aiortc, synthetic video) ↔ the agent console in
    headless Chromium, relay-only ICE through coturn on loopback. Each run waits until the kiosk hears
    the console's heartbeat on the current connection, kills the relay and starts it again at once on the
    same port (its allocations are gone: the media path is dead), then times, from the kill: the kiosk's
    ``media_lost`` (its control-channel heartbeat went silent), the console taking the kiosk's new offer,
    the first video frame of the new peer connection presented in the page (``requestVideoFrameCallback``
    on ``remote-video``: the headline) and the kiosk's ``media_restored``. All runs break and mend the
    same call. Page times are read on the page's clock (``performance.timeOrigin + now``) and corrected
    by its offset from this process's, measured before each run.

Both phases use one ``kiosk-assist serve`` (its own process, local Redis when one answers, else embedded;
SQLite) with ``--ice-transport-policy relay`` and per-call TURN credentials.

Run: ``python -m bench.recovery [--runs N] [--json]`` (about a minute). The exit status is 1 when a call did
not survive a cut or a run did not recover (reported, with the kiosk's events and log, beside the figures
of the runs that did).
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, overload

import aiohttp
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PageTimeout
from redis.asyncio import Redis

from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.routing import delete_prefix, pct
from bench.servers import ServedProcess, serve_process
from bench.turn import TurnServer
from kiosk_client.events import EventLog
from kiosk_client.session import KioskOptions, KioskRunner
from kiosk_client.signaling_client import KioskSignaling, reconnect_delays
from media import open_media
from signaling.protocol import (
    Accept,
    AgentInbound,
    AgentJoined,
    AgentState,
    CallAccepted,
    CallEnded,
    Hangup,
    HelpRequest,
    Ice,
    IceCandidate,
    KioskInbound,
    Offer,
    ServerMessage,
    SetState,
    Welcome,
    WrapUp,
    decode_server,
    encode,
    split_seq,
)
from signaling.settings import DEFAULT_DISPOSITIONS

M = TypeVar("M")
N = TypeVar("N")

RUNS = 10
WAIT_S = 10.0
"""Bound on each signalling step."""
LOST_WAIT_S = 10.0
"""Bound on the kiosk noticing a dead path (it should within SILENCE_S + HEARTBEAT_S = 2.5 s)."""
BACK_WAIT_S = 30.0
"""Bound on the media coming back after the kiosk noticed (a first re-offer that fails is retried in 3 s)."""
PAGE_WAIT_MS = 20_000
TARGETS = {"resume_ms": 1000.0, "media_reestablish_ms": 3000.0}
PASSWORD = "bench-password"

_T0 = time.perf_counter()


class BenchError(RuntimeError):
    pass


def progress(what: str) -> None:
    """A progress line on stderr (stdout carries only the result)."""
    print(f"[{time.perf_counter() - _T0:6.1f} s] {what}", file=sys.stderr, flush=True)


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"median": None, "p90": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), 1),
        "p90": round(pct(values, 90), 1),
        "max": round(max(values), 1),
        "n": len(values),
    }


def cut(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Break a client socket's TCP connection at once: no close frame, as when a network fails."""
    ws._writer.transport.abort()  # no public way to cut a client socket (as tests/support.py's cut)


# ------------------------------------------------------------------------------ signalling resume
class CallBroke(Exception):
    """The call did not survive a cut: the server ended it, or did not resume the party's session."""


class Party(abc.ABC):
    """One side of a call at protocol level: its messages queued as they arrive, numbered ones once."""

    name = ""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[ServerMessage] = asyncio.Queue()
        self.reader: asyncio.Task[None] | None = None

    @abc.abstractmethod
    def cut(self) -> None:
        """Break the socket without a close frame."""

    @abc.abstractmethod
    async def connect(self) -> Welcome:
        """Connect (resuming the session after a drop) and start reading."""

    @abc.abstractmethod
    async def send(self, message: Any) -> None: ...

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)

    async def dropped(self) -> None:
        """The socket's reader has seen it close."""
        assert self.reader is not None
        await asyncio.wait_for(asyncio.shield(self.reader), WAIT_S)

    @overload
    async def expect(self, kind: type[M]) -> M: ...

    @overload
    async def expect(self, kind: type[M], other: type[N]) -> M | N: ...

    async def expect(self, kind: type[Any], other: type[Any] | None = None) -> Any:
        """The next message of ``kind`` (or ``other``), skipping others."""
        kinds = (kind,) if other is None else (kind, other)
        async with asyncio.timeout(WAIT_S):
            while True:
                message = await self.inbox.get()
                if isinstance(message, kinds):
                    return message


class KioskParty(Party):
    """The kiosk program's own signalling client: its ``connect`` resumes after a drop, as the kiosk does."""

    name = "kiosk"

    def __init__(self, url: str, kiosk_id: str, secret: str) -> None:
        super().__init__()
        self.signaling = KioskSignaling(url, kiosk_id, secret, "bench")

    async def connect(self) -> Welcome:
        welcome = await self.signaling.connect()
        self.reader = asyncio.create_task(self._read())
        return welcome

    async def _read(self) -> None:
        async for message in self.signaling.messages():
            self.inbox.put_nowait(message)

    def cut(self) -> None:
        ws = self.signaling._ws  # the kiosk client's socket (private: nothing else may cut it)
        assert ws is not None
        cut(ws)

    async def send(self, message: KioskInbound) -> None:
        await self.signaling.send(message)

    async def close(self) -> None:
        await self.signaling.close()
        await super().close()


class AgentParty(Party):
    """An agent signed in over HTTP; reconnects with ``?resume=TOKEN&last_seq=N`` as the console does."""

    name = "agent"

    def __init__(self, url: str, username: str) -> None:
        super().__init__()
        self.url, self.username = url, username
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.welcome: Welcome | None = None
        self.last_seq = 0

    async def sign_in(self) -> None:
        login = {"username": self.username, "password": PASSWORD}
        async with self.http.post(f"{self.url}/api/login", json=login) as response:
            if response.status != 200:
                raise BenchError(f"login failed: {response.status} {await response.text()}")

    async def connect(self) -> Welcome:
        query = ""
        if self.welcome is not None:
            query = f"?resume={self.welcome.resume_token}&last_seq={self.last_seq}"
        self.ws = await self.http.ws_connect("ws" + self.url.removeprefix("http") + "/ws/agent" + query)
        async with asyncio.timeout(WAIT_S):
            first = decode_server((await self.ws.receive()).data)
        if not isinstance(first, Welcome):
            raise BenchError(f"the agent's first message was {first!r}")
        if not first.resumed:
            self.last_seq = first.last_seq
        self.welcome = first
        self.reader = asyncio.create_task(self._read(self.ws))
        return first

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                seq, body = split_seq(msg.data)
                if seq is not None:
                    if seq <= self.last_seq:
                        continue
                    self.last_seq = seq
                self.inbox.put_nowait(decode_server(body))

    def cut(self) -> None:
        assert self.ws is not None
        cut(self.ws)

    async def send(self, message: AgentInbound) -> None:
        assert self.ws is not None
        await self.ws.send_str(encode(message))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        await super().close()
        await self.http.close()


async def protocol_call(kiosk: KioskParty, agent: AgentParty) -> str:
    """A call accepted by the agent; returns its id (it stays connecting: SDP and ICE are relayed). An
    agent still wrapping up an earlier call (one that broke) wraps it up first."""
    await kiosk.connect()
    await agent.sign_in()
    welcome = await agent.connect()
    if welcome.agent_state is AgentState.WRAP_UP and welcome.call_id is not None:
        await agent.send(WrapUp(call_id=welcome.call_id, disposition=DEFAULT_DISPOSITIONS[0]))
    await agent.send(SetState(state="available"))
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await agent.expect(Offer)).call_id
    await agent.send(Accept(call_id=call_id))
    await agent.expect(CallAccepted)
    await kiosk.expect(AgentJoined)
    return call_id


def candidate(n: int) -> IceCandidate:
    return IceCandidate(
        candidate=f"candidate:{n} 1 udp 2122260223 127.0.0.1 {40000 + n} typ host", sdpMid="0"
    )


async def resume_once(away: Party, other: Party, call_id: str, marker: IceCandidate) -> float:
    """Cut ``away``, have ``other`` send it ``marker``, reconnect at once; ms from the cut to ``marker``."""
    started = time.perf_counter()
    away.cut()
    await other.send(Ice(call_id=call_id, candidate=marker))  # said to the party while it is away
    await away.dropped()
    await asyncio.sleep(next(reconnect_delays()))  # the kiosk program's first backoff step: about 0 s
    welcome = await away.connect()
    got = await away.expect(Ice, CallEnded)
    elapsed = (time.perf_counter() - started) * 1000
    if isinstance(got, CallEnded):
        raise CallBroke(f"{away.name} cut: the call ended ({got.reason}); resumed={welcome.resumed}")
    if not welcome.resumed:
        raise CallBroke(f"{away.name} cut: its session was not resumed (a new session)")
    if got.candidate != marker:
        raise BenchError(f"{away.name} got {got.candidate!r} first, not {marker.candidate!r}")
    return elapsed


@dataclass
class ResumeResult:
    kiosk_ms: list[float] = field(default_factory=list)
    agent_ms: list[float] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    """Cuts the call did not survive (a new call is set up and the runs go on)."""
    error: str | None = None


async def measure_resume(served: ServedProcess, secret: str, runs: int) -> ResumeResult:
    """Cut the kiosk, then the agent, ``runs`` times each; a call that breaks is replaced by a new one."""
    result = ResumeResult()
    while len(result.agent_ms) < runs and len(result.broken) < runs and result.error is None:
        kiosk = KioskParty(served.url, "bench-resume-kiosk", secret)
        agent = AgentParty(served.url, "bench-resume")
        try:
            await _resume_runs(kiosk, agent, result, runs)
        except CallBroke as exc:
            result.broken.append(f"cut {len(result.kiosk_ms) + len(result.agent_ms) + 1}: {exc}")
            progress(f"resume: the call broke: {exc}")
        except (BenchError, TimeoutError, aiohttp.ClientError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            await kiosk.close()
            await agent.close()
    return result


async def _resume_runs(kiosk: KioskParty, agent: AgentParty, result: ResumeResult, runs: int) -> None:
    call_id = await protocol_call(kiosk, agent)
    while len(result.agent_ms) < runs:
        n = len(result.kiosk_ms) + len(result.agent_ms)
        result.kiosk_ms.append(await resume_once(kiosk, agent, call_id, candidate(n)))
        result.agent_ms.append(await resume_once(agent, kiosk, call_id, candidate(n + 1)))
    await kiosk.send(Hangup(call_id=call_id))


# -------------------------------------------------------------------------------- media recovery
# In the page: times (page wall clock, ms) the first video frame presented from a peer connection other
# than the one current at arm(), and only from a track that connection receives; arm() before a call
# counts the call's first frame. The console gives each new connection a new MediaStream when it takes
# the kiosk's new offer: the element's `loadstart` then marks the offer's arrival, and the frame callback
# is requested again.
RECOVERY_PROBE = """() => {
  const video = document.getElementById('remote-video');
  const probe = {since: null, first: null, offered: null, handle: 0};
  const fromNewConnection = () => {
    const pc = window.kioskAssist.pc;
    const shown = video.srcObject ? video.srcObject.getVideoTracks() : [];
    return pc !== null && pc !== probe.since && pc.getReceivers().some((r) => shown.includes(r.track));
  };
  const onFrame = (now) => {
    if (probe.first === null && fromNewConnection()) probe.first = performance.timeOrigin + now;
    probe.handle = video.requestVideoFrameCallback(onFrame);
  };
  const request = () => {
    video.cancelVideoFrameCallback(probe.handle);
    probe.handle = video.requestVideoFrameCallback(onFrame);
  };
  video.addEventListener('loadstart', () => {
    if (probe.offered === null) probe.offered = performance.timeOrigin + performance.now();
    request();
  });
  request();
  window.__recovery = {
    arm() { probe.since = window.kioskAssist.pc; probe.first = null; probe.offered = null; },
    first() { return probe.first; },
    offered() { return probe.offered; },
    now() { return performance.timeOrigin + performance.now(); },
  };
}"""


class KioskWatch:
    """The kiosk program's events, each with the wall-clock time it was written; waits without polling."""

    def __init__(self, runner: KioskRunner, task: asyncio.Task[Any]) -> None:
        self.records: list[tuple[float, dict[str, Any]]] = []
        self._written = asyncio.Event()
        self._task = task
        task.add_done_callback(lambda _: self._written.set())
        runner.events = EventLog(None, self._seen)

    def _seen(self, record: dict[str, Any]) -> None:
        self.records.append((time.time(), record))
        self._written.set()

    async def next(self, kind: str, since: int, timeout: float) -> tuple[float, dict[str, Any]]:
        """The first ``kind`` event from index ``since`` on, waiting (bounded) until it is written."""
        async with asyncio.timeout(timeout):
            while True:
                for at, record in self.records[since:]:
                    if record["event"] == kind:
                        return at, record
                if self._task.done():
                    raise BenchError(f"the kiosk program stopped: {self._task.result()!r}")
                self._written.clear()
                await self._written.wait()  # set by each event, and when the kiosk program stops

    def since(self, index: int, origin: float) -> list[str]:
        """The events from index ``index`` on, each as ``+ms kind``, ms from ``origin``."""
        return [f"+{(at - origin) * 1000:.0f} {r['event']}" for at, r in self.records[index:]]


class KioskLog(logging.Handler):
    """The kiosk program's log lines (re-offers that failed or timed out are only logged)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.created, f"{record.levelname} {record.getMessage()}"))

    def since(self, origin: float) -> list[str]:
        return [f"+{(at - origin) * 1000:.0f} {line}" for at, line in self.lines if at >= origin]


@dataclass
class MediaRun:
    detect_ms: float | None = None
    """Relay killed → the kiosk's ``media_lost``."""
    back_ms: float | None = None
    """Relay killed → the first frame of the new connection presented in the page (the headline)."""
    detect_to_back_ms: float | None = None
    offer_at_page_ms: float | None = None
    """Relay killed → the console takes the kiosk's new offer (a new peer connection and stream)."""
    kiosk_took_ms: int | None = None
    """The kiosk's own ``media_restored.took_ms``: ``media_lost`` → the new connection's first heartbeat."""
    relay_restart_ms: float | None = None
    """Kill → the new coturn answering STUN."""
    page_clock_offset_ms: float | None = None
    """The page's wall clock minus the benchmark's (page times are corrected by it)..."""
    page_clock_rtt_ms: float | None = None
    """... measured over a page round trip this long (the offset is known to ± half of it)."""
    kiosk_events: list[str] = field(default_factory=list)
    kiosk_log: list[str] = field(default_factory=list)
    error: str | None = None


async def page_clock_offset(page: Page) -> tuple[float, float]:
    """The page's wall clock minus this process's, in ms, and the round trip it was read over (the
    shortest of five)."""
    best: tuple[float, float] | None = None
    for _ in range(5):
        before = time.time() * 1000
        page_now = float(await page.evaluate("window.__recovery.now()"))
        after = time.time() * 1000
        if best is None or after - before < best[1]:
            best = (page_now - (before + after) / 2, after - before)
    assert best is not None
    return best


async def heartbeats_flow(runner: KioskRunner) -> None:
    """The kiosk has heard the console's heartbeat on the current connection: a later silence is a break.
    (Before the first heartbeat the kiosk waits for the connection as a new one, up to 15 s.)"""
    assert runner.peer is not None
    await asyncio.wait_for(runner.peer.alive.wait(), WAIT_S)


async def break_and_mend(
    turn: TurnServer, page: Page, runner: KioskRunner, watch: KioskWatch, log: KioskLog
) -> MediaRun:
    run = MediaRun()
    await heartbeats_flow(runner)
    offset, rtt = await page_clock_offset(page)
    run.page_clock_offset_ms, run.page_clock_rtt_ms = round(offset, 2), round(rtt, 2)
    await page.evaluate("window.__recovery.arm()")
    index = len(watch.records)
    broken = time.time()
    try:
        await turn.stop()
        await turn.start()
        run.relay_restart_ms = round((time.time() - broken) * 1000, 1)
        lost, _ = await watch.next("media_lost", index, LOST_WAIT_S)
        run.detect_ms = round((lost - broken) * 1000, 1)
        _, restored = await watch.next("media_restored", index, BACK_WAIT_S)
        run.kiosk_took_ms = restored["took_ms"]
        frame = await page.wait_for_function("window.__recovery.first()", timeout=PAGE_WAIT_MS)
        run.back_ms = round(float(await frame.json_value()) - offset - broken * 1000, 1)
        run.detect_to_back_ms = round(run.back_ms - run.detect_ms, 1)
        offered = await page.evaluate("window.__recovery.offered()")
        if offered is not None:
            run.offer_at_page_ms = round(float(offered) - offset - broken * 1000, 1)
    except (BenchError, TimeoutError, PageTimeout) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        run.kiosk_events = watch.since(index, broken)
        run.kiosk_log = log.since(broken)
    return run


async def console_available(page: Page, url: str) -> None:
    """The console signed in and available, with the probe in the page, armed for the call's first frame."""
    await page.goto(url)
    await page.get_by_test_id("login-username").fill("bench-console")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.get_by_test_id("state-available").click()
    await page.evaluate(RECOVERY_PROBE)
    await page.evaluate("window.__recovery.arm()")


async def accept_call(page: Page, watch: KioskWatch) -> None:
    """The agent accepts the kiosk's call; the kiosk's video plays in the page."""
    await page.get_by_test_id("accept-call").click(timeout=PAGE_WAIT_MS)
    await page.wait_for_function("window.__recovery.first()", timeout=PAGE_WAIT_MS)
    await watch.next("connected", 0, WAIT_S)


async def measure_media(served: ServedProcess, turn: TurnServer, secret: str, runs: int) -> list[MediaRun]:
    log = KioskLog()
    logging.getLogger("kiosk_client").addHandler(log)
    logging.getLogger("kiosk_client").setLevel(logging.INFO)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), headless=True
        )
        try:
            return await _media_runs(browser, served.url, turn, secret, log, runs)
        finally:
            await browser.close()
            logging.getLogger("kiosk_client").removeHandler(log)


async def _media_runs(
    browser: Browser, url: str, turn: TurnServer, secret: str, log: KioskLog, runs: int
) -> list[MediaRun]:
    page = await browser.new_page()
    await console_available(page, url)
    source = open_media("synthetic")
    options = KioskOptions(server=url, kiosk_id="bench-media-kiosk", secret=secret, request_help="cash")
    runner = KioskRunner(options, source=source)
    task = asyncio.create_task(runner.run())
    try:
        watch = KioskWatch(runner, task)
        await accept_call(page, watch)
        results = await _break_runs(turn, page, runner, watch, log, runs)
        await runner.hang_up()
        await asyncio.wait_for(asyncio.shield(task), WAIT_S)
        return results
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.close()


async def _break_runs(
    turn: TurnServer, page: Page, runner: KioskRunner, watch: KioskWatch, log: KioskLog, runs: int
) -> list[MediaRun]:
    results: list[MediaRun] = []
    for n in range(runs):
        results.append(await break_and_mend(turn, page, runner, watch, log))
        progress(f"media run {n + 1}: {_describe(results[-1])}")
        if results[-1].error is not None:
            break  # the call did not come back: later runs would measure nothing
    return results


def _describe(run: MediaRun) -> str:
    if run.error is not None:
        return f"FAILED {run.error}; kiosk events {run.kiosk_events}"
    return f"detect {run.detect_ms} ms, back {run.back_ms} ms, kiosk took {run.kiosk_took_ms} ms"


# ---------------------------------------------------------------------------------------- the run
async def prepare(served: ServedProcess) -> dict[str, str]:
    """Two agents (one for each phase) and two kiosks; returns the kiosks' secrets."""
    for name in ("bench-resume", "bench-console"):
        await served.cli("users", "add", name, "--role", "agent", "--skills", "cash", "--password-stdin",
                         stdin=PASSWORD + "\n")  # fmt: skip
    secrets = {}
    for kiosk_id in ("bench-resume-kiosk", "bench-media-kiosk"):
        out = await served.cli("kiosks", "enroll", kiosk_id, "--location", "Bench lab", "--json")
        secrets[kiosk_id] = json.loads(out)["secret"]
    return secrets


async def run(runs: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="ka-bench-recovery-"))
    async with AsyncExitStack() as stack:
        turn = await stack.enter_async_context(TurnServer(data_dir / "turn"))
        secret_file = data_dir / "turn-secret"
        secret_file.write_text(turn.secret)
        served = await stack.enter_async_context(
            serve_process(data_dir, "--ice-server", turn.url, "--turn-secret-file", str(secret_file),
                          "--ice-transport-policy", "relay")
        )  # fmt: skip
        secrets = await prepare(served)
        progress("signalling resume")
        resume = await measure_resume(served, secrets["bench-resume-kiosk"], runs)
        progress(f"media recovery through {turn.url}")
        media = await measure_media(served, turn, secrets["bench-media-kiosk"], runs)
    if served.redis_url is not None:  # the server has stopped: its keys in the shared Redis go too
        redis: Redis = Redis.from_url(served.redis_url)
        try:
            await delete_prefix(redis, served.redis_prefix)
        finally:
            await redis.aclose()
    return report(resume, media, runs, data_dir)


def report(resume: ResumeResult, media: list[MediaRun], runs: int, data_dir: Path) -> dict[str, Any]:
    kiosk, agent = summary(resume.kiosk_ms), summary(resume.agent_ms)
    both = summary(resume.kiosk_ms + resume.agent_ms)
    done = [r for r in media if r.error is None]
    back = summary([r.back_ms for r in done if r.back_ms is not None])
    detect = summary([r.detect_ms for r in done if r.detect_ms is not None])
    after = summary([r.detect_to_back_ms for r in done if r.detect_to_back_ms is not None])
    took = summary([float(r.kiosk_took_ms) for r in done if r.kiosk_took_ms is not None])
    offered = summary([r.offer_at_page_ms for r in done if r.offer_at_page_ms is not None])
    failures = [r for r in media if r.error is not None]
    return {
        "resume_ms_median": both["median"],
        "resume_ms_p90": both["p90"],
        "resume_ms_max": both["max"],
        "resume_cuts": len(resume.kiosk_ms) + len(resume.agent_ms) + len(resume.broken),
        "resume_calls_broken": len(resume.broken),
        "media_reestablish_ms_median": back["median"],
        "media_reestablish_ms_p90": back["p90"],
        "media_reestablish_ms_max": back["max"],
        "media_detect_ms_median": detect["median"],
        "media_detect_to_back_ms_median": after["median"],
        "targets": TARGETS,
        "met": {
            "resume_ms": both["median"] is not None and both["median"] <= TARGETS["resume_ms"],
            "media_reestablish_ms": back["median"] is not None
            and back["median"] <= TARGETS["media_reestablish_ms"],
        },
        "runs": runs,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "resume": {
            "kiosk": kiosk, "agent": agent, "broken": resume.broken, "error": resume.error,
            "kiosk_ms": [round(x, 1) for x in resume.kiosk_ms],
            "agent_ms": [round(x, 1) for x in resume.agent_ms],
        },
        "media": {
            "back": back, "detect": detect, "offer_at_page": offered, "detect_to_back": after,
            "kiosk_took": took,
            "recovered": len(done), "failed": len(failures), "runs": [asdict(r) for r in media],
        },
        "data_dir": str(data_dir),
    }  # fmt: skip


def failed(result: dict[str, Any], runs: int) -> bool:
    resume, media = result["resume"], result["media"]
    broken = resume["error"] is not None or bool(resume["broken"])
    return broken or media["failed"] > 0 or media["recovered"] < runs


def print_human(result: dict[str, Any]) -> None:
    resume, media = result["resume"], result["media"]
    print(f"runs: {result['runs']}   load average (1 min) at the end: {result['load_avg_1m']}")
    print(f"signalling resume, cut → first missed message (target median ≤ {TARGETS['resume_ms']:.0f} ms)")
    every = (result[f"resume_ms_{k}"] for k in ("median", "p90", "max"))
    print("  all:   median {} p90 {} max {}".format(*every))
    print(f"  kiosk: {resume['kiosk']}   {resume['kiosk_ms']}")
    print(f"  agent: {resume['agent']}   {resume['agent_ms']}")
    for broken in resume["broken"]:
        print(f"  CALL BROKE at {broken}")
    if resume["error"]:
        print(f"  FAILED: {resume['error']}")
    print(f"media, relay killed → (target median back ≤ {TARGETS['media_reestablish_ms']:.0f} ms)")
    print(f"  kiosk detects:          {media['detect']}")
    print(f"  first new frame shown:  {media['back']}")
    print(f"  new offer at the page:  {media['offer_at_page']}")
    print(f"  detect → frame:         {media['detect_to_back']}")
    print(f"  kiosk's took_ms:        {media['kiosk_took']}")
    for n, r in enumerate(media["runs"], 1):
        times = (
            f"detect {r['detect_ms']} offer {r['offer_at_page_ms']} back {r['back_ms']} "
            f"relay restart {r['relay_restart_ms']} ms"
        )
        failure = f" FAILED {r['error']}" if r["error"] else ""
        print(f"  run {n}: {times}; kiosk events {r['kiosk_events']}{failure}")
        for line in r["kiosk_log"]:
            print(f"      {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs", type=int, default=RUNS, help="runs of each phase (at least 10 for the record)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    result = asyncio.run(run(args.runs))
    bad = failed(result, args.runs)
    if bad:
        progress(f"kept {result['data_dir']} (server.log, turn/)")
    else:
        shutil.rmtree(result["data_dir"], ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        print_human(result)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
