"""Synthetic camera and microphone: a moving test pattern that carries its frame counter, and a tone.

The counter is burned into every video frame twice: as seven-segment digits for people and as a row
of black and white blocks for :func:`read_frame_counter`, which survives lossy codecs and scaling.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import numpy as np
from aiortc import AudioStreamTrack, VideoStreamTrack
from aiortc.mediastreams import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, MediaStreamError
from av import AudioFrame, VideoFrame

from media import _blockcode
from media._pattern import PatternRenderer

MAX_FRAME_COUNTER = _blockcode.MAX_COUNTER


class SyntheticVideoTrack(VideoStreamTrack):
    """A live video track of a moving test pattern; frame ``n`` carries counter ``n`` (mod 2**24)."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        if width < 64 or height < 48 or width % 2 or height % 2:
            raise ValueError(f"frame size must be even and at least 64x48, got {width}x{height}")
        if not 0 < fps <= 120:
            raise ValueError(f"fps must be in (0, 120], got {fps}")
        super().__init__()
        self.fps = fps
        self._pattern = PatternRenderer(width, height)
        self._index = -1
        self._started_at: float | None = None

    @property
    def width(self) -> int:
        return self._pattern.width

    @property
    def height(self) -> int:
        return self._pattern.height

    async def next_timestamp(self) -> tuple[int, fractions.Fraction]:
        """aiortc's pacing contract (90 kHz clock, sleep until due) at ``self.fps`` instead of 30.

        Timestamps are computed from the frame index, so they do not drift for rates such as 7 fps
        that do not divide the 90 kHz clock.
        """
        if self.readyState != "live":
            raise MediaStreamError
        self._index += 1
        if self._started_at is None:
            self._started_at = time.monotonic()
        else:
            due = self._started_at + self._index / self.fps
            await asyncio.sleep(max(due - time.monotonic(), 0.0))
        return round(self._index * VIDEO_CLOCK_RATE / self.fps), VIDEO_TIME_BASE

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame.from_ndarray(self._pattern.render(self._index), format="rgb24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


def read_frame_counter(frame: VideoFrame) -> int | None:
    """The counter carried by a :class:`SyntheticVideoTrack` frame, or None if the code is absent.

    Works on frames that went through a lossy codec and on scaled frames.
    """
    luma = np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
    return _blockcode.read_code(luma)


class SyntheticAudioTrack(AudioStreamTrack):
    """A live, phase-continuous sine tone in s16 mono frames, paced in real time."""

    def __init__(
        self,
        frequency: float = 440.0,
        sample_rate: int = 48000,
        ptime: float = 0.020,
        amplitude: float = 0.25,
    ) -> None:
        if not 0 < frequency < sample_rate / 2:
            raise ValueError(f"frequency must be in (0, {sample_rate / 2}), got {frequency}")
        if not 0 <= amplitude <= 1:
            raise ValueError(f"amplitude must be in [0, 1], got {amplitude}")
        super().__init__()
        self.frequency = frequency
        self.sample_rate = sample_rate
        self.amplitude = amplitude
        self.samples_per_frame = round(sample_rate * ptime)
        self._time_base = fractions.Fraction(1, sample_rate)
        self._pts: int | None = None
        self._started_at = 0.0
        self._phase = 0.0

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_until_due()
        frame = AudioFrame.from_ndarray(self._next_samples(), format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        frame.time_base = self._time_base
        return frame

    async def _wait_until_due(self) -> None:
        if self._pts is None:
            self._started_at = time.monotonic()
            self._pts = 0
            return
        self._pts += self.samples_per_frame
        due = self._started_at + self._pts / self.sample_rate
        await asyncio.sleep(max(due - time.monotonic(), 0.0))

    def _next_samples(self) -> np.ndarray[tuple[int, int], np.dtype[np.int16]]:
        step = 2 * math.pi * self.frequency / self.sample_rate
        phases = self._phase + step * np.arange(self.samples_per_frame)
        self._phase = (self._phase + step * self.samples_per_frame) % (2 * math.pi)
        wave: np.ndarray[tuple[int], np.dtype[np.int16]]
        wave = np.rint(np.sin(phases) * self.amplitude * 32767).astype(np.int16)
        return wave.reshape(1, -1)


def tone_level(frame: AudioFrame) -> float:
    """RMS level of an audio frame relative to full scale (a full-scale sine is about 0.707)."""
    samples = frame.to_ndarray()
    if samples.size == 0:
        return 0.0
    normalised = samples.astype(np.float64)
    if samples.dtype == np.uint8:  # unsigned 8-bit audio is offset binary
        normalised = (normalised - 128.0) / 128.0
    elif samples.dtype.kind == "i":
        normalised /= float(2 ** (8 * samples.dtype.itemsize - 1))
    return float(np.sqrt(np.mean(np.square(normalised))))
