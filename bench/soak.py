"""Soak: one real call held for minutes. Does its video latency or its memory grow?

The parts run as deployed: ``kiosk-assist serve`` in its own process (the local Redis when one answers,
else the embedded one; SQLite under a scratch directory; see bench/servers.py), and the kiosk program in
its own process (``kiosk-assist kiosk run --media synthetic --events FILE``: 640x480 video at 30 fps with
its frame counter burned in, and a tone). The agent's side lives in this process: the console's WebSocket
(sign in, go available, accept) and a real aiortc peer, as tests/agent_peer.py, that answers the kiosk's
offer with its own synthetic camera and microphone and answers the kiosk's heartbeats on the ``control``
data channel (without them the kiosk declares the media lost after 2 s and offers again).

Every ``SAMPLE_S`` seconds: the kiosk's and the server's resident memory (VmRSS in /proc/PID/status) and
the kiosk's main heap (``[heap]`` in /proc/PID/smaps), the frames the agent decoded, and the kiosk's
``media_lost`` events (its event file).

Latency, kiosk → agent: every decoded frame's counter ``n`` is read at the agent and stamped with
``time.monotonic()`` when aiortc hands the frame over. The kiosk's synthetic camera makes frame ``n`` due at
``T0 + n / 30`` s (its pacing is computed from the index, so it does not drift, and a frame that leaves late
is late, not re-timed), so ``arrival - n / 30 = T0 + latency(n)``. ``T0`` is not known in this process, but
it is one constant for the whole call, so ``latency(n) - min latency`` is exact: the lag of each frame
behind the call's fastest frame. It holds everything on the way (encoding, packetisation, loopback UDP,
the jitter buffer, decoding, and either event loop being late); the fastest frame's own latency, a
constant, cancels, which is what a test for growth needs.

Run: ``python -m bench.soak [--minutes 10] [--json]``. The exit status is 1 when a check fails; the
scratch directory (server.log, kiosk.log, kiosk-events.jsonl) is then kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame
from redis.asyncio import Redis

from bench.servers import ServedProcess, serve_process
from media import LatestFrameConsumer, SyntheticAudioTrack, SyntheticVideoTrack, read_frame_counter
from signaling.protocol import (
    Accept,
    AgentInbound,
    CallAccepted,
    CallEnded,
    Error,
    Hangup,
    Ice,
    Offer,
    ProtocolError,
    SdpType,
    ServerMessage,
    SessionDescription,
    SetState,
    Welcome,
    decode_server,
    encode,
)

M = TypeVar("M")

SAMPLE_S = 10.0
SENDER_FPS = 30.0
"""What ``kiosk run --media synthetic`` sends (``open_media``'s default)."""
SETUP_S = 30.0
"""Bound on each step of setting the call up (the kiosk process imports aiortc first)."""
END_S = 20.0
HEARTBEAT = '{"type":"heartbeat"}'
AGENT, PASSWORD, KIOSK_ID, TOPIC = "soak-agent", "soak-password", "soak-kiosk", "cash"

WINDOW_S = 60.0
"""First and last "minute" compared (half the run when it is shorter than two minutes)."""
WARM_UP_S = 60.0
"""Left out of the memory slope (a third of the run when it is shorter than three minutes)."""
MAX_LATENCY_DRIFT_MS = 20.0
"""Under one frame interval (33 ms): a queue building up anywhere on the way adds whole frame intervals."""
MAX_RSS_SLOPE_MIB_PER_MIN = 0.5
"""30 MiB an hour: a leak of ~300 bytes per frame sent, or of one 640x480 frame a minute, crosses it."""
MIN_WINDOW_FPS = 15.0
"""Video kept flowing in every window (half the 30 fps sent): the soak's figures stand for a live call."""


class BenchError(RuntimeError):
    """The soak could not go on (the call ended, a process exited, a step timed out)."""


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"no VmRSS for process {pid}")


def heap_mib(pid: int) -> float:
    """The resident part of process ``pid``'s ``[heap]`` mapping (glibc's main arena), in MiB.

    Shown beside RSS: threads' arenas and large blocks live in other mappings and come and go in steps of
    several MiB, while a slow climb of the main heap is what a leak in the event loop's thread looks like.
    """
    in_heap = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if line.endswith("[heap]"):
            in_heap = True
        elif in_heap and line.startswith("Rss:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------------------------------ the kiosk
@dataclass(frozen=True)
class KioskProcess:
    process: asyncio.subprocess.Process
    events_path: Path

    def events(self) -> list[dict[str, Any]]:
        """The kiosk's events so far (a line still being written is left for the next read)."""
        if not self.events_path.exists():
            return []
        lines = self.events_path.read_text().splitlines()
        out = []
        for line in lines:
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events() if e.get("event") == kind)


@asynccontextmanager
async def kiosk_process(url: str, secret: str, scratch: Path) -> AsyncIterator[KioskProcess]:
    """``kiosk-assist kiosk run`` asking for help, as a kiosk runs it; stopped on the way out."""
    secret_file, events = scratch / "kiosk-secret", scratch / "kiosk-events.jsonl"
    secret_file.write_text(secret + "\n")
    log = (scratch / "kiosk.log").open("ab")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling.cli", "kiosk", "run", "--server", url, "--kiosk-id", KIOSK_ID,
        "--secret-file", str(secret_file), "--media", "synthetic", "--request-help", TOPIC,
        "--events", str(events), "--headless", stdout=asyncio.subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        yield KioskProcess(process, events)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), END_S)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


# ------------------------------------------------------------------------------------------ the agent
class FrameClock:
    """Reads the counter of every frame decoded from ``track`` and stamps its arrival (monotonic s)."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.frames: list[tuple[float, int]] = []
        self.unreadable = 0
        self.first = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="frame-clock")

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await self.track.recv()
                at = time.monotonic()
                counter = read_frame_counter(frame) if isinstance(frame, VideoFrame) else None
                if counter is None:
                    self.unreadable += 1
                else:
                    self.frames.append((at, counter))
                    self.first.set()

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class AgentSide:
    """The agent's console socket and a real aiortc peer that answers the kiosk's offer."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http, self.ws = http, ws
        self.offers = 0
        """SDP offers from the kiosk: more than one means it offered again (it thought media lost)."""
        self.ended: CallEnded | None = None
        self._inbox: asyncio.Queue[ServerMessage | None] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(), name="agent-socket")
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # loopback: no STUN
        self.tracks: list[MediaStreamTrack] = [SyntheticVideoTrack(320, 240), SyntheticAudioTrack()]
        self.clock: FrameClock | None = None
        self.audio: LatestFrameConsumer | None = None
        self.video_arrived = asyncio.Event()
        self.pc.on("track", self._on_track)
        self.pc.on("datachannel", self._on_channel)

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    decoded = decode_server(msg.data)
                except ProtocolError:
                    continue  # a message type newer than this benchmark: not one it waits for
                if isinstance(decoded, SessionDescription) and decoded.sdp_type is SdpType.OFFER:
                    self.offers += 1
                elif isinstance(decoded, CallEnded):
                    self.ended = decoded
                self._inbox.put_nowait(decoded)
        finally:
            self._inbox.put_nowait(None)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self.clock = FrameClock(track)
            self.video_arrived.set()
        else:  # drained, or aiortc queues it without bound
            self.audio = LatestFrameConsumer(track)
            self.audio.start()

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label == "control":  # answer the kiosk's heartbeats, as the console does
            channel.on("message", lambda _m: channel.send(HEARTBEAT))

    async def send(self, message: AgentInbound) -> None:
        await self.ws.send_str(encode(message))

    async def expect(self, kind: type[M], where: Callable[[M], bool] | None = None) -> M:
        """The next message of ``kind`` satisfying ``where`` (others skipped), within ``SETUP_S``."""
        try:
            async with asyncio.timeout(SETUP_S):
                while True:
                    msg = await self._inbox.get()
                    if msg is None:
                        raise BenchError("the server closed the agent's socket")
                    if isinstance(msg, Error):
                        raise BenchError(f"the server refused the agent's message: {msg}")
                    if isinstance(msg, kind) and (where is None or where(msg)):
                        return msg
        except TimeoutError:
            raise BenchError(f"agent: no {kind.__name__} within {SETUP_S:.0f} s") from None

    async def take_call(self) -> str:
        """Accept the offered call and answer the kiosk's SDP offer; returns the call id."""
        call_id = (await self.expect(Offer)).call_id
        await self.send(Accept(call_id=call_id))
        await self.expect(CallAccepted)
        offer = await self.expect(SessionDescription, lambda m: m.sdp_type is SdpType.OFFER)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        for track in self.tracks:
            self.pc.addTrack(track)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        sdp = self.pc.localDescription.sdp
        await self.send(SessionDescription(call_id=call_id, sdp_type=SdpType.ANSWER, sdp=sdp))
        await self.send(Ice(call_id=call_id, candidate=None))
        return call_id

    async def first_frame(self) -> FrameClock:
        """The clock of the kiosk's video, once its first frame has been decoded (bounded)."""
        try:
            async with asyncio.timeout(SETUP_S):
                await self.video_arrived.wait()
                assert self.clock is not None
                await self.clock.first.wait()
        except TimeoutError:
            raise BenchError(f"no video frame from the kiosk within {SETUP_S:.0f} s") from None
        return self.clock

    async def close(self) -> None:
        if self.clock is not None:
            await self.clock.stop()
        if self.audio is not None:
            await self.audio.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.pc.close()
        for track in self.tracks:
            track.stop()
        with contextlib.suppress(TimeoutError, aiohttp.ClientError, ConnectionError):
            await asyncio.wait_for(self.ws.close(), 5)
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        await self.http.close()


@asynccontextmanager
async def agent_side(url: str) -> AsyncIterator[AgentSide]:
    """An agent signed in with a password (as the console is) and available."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with http.post(f"{url}/api/login", json={"username": AGENT, "password": PASSWORD}) as r:
            if r.status != 200:
                raise BenchError(f"agent login failed: {r.status} {await r.text()}")
        ws = await http.ws_connect("ws" + url.removeprefix("http") + "/ws/agent")
    except BaseException:
        await http.close()
        raise
    agent = AgentSide(http, ws)
    try:
        await agent.expect(Welcome)
        await agent.send(SetState(state="available"))
        yield agent
    finally:
        await agent.close()


# -------------------------------------------------------------------------------------------- the run
@dataclass
class Sample:
    t_s: float
    """Since the first decoded frame."""
    kiosk_rss_mib: float
    server_rss_mib: float
    kiosk_heap_mib: float
    """The kiosk's main heap (see :func:`heap_mib`); part of its RSS."""
    fps: float
    """Frames the agent decoded in this window, per second."""
    media_lost: int
    """The kiosk's ``media_lost`` events so far."""
    load_1m: float
    """The machine's one-minute load average (other work competes for the same cores)."""
    frames_end: int
    """Index in the frame clock where this window ends."""
    latency_ms_median: float | None = None
    latency_ms_p95: float | None = None


async def hold_call(
    duration_s: float, agent: AgentSide, clock: FrameClock, kiosk: KioskProcess, server_pid: int
) -> list[Sample]:
    """Sample every ``SAMPLE_S`` for ``duration_s``; stops early if the kiosk exits or the call ends."""
    start = time.monotonic()
    exited = asyncio.ensure_future(kiosk.process.wait())
    samples: list[Sample] = []
    floor = float("inf")
    try:
        for k in range(1, round(duration_s / SAMPLE_S) + 1):
            done, _ = await asyncio.wait({exited}, timeout=max(start + k * SAMPLE_S - time.monotonic(), 0))
            if done:  # the sampling interval ended early: the kiosk program has gone
                raise BenchError(f"the kiosk program exited during the call ({kiosk.process.returncode})")
            if agent.ended is not None:
                raise BenchError(f"the call ended during the soak: {agent.ended.reason}")
            seen = samples[-1].frames_end if samples else 0
            samples.append(_sample(start, start + (k - 1) * SAMPLE_S, clock, seen, kiosk, server_pid))
            offsets = [at - n / SENDER_FPS for at, n in clock.frames[seen : samples[-1].frames_end]]
            floor = min([floor, *offsets])
            _show(samples[-1], (statistics.median(offsets) - floor) * 1000 if offsets else float("nan"))
    finally:
        exited.cancel()
    return samples


def _sample(
    start: float, window_start: float, clock: FrameClock, seen: int, kiosk: KioskProcess, server_pid: int
) -> Sample:
    now, received = time.monotonic(), len(clock.frames) - seen
    return Sample(
        t_s=round(now - start, 1),
        kiosk_rss_mib=rss_mib(kiosk.process.pid),
        server_rss_mib=rss_mib(server_pid),
        kiosk_heap_mib=heap_mib(kiosk.process.pid),
        fps=received / (now - window_start),
        media_lost=kiosk.count("media_lost"),
        load_1m=os.getloadavg()[0],
        frames_end=seen + received,
    )


def _show(sample: Sample, lag_ms: float) -> None:
    """One progress line; ``lag_ms`` is behind the fastest frame so far (the report uses the whole call's)."""
    progress(
        f"{sample.t_s:6.0f} s  kiosk {sample.kiosk_rss_mib:6.1f} MiB (heap {sample.kiosk_heap_mib:5.1f})  "
        f"server {sample.server_rss_mib:6.1f} MiB  {sample.fps:5.1f} fps  lag {lag_ms:6.1f} ms  "
        f"media_lost {sample.media_lost}  load {sample.load_1m:.2f}"
    )


async def end_call(agent: AgentSide, call_id: str, kiosk: KioskProcess) -> None:
    """The agent hangs up; the kiosk program is told and exits (bounded)."""
    await agent.send(Hangup(call_id=call_id))
    try:
        await asyncio.wait_for(kiosk.process.wait(), END_S)
    except TimeoutError:
        raise BenchError(f"the kiosk program did not exit within {END_S:.0f} s of the hang-up") from None
    await agent.expect(CallEnded)


@dataclass(frozen=True)
class CallRecord:
    samples: list[Sample]
    frames: list[tuple[float, int]]
    unreadable: int
    events: list[str]
    offers: int


async def soak(duration_s: float, scratch: Path) -> dict[str, Any]:
    async with serve_process(scratch) as served:
        try:
            call = await _hold_one_call(served, duration_s, scratch)
        finally:
            await served.stop()
            if served.redis_url:  # the shared local Redis: leave none of this run's keys behind
                await _forget(served.redis_url, served.redis_prefix)
    result = analyse(call.samples, call.frames, duration_s)
    result.update(
        server="kiosk-assist serve, own process, Redis " + ("local" if served.redis_url else "embedded"),
        kiosk="kiosk-assist kiosk run --media synthetic, own process",
        agent="aiortc peer in the benchmark process",
        unreadable_frames=call.unreadable,
        kiosk_events=call.events,
        sdp_offers=call.offers,
    )
    result["checks"].append(_check("kiosk offers (1 = no re-offer)", call.offers, 1, call.offers == 1))
    result["passed"] = all(c["ok"] for c in result["checks"])
    return result


async def _hold_one_call(served: ServedProcess, duration_s: float, scratch: Path) -> CallRecord:
    await _prepare_store(served)
    secret = json.loads(await served.cli("kiosks", "enroll", KIOSK_ID, "--location", "Soak", "--json"))
    async with agent_side(served.url) as agent, kiosk_process(served.url, secret["secret"], scratch) as k:
        call_id = await agent.take_call()
        clock = await agent.first_frame()
        progress(f"call {call_id} up; holding it for {duration_s:.0f} s")
        samples = await hold_call(duration_s, agent, clock, k, served.pid)
        await end_call(agent, call_id, k)
        events = [e["event"] for e in k.events()]
    return CallRecord(samples, clock.frames, clock.unreadable, events, agent.offers)


async def _forget(redis_url: str, prefix: str) -> None:
    """Delete the run's keys from the shared local Redis (an embedded one goes with the server)."""
    redis: Redis = Redis.from_url(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await redis.unlink(*keys)
    finally:
        await redis.aclose()


async def _prepare_store(served: ServedProcess) -> None:
    await served.cli("users", "add", AGENT, "--role", "agent", "--skills", TOPIC, "--password-stdin",
                     stdin=PASSWORD + "\n")  # fmt: skip


# ------------------------------------------------------------------------------------------ analysis
def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _p95(values: Sequence[float]) -> float | None:
    return round(sorted(values)[int(0.95 * (len(values) - 1))], 2) if values else None


def _slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(seconds, value)`` points, per minute."""
    if len(points) < 3:
        return None
    return round(statistics.linear_regression([t / 60 for t, _ in points], [v for _, v in points])[0], 3)


def _check(name: str, value: float | None, limit: float, ok: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "limit": limit, "ok": ok}


def analyse(samples: list[Sample], frames: list[tuple[float, int]], duration_s: float) -> dict[str, Any]:
    """First- and last-minute medians, slopes after warm-up, and the checks against the thresholds."""
    offsets = [at - n / SENDER_FPS for at, n in frames]
    floor = min(offsets)
    latency = [(o - floor) * 1000 for o in offsets]
    for i, sample in enumerate(samples):
        window = latency[samples[i - 1].frames_end if i else 0 : sample.frames_end]
        sample.latency_ms_median, sample.latency_ms_p95 = _median(window), _p95(window)
    edge, warm_up = min(WINDOW_S, duration_s / 2), min(WARM_UP_S, duration_s / 3)
    last_t = samples[-1].t_s
    since_start = [at - frames[0][0] for at, _ in frames]
    first = [x for t, x in zip(since_start, latency, strict=True) if t <= edge]
    last = [x for t, x in zip(since_start, latency, strict=True) if t > last_t - edge]
    drift = round(statistics.median(last) - statistics.median(first), 2)
    settled = [s for s in samples if s.t_s > warm_up]
    fps_min, lost = round(min(s.fps for s in samples), 2), samples[-1].media_lost
    result: dict[str, Any] = {
        "minutes": round(duration_s / 60, 2),
        "latency_ms_first_minute_median": _median(first),
        "latency_ms_last_minute_median": _median(last),
        "latency_drift_ms": drift,
        "latency_slope_ms_per_min": _slope_per_min([(s.t_s, s.latency_ms_median or 0.0) for s in settled]),
        "fps_median": _median([s.fps for s in samples]),
        "fps_min": fps_min,
        "media_lost": lost,
        "kiosk_heap_slope_mib_per_min": _slope_per_min([(s.t_s, s.kiosk_heap_mib) for s in settled]),
    }
    checks = [
        _check("latency drift, last - first minute (ms)", drift, MAX_LATENCY_DRIFT_MS,
               drift < MAX_LATENCY_DRIFT_MS),
        _check("every window's frame rate (fps)", fps_min, MIN_WINDOW_FPS, fps_min >= MIN_WINDOW_FPS),
        _check("kiosk media_lost events", lost, 0, lost == 0),
    ]  # fmt: skip
    for who in ("kiosk", "server"):
        checks.append(_rss_summary(result, samples, who, (edge, warm_up)))
    result["checks"] = checks
    result["samples"] = [{k: v for k, v in asdict(s).items() if k != "frames_end"} for s in samples]
    result["frames"] = len(frames)
    return result


def _rss_summary(
    result: dict[str, Any], samples: list[Sample], who: str, edges: tuple[float, float]
) -> dict[str, Any]:
    """Put ``who``'s first- and last-minute RSS medians and slope into ``result``; return its check."""
    edge, warm_up = edges
    points = [(s.t_s, float(getattr(s, f"{who}_rss_mib"))) for s in samples]
    last_t = points[-1][0]
    slope = _slope_per_min([p for p in points if p[0] > warm_up])
    result[f"{who}_rss_mib_first_minute_median"] = _median([v for t, v in points if t <= edge])
    result[f"{who}_rss_mib_last_minute_median"] = _median([v for t, v in points if t > last_t - edge])
    result[f"{who}_rss_slope_mib_per_min"] = slope
    ok = slope is not None and slope < MAX_RSS_SLOPE_MIB_PER_MIN
    return _check(f"{who} RSS slope after warm-up (MiB/min)", slope, MAX_RSS_SLOPE_MIB_PER_MIN, ok)


# ----------------------------------------------------------------------------------------- reporting
def report(result: dict[str, Any]) -> None:
    print(f"soak: {result['minutes']} min; server: {result['server']}; agent: {result['agent']}")
    print("  t (s)  kiosk MiB  server MiB  kiosk heap    fps  lag p50  lag p95 lost  load")
    for s in result["samples"]:
        print(
            f"{s['t_s']:7.0f} {s['kiosk_rss_mib']:10.1f} {s['server_rss_mib']:11.1f} "
            f"{s['kiosk_heap_mib']:11.1f} {s['fps']:6.1f} "
            f"{s['latency_ms_median'] or 0:8.1f} {s['latency_ms_p95'] or 0:8.1f} {s['media_lost']:4d} "
            f"{s['load_1m']:5.2f}"
        )
    print("lag: ms behind the call's fastest frame (see the module docstring)")
    for what in ("latency_ms", "kiosk_rss_mib", "server_rss_mib"):
        print(f"{what}: first minute {result[f'{what}_first_minute_median']}, "
              f"last minute {result[f'{what}_last_minute_median']}")  # fmt: skip
    print(f"RSS slopes after warm-up: kiosk {result['kiosk_rss_slope_mib_per_min']} MiB/min, "
          f"server {result['server_rss_slope_mib_per_min']} MiB/min; "
          f"kiosk's main heap {result['kiosk_heap_slope_mib_per_min']} MiB/min")  # fmt: skip
    for c in result["checks"]:
        print(f"  {'pass' if c['ok'] else 'FAIL'}  {c['name']}: {c['value']} (limit {c['limit']})")
    print("PASSED" if result["passed"] else "FAILED")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the call is held (default 10)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.minutes * 60 < 3 * SAMPLE_S:
        parser.error(f"--minutes must give at least three samples ({3 * SAMPLE_S / 60:.1f})")
    scratch = Path(tempfile.mkdtemp(prefix="ka-soak-"))
    progress(f"soak: {args.minutes} min, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; {scratch}")
    try:
        result = asyncio.run(soak(args.minutes * 60, scratch))
    except BenchError as exc:
        progress(f"soak failed: {exc} (logs kept in {scratch})")
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        report(result)
    if result["passed"]:
        shutil.rmtree(scratch, ignore_errors=True)
        return 0
    progress(f"logs kept in {scratch}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
