"""Test doubles and helpers shared by the media tests."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import os
import resource
import time
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


class FrameIndexAudioTrack(MediaStreamTrack):
    """Real-time 20 ms frames of 48 kHz stereo s16 in which every sample is the frame's number (1, 2, ...).

    What a sink wrote shows which frames it kept, in which order.
    """

    kind = "audio"
    RATE = 48000
    SAMPLES = 960

    def __init__(self) -> None:
        super().__init__()
        self.delivered = 0
        self._started_at: float | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._started_at is None:
            self._started_at = time.monotonic()
        else:  # paced like a microphone
            due = self._started_at + self.delivered * self.SAMPLES / self.RATE
            await asyncio.sleep(max(due - time.monotonic(), 0.0))
        self.delivered += 1
        samples = np.full((1, 2 * self.SAMPLES), self.delivered, dtype=np.int16)
        frame = AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate = self.RATE
        frame.pts = (self.delivered - 1) * self.SAMPLES
        frame.time_base = fractions.Fraction(1, self.RATE)
        return frame


def frame_numbers(samples: np.ndarray[tuple[int, ...], np.dtype[np.int16]], frame_samples: int) -> list[int]:
    """The frame numbers written by a :class:`FrameIndexAudioTrack`, checking each frame arrived whole."""
    left = samples.reshape(-1, 2)[:, 0]
    if left.size == 0:
        return []
    starts = np.flatnonzero(np.diff(left)) + 1
    bounds = [0, *starts.tolist(), left.size]
    runs = [(int(left[a]), b - a) for a, b in itertools.pairwise(bounds)]
    broken = [(number, length) for number, length in runs if length != frame_samples]
    assert not broken, f"frames cut or merged: {broken[:5]}"
    return [number for number, _ in runs]


def read_s16(path: Path, channels: int) -> np.ndarray[tuple[int, int], np.dtype[np.int16]]:
    """Raw interleaved s16le audio as (samples, channels)."""
    return np.fromfile(path, dtype="<i2").reshape(-1, channels)


def dominant_frequency(samples: np.ndarray[tuple[int], np.dtype[np.int16]], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[int(np.argmax(spectrum))])


@dataclass
class AlsaSandbox:
    """An ALSA configuration of file-backed PCMs (alsa-lib's ``file`` plugin over ``null``), no sound card.

    * ``kiosk_speaker`` plays into ``speaker_raw``;
    * ``kiosk_mic`` captures from ``mic_raw`` (a 440 Hz tone, 48 kHz stereo s16);
    * ``kiosk_slow`` plays into the named pipe ``slow_fifo``: a device that blocks while nobody reads it.
    """

    config: Path
    speaker_raw: Path
    mic_raw: Path
    slow_fifo: Path

    @classmethod
    def create(cls, directory: Path) -> AlsaSandbox:
        directory.mkdir()
        sandbox = cls(
            directory / "asound.conf",
            directory / "speaker.raw",
            directory / "mic.raw",
            directory / "slow.fifo",
        )
        tone = np.rint(np.sin(2 * np.pi * 440 * np.arange(48000) / 48000) * 8000).astype("<i2")
        np.repeat(tone, 2).tofile(sandbox.mic_raw)
        os.mkfifo(sandbox.slow_fifo)
        sandbox.config.write_text(
            _file_pcm("kiosk_speaker", sandbox.speaker_raw)
            + _file_pcm("kiosk_mic", Path("/dev/null"), infile=sandbox.mic_raw)
            + _file_pcm("kiosk_slow", sandbox.slow_fifo)
        )
        return sandbox


def _file_pcm(name: str, file: Path, *, infile: Path | None = None) -> str:
    capture = f'    infile "{infile}"\n' if infile is not None else ""
    return (
        f"pcm.{name} {{\n"
        "    type file\n"
        "    slave.pcm { type null }\n"
        f'    file "{file}"\n'
        f"{capture}"
        '    format "raw"\n'
        "}\n"
    )
