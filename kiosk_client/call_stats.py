"""The kiosk's quality report for its call, every 5 s: what aiortc's stats say, plus what the kiosk counts.

aiortc's ``getStats()`` is thin: per RTP stream, packets received and lost and the interarrival jitter (in
RTP clock units); the round-trip time from the far end's RTCP receiver reports (``remote-inbound-rtp``);
bytes per transport. It has no frame rates and no per-stream bytes received, so the kiosk counts frames
itself, as they pass: those it decodes (``LatestFrameConsumer.frame_count``) and those it sends (a
``CountingTrack`` around its camera track). Every figure covers the interval since the previous report.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from media import LatestFrameConsumer
from media.quality import loss_percent
from signaling.protocol import QualityStats

MIN_INTERVAL_S = 1.0
AUDIO_CLOCK_HZ = 48_000.0
"""Opus's RTP clock: aiortc gives jitter in its units."""


class CountingTrack(MediaStreamTrack):
    """A track that passes another's frames on, counting them (the frames the kiosk sends)."""

    def __init__(self, inner: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = inner.kind
        self.inner = inner
        self.frames = 0

    async def recv(self) -> Any:
        frame = await self.inner.recv()
        self.frames += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self.inner.stop()


@dataclass
class Counters:
    """Cumulative figures at one moment (the report is the difference between two of them)."""

    at: float = 0.0
    cpu_s: float = 0.0
    received: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    frames_in: int = 0
    frames_out: int = 0
    bytes_in: int = 0
    bytes_out_video: int = 0


@dataclass(frozen=True)
class Snapshot:
    """What one ``getStats()`` gives beyond the counters: the latest round trip and jitter."""

    counters: Counters
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    width: int | None = None
    height: int | None = None


def read_report(report: dict[str, Any], frames_in: int, frames_out: int, at: float, cpu_s: float) -> Snapshot:
    """The counters and figures of one aiortc stats report."""
    counters = Counters(at=at, cpu_s=cpu_s, frames_in=frames_in, frames_out=frames_out)
    rtts: list[float] = []
    jitter_ms = None
    for stats in report.values():
        kind = getattr(stats, "kind", None)
        if stats.type == "inbound-rtp" and kind:
            counters.received[kind] = counters.received.get(kind, 0) + int(stats.packetsReceived)
            counters.lost[kind] = counters.lost.get(kind, 0) + max(0, int(stats.packetsLost))
            if kind == "audio":
                jitter_ms = float(stats.jitter) * 1000.0 / AUDIO_CLOCK_HZ
        elif stats.type == "remote-inbound-rtp" and stats.roundTripTime is not None:
            rtts.append(float(stats.roundTripTime) * 1000.0)
        elif stats.type == "outbound-rtp" and kind == "video":
            counters.bytes_out_video += int(stats.bytesSent)
        elif stats.type == "transport":
            counters.bytes_in += int(stats.bytesReceived)
    rtt_ms = min(rtts) if rtts else None
    return Snapshot(counters, rtt_ms=rtt_ms, jitter_ms=jitter_ms)


def interval_stats(before: Counters, now: Snapshot) -> QualityStats:
    """The report for the interval between two snapshots' counters."""
    after = now.counters
    elapsed = max(after.at - before.at, 1e-3)

    def loss(kind: str) -> float | None:
        if kind not in after.received:
            return None
        received = after.received[kind] - before.received.get(kind, 0)
        lost = after.lost.get(kind, 0) - before.lost.get(kind, 0)
        return round(loss_percent(lost, received), 2)

    return QualityStats(
        rtt_ms=_bounded(now.rtt_ms, 60_000),
        jitter_ms=_bounded(now.jitter_ms, 60_000),
        audio_loss_pct=loss("audio"),
        video_loss_pct=loss("video"),
        packets_lost=sum(after.lost.values()),
        fps=_bounded((after.frames_in - before.frames_in) / elapsed, 240),
        bitrate_kbps=_bounded((after.bytes_in - before.bytes_in) * 8 / 1000 / elapsed, 1_000_000),
        width=now.width,
        height=now.height,
        fps_sent=_bounded((after.frames_out - before.frames_out) / elapsed, 240),
        bitrate_sent_kbps=_bounded(
            (after.bytes_out_video - before.bytes_out_video) * 8 / 1000 / elapsed, 1e6
        ),
        cpu_pct=_bounded((after.cpu_s - before.cpu_s) / elapsed * 100.0, 6400),
    )


def process_cpu_s() -> float:
    """CPU time this process has used (user and system), in seconds."""
    times = os.times()
    return times.user + times.system


class CallStatsCollector:
    """Reads one peer connection's stats; each ``sample()`` reports the interval since the last."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        consumers: dict[str, LatestFrameConsumer],
        sent_video: CountingTrack | None,
    ) -> None:
        self._pc = pc
        self._consumers = consumers
        self._sent_video = sent_video
        self._last = Counters(at=time.monotonic(), cpu_s=process_cpu_s())

    async def sample(self) -> QualityStats | None:
        """The figures since the last sample (or since this collector began); None within a second of it
        (too short an interval to count frames over)."""
        if time.monotonic() - self._last.at < MIN_INTERVAL_S:
            return None
        report = await self._pc.getStats()
        video = self._consumers.get("video")
        frames_in = video.frame_count if video is not None else 0
        frames_out = self._sent_video.frames if self._sent_video is not None else 0
        snapshot = read_report(report, frames_in, frames_out, time.monotonic(), process_cpu_s())
        latest = video.latest if video is not None else None
        width, height = getattr(latest, "width", None), getattr(latest, "height", None)
        if isinstance(width, int) and isinstance(height, int):
            snapshot = Snapshot(snapshot.counters, snapshot.rtt_ms, snapshot.jitter_ms, width, height)
        stats = interval_stats(self._last, snapshot)
        if video is None:  # recording, not consuming: no frames counted
            stats = _without(stats, "fps", "width", "height")
        self._last = snapshot.counters
        return stats


def _without(stats: QualityStats, *names: str) -> QualityStats:
    values = {name: getattr(stats, name) for name in stats.__struct_fields__ if name not in names}
    return QualityStats(**values)


def _bounded(value: float | None, high: float) -> float | None:
    return None if value is None else round(min(max(value, 0.0), high), 2)
