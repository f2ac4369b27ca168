"""Test doubles and helpers shared by the media tests."""

from __future__ import annotations

import asyncio
import fractions
import resource
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame
from av.frame import Frame

from media import SyntheticAudioTrack, SyntheticVideoTrack
from media._pattern import PatternRenderer


class FiniteTrack(MediaStreamTrack):
    """Passes through the first ``limit`` frames of ``source``, then ends like a hung-up peer."""

    def __init__(self, source: MediaStreamTrack, limit: int) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.limit = limit
        self.delivered = 0
        self.all_delivered = asyncio.Event()

    async def recv(self) -> Frame:
        if self.delivered >= self.limit:
            self.stop()
            raise MediaStreamError
        frame = await self.source.recv()
        assert isinstance(frame, Frame)
        self.delivered += 1
        if self.delivered == self.limit:
            self.all_delivered.set()
        return frame


class BurstVideoTrack(MediaStreamTrack):
    """Delivers ``count`` test-pattern frames (counters 0, 1, ...) as fast as asked, then ends."""

    kind = "video"

    def __init__(self, count: int, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.count = count
        self.produced = 0
        self.exhausted = asyncio.Event()  # set when a reader asks for more than ``count`` frames
        self._pattern = PatternRenderer(width, height)

    async def recv(self) -> VideoFrame:
        if self.produced >= self.count:
            self.exhausted.set()
            self.stop()
            raise MediaStreamError
        frame = VideoFrame.from_ndarray(self._pattern.render(self.produced), format="rgb24")
        frame.pts = self.produced * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        self.produced += 1
        return frame


class SilentTrack(MediaStreamTrack):
    """A live track that never delivers a frame until it is stopped."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._stopped = asyncio.Event()

    async def recv(self) -> Frame:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self._stopped.set()
        super().stop()


def resident_bytes() -> int:
    """Current resident set size of this process (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def decode_file(path: Path) -> tuple[list[VideoFrame], list[AudioFrame]]:
    video: list[VideoFrame] = []
    audio: list[AudioFrame] = []
    with av.open(str(path)) as container:
        for frame in container.decode(*container.streams):
            if isinstance(frame, VideoFrame):
                video.append(frame)
            elif isinstance(frame, AudioFrame):
                audio.append(frame)
    return video, audio


def audio_seconds(frames: list[AudioFrame]) -> float:
    return sum(frame.samples / frame.sample_rate for frame in frames)


def grey_frame(width: int, height: int, level: int) -> VideoFrame:
    return VideoFrame.from_ndarray(np.full((height, width, 3), level, dtype=np.uint8), format="rgb24")


@dataclass
class Loopback:
    sender: RTCPeerConnection
    receiver: RTCPeerConnection
    video_source: SyntheticVideoTrack
    audio_source: SyntheticAudioTrack
    video: MediaStreamTrack  # remote tracks, as the agent's side receives them
    audio: MediaStreamTrack
