"""Synthetic media through a real aiortc connection (VP8 + Opus over loopback UDP)."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from av import AudioFrame, VideoFrame

from media import read_frame_counter, tone_level
from tests.media.media_test_support import Loopback

pytestmark = pytest.mark.timeout(30)


async def test_frame_counters_survive_the_connection_and_increase(loopback: Loopback) -> None:
    async with asyncio.timeout(10):
        frames = [await loopback.video.recv() for _ in range(20)]

    assert all(isinstance(frame, VideoFrame) for frame in frames)
    counters = [read_frame_counter(frame) for frame in frames if isinstance(frame, VideoFrame)]
    assert None not in counters
    assert all(b > a for a, b in itertools.pairwise(counters)), counters
    assert counters[-1] - counters[0] < 40  # live: nothing stale, few frames lost


async def test_remote_audio_is_a_non_silent_48k_tone(loopback: Loopback) -> None:
    async with asyncio.timeout(10):
        frames = [await loopback.audio.recv() for _ in range(25)]

    assert all(isinstance(frame, AudioFrame) and frame.sample_rate == 48000 for frame in frames)
    levels = sorted(tone_level(frame) for frame in frames if isinstance(frame, AudioFrame))
    assert levels[len(levels) // 2] > 0.1  # median: the tone's RMS is about 0.18
