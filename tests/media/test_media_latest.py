"""LatestFrameConsumer: drains a track, keeps one frame, and lets callers wait with a bound."""

from __future__ import annotations

import asyncio
import time

import pytest
from av import VideoFrame

from media import (
    ConsumerStopped,
    LatestFrameConsumer,
    SyntheticVideoTrack,
    TrackEnded,
    read_frame_counter,
)
from tests.media.media_test_support import BurstVideoTrack, FiniteTrack, Loopback, SilentTrack, resident_bytes

pytestmark = pytest.mark.timeout(30)


async def test_fast_producer_leaves_only_the_newest_frame_and_bounded_memory() -> None:
    frame_bytes = 640 * 480 * 3
    burst = BurstVideoTrack(count=400)  # 350 MiB of pixels if the consumer kept them
    consumer = LatestFrameConsumer(burst)
    before = resident_bytes()

    consumer.start()
    await consumer.wait_ended(timeout=20)
    grown = resident_bytes() - before

    assert consumer.frame_count == 400
    assert consumer.ended
    latest = consumer.latest
    assert isinstance(latest, VideoFrame)
    assert read_frame_counter(latest) == 399
    assert grown < 20 * frame_bytes, f"resident memory grew by {grown / 2**20:.0f} MiB"


async def test_wait_for_frames_wakes_as_frames_arrive() -> None:
    source = SyntheticVideoTrack(width=320, height=240, fps=30)
    consumer = LatestFrameConsumer(source)
    consumer.start()
    try:
        started = time.monotonic()
        frame = await consumer.wait_for_frames(6, timeout=5)
        waited = time.monotonic() - started
        arrived_at = consumer.last_frame_at
    finally:
        await consumer.stop()
        source.stop()

    assert isinstance(frame, VideoFrame)
    assert read_frame_counter(frame) == consumer.frame_count - 1 >= 5
    assert 5 / 30 * 0.8 <= waited < 1.0  # five frame intervals, not a polling period
    assert arrived_at is not None
    assert started <= arrived_at <= time.monotonic()


async def test_wait_for_frames_times_out_cleanly_and_the_consumer_keeps_running() -> None:
    silent = SilentTrack("video")
    consumer = LatestFrameConsumer(silent)
    consumer.start()

    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"0 of 1 frames after 0\.2s"):
        await consumer.wait_for_frames(1, timeout=0.2)

    assert time.monotonic() - started < 1.0
    assert consumer.running
    assert consumer.latest is None
    assert consumer.last_frame_at is None
    await consumer.stop()
    silent.stop()


async def test_waiting_past_the_end_of_the_track_raises_track_ended() -> None:
    source = SyntheticVideoTrack(width=320, height=240, fps=60)
    consumer = LatestFrameConsumer(FiniteTrack(source, limit=3))
    consumer.start()

    with pytest.raises(TrackEnded, match="ended after 3 frames"):
        await consumer.wait_for_frames(10, timeout=5)

    assert consumer.ended
    assert consumer.frame_count == 3
    assert read_frame_counter(consumer.latest) == 2  # type: ignore[arg-type]
    source.stop()


async def test_stop_is_idempotent_bounded_and_wakes_waiters() -> None:
    silent = SilentTrack("audio")
    consumer = LatestFrameConsumer(silent)
    consumer.start()

    waiter = asyncio.create_task(consumer.wait_for_frames(1, timeout=5))

    started = time.monotonic()
    await consumer.stop(grace=1)
    await consumer.stop(grace=1)

    assert time.monotonic() - started < 1.0
    with pytest.raises(ConsumerStopped, match="stopped after 0 frames"):
        await waiter
    assert not consumer.running
    assert not consumer.ended  # the track itself is still live: the consumer does not own it
    assert silent.readyState == "live"
    with pytest.raises(ConsumerStopped):
        await consumer.wait_for_frames(1, timeout=1)
    with pytest.raises(RuntimeError, match="cannot be restarted"):
        consumer.start()
    silent.stop()


async def test_keeps_up_with_a_remote_track(loopback: Loopback) -> None:
    consumer = LatestFrameConsumer(loopback.video)
    consumer.start()
    try:
        first = await consumer.wait_for_frames(5, timeout=10)
        later = await consumer.wait_for_frames(consumer.frame_count + 10, timeout=10)
    finally:
        await consumer.stop()

    assert isinstance(first, VideoFrame)
    assert isinstance(later, VideoFrame)
    first_counter, later_counter = read_frame_counter(first), read_frame_counter(later)
    assert first_counter is not None
    assert later_counter is not None
    assert later_counter >= first_counter + 10
