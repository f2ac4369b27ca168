"""Blocking PyAV side of :mod:`media.recording`: encode frames and write them to one container.

Each method takes a lock, so the recorder can call them from worker threads without two of them
touching the container at once. Frames are copied before encoding: PyAV rewrites a frame's
timestamps while encoding, and a frame from a :class:`~aiortc.contrib.media.MediaRelay` is shared
with other consumers.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from fractions import Fraction

import av
from av import AudioFrame, VideoFrame
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream

logger = logging.getLogger(__name__)

# Millisecond video timestamps: Matroska stores milliseconds, so a finer clock could give two frames
# the same timestamp there.
_VIDEO_CLOCK = Fraction(1, 1000)
_VIDEO_CODEC_OPTIONS = {
    "libx264": {"preset": "veryfast"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
}
_VIDEO_BIT_RATE = 1_500_000


@dataclass(frozen=True)
class QueuedFrame:
    kind: str
    frame: VideoFrame | AudioFrame
    arrived: float  # time.monotonic() when the recorder received it


@dataclass
class _Lane:
    """One output stream and the state that turns input timestamps into output timestamps."""

    stream: VideoStream | AudioStream
    time_base: Fraction
    first: QueuedFrame | None = None
    next_pts: int = 0
    written: int = 0


class Muxer:
    def __init__(self, path: str | os.PathLike[str], container_format: str | None = None) -> None:
        self._container: OutputContainer | None = av.open(os.fspath(path), mode="w", format=container_format)
        self._lanes: dict[str, _Lane] = {}
        self._origin = 0.0
        self._lock = threading.Lock()
        self.dropped = 0

    @property
    def frames_written(self) -> dict[str, int]:
        return {kind: lane.written for kind, lane in self._lanes.items()}

    def configure(self, first_frames: dict[str, QueuedFrame]) -> None:
        """Create one stream per kind, shaped by that kind's first frame. Called once."""
        with self._lock:
            assert self._container is not None, "configure() after close()"
            assert not self._lanes, "configure() is called once"
            if first_frames:
                self._origin = min(item.arrived for item in first_frames.values())
            for kind, item in first_frames.items():
                if isinstance(item.frame, VideoFrame):
                    self._lanes[kind] = self._video_lane(self._container, item.frame)
                else:
                    self._lanes[kind] = self._audio_lane(self._container, item.frame)

    def write(self, items: list[QueuedFrame]) -> None:
        with self._lock:
            for item in items:
                self._write_one(item)

    def close(self) -> None:
        """Flush the encoders and finalise the file. Idempotent."""
        with self._lock:
            if self._container is None:
                return
            container, self._container = self._container, None
            try:
                for lane in self._lanes.values():
                    container.mux(lane.stream.encode(None))
            finally:
                container.close()

    def _write_one(self, item: QueuedFrame) -> None:
        lane = self._lanes.get(item.kind)
        if lane is None or self._container is None:
            self.dropped += 1  # this kind sent nothing before the streams were fixed
            return
        copy = _copy_frame(item.frame, lane.stream)
        copy.pts = self._output_pts(lane, item)
        copy.time_base = lane.time_base
        try:
            self._container.mux(lane.stream.encode(copy))  # type: ignore[arg-type]
        except av.FFmpegError:
            self.dropped += 1
            logger.warning("could not write a %s frame", item.kind, exc_info=True)
            return
        lane.written += 1

    def _output_pts(self, lane: _Lane, item: QueuedFrame) -> int:
        """Media time since the first frame of any kind, strictly increasing per stream."""
        if lane.first is None:
            lane.first = item
        seconds = _seconds_between(lane.first, item) + (lane.first.arrived - self._origin)
        pts = max(round(seconds / lane.time_base), lane.next_pts)
        frame = item.frame
        if isinstance(frame, AudioFrame):
            lane.next_pts = pts + round(frame.samples * lane.time_base.denominator / frame.sample_rate)
        else:
            lane.next_pts = pts + 1
        return pts

    @staticmethod
    def _video_lane(container: OutputContainer, frame: VideoFrame) -> _Lane:
        codec = "libvpx" if container.format.name == "webm" else "libx264"
        stream = container.add_stream(codec, rate=30, options=_VIDEO_CODEC_OPTIONS[codec])
        assert isinstance(stream, VideoStream)
        stream.width, stream.height = frame.width // 2 * 2, frame.height // 2 * 2
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = _VIDEO_BIT_RATE
        stream.codec_context.time_base = _VIDEO_CLOCK
        return _Lane(stream, _VIDEO_CLOCK)

    @staticmethod
    def _audio_lane(container: OutputContainer, frame: AudioFrame) -> _Lane:
        name = container.format.name
        codec = "pcm_s16le" if name == "wav" else "libopus" if name in ("webm", "ogg") else "aac"
        rate = 48000 if codec == "libopus" else frame.sample_rate
        stream = container.add_stream(codec, rate=rate)
        assert isinstance(stream, AudioStream)
        stream.layout = frame.layout.name
        time_base = Fraction(1, rate)
        stream.codec_context.time_base = time_base
        return _Lane(stream, time_base)


def _seconds_between(first: QueuedFrame, item: QueuedFrame) -> float:
    """Media time from ``first`` to ``item``: frame timestamps when present, else arrival times."""
    start, frame = first.frame, item.frame
    if start.pts is None or frame.pts is None or frame.time_base is None:
        return item.arrived - first.arrived
    time_base = frame.time_base
    return (frame.pts - start.pts) * time_base.numerator / time_base.denominator


def _copy_frame(frame: VideoFrame | AudioFrame, stream: VideoStream | AudioStream) -> VideoFrame | AudioFrame:
    if isinstance(frame, VideoFrame):
        assert isinstance(stream, VideoStream)
        pixels = frame.to_ndarray(format="yuv420p", width=stream.width, height=stream.height)
        return VideoFrame.from_ndarray(pixels, format="yuv420p")
    copy = AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name)
    copy.sample_rate = frame.sample_rate
    return copy
