"""Recorder: received tracks end up in a media file that plays back."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from media import Recorder, SyntheticAudioTrack, SyntheticVideoTrack, read_frame_counter, tone_level
from tests.media.media_test_support import (
    BurstVideoTrack,
    FiniteTrack,
    Loopback,
    SilentTrack,
    audio_seconds,
    decode_file,
)

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".webm"])
async def test_records_video_and_audio_to_a_playable_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"call{suffix}"
    video = FiniteTrack(SyntheticVideoTrack(width=320, height=240, fps=60), limit=30)
    audio = FiniteTrack(SyntheticAudioTrack(), limit=25)
    recorder = Recorder(path)
    recorder.add_track(video)
    recorder.add_track(audio)

    await recorder.start()
    async with asyncio.timeout(10):
        await video.all_delivered.wait()
        await audio.all_delivered.wait()
    await recorder.stop()

    frames, sound = decode_file(path)
    assert [read_frame_counter(frame) for frame in frames] == list(range(30))
    assert {(frame.width, frame.height) for frame in frames} == {(320, 240)}
    assert audio_seconds(sound) == pytest.approx(0.5, abs=0.05)
    assert max(tone_level(frame) for frame in sound) > 0.1
    assert recorder.frames_written == {"video": 30, "audio": 25}
    assert recorder.dropped_frames == 0


async def test_records_tracks_received_over_a_peer_connection(loopback: Loopback, tmp_path: Path) -> None:
    path = tmp_path / "remote.mkv"
    recorder = Recorder(path)
    video, audio = FiniteTrack(loopback.video, limit=20), FiniteTrack(loopback.audio, limit=30)
    recorder.add_track(video)
    recorder.add_track(audio)

    await recorder.start()
    async with asyncio.timeout(10):
        await video.all_delivered.wait()
        await audio.all_delivered.wait()
    await recorder.stop()

    frames, sound = decode_file(path)
    counters = [read_frame_counter(frame) for frame in frames]
    assert len(counters) == 20
    assert None not in counters
    assert all(b > a for a, b in itertools.pairwise(counters)), counters  # type: ignore[operator]
    assert audio_seconds(sound) == pytest.approx(0.6, abs=0.1)
    assert max(tone_level(frame) for frame in sound) > 0.1


async def test_a_backlog_is_bounded_by_dropping_the_oldest_frames(tmp_path: Path) -> None:
    path = tmp_path / "backlog.mkv"
    burst = BurstVideoTrack(count=200, width=160, height=120)
    silent = SilentTrack("audio")  # the writer waits for its first frame, so nothing is written meanwhile
    recorder = Recorder(path, max_pending=10, first_frame_timeout=30)
    recorder.add_track(burst)
    recorder.add_track(silent)

    await recorder.start()
    async with asyncio.timeout(10):
        await burst.exhausted.wait()
    await recorder.stop()

    assert recorder.dropped_frames == 190
    frames, sound = decode_file(path)
    assert [read_frame_counter(frame) for frame in frames] == list(range(190, 200))
    assert sound == []
    silent.stop()


async def test_stop_is_bounded_and_idempotent_when_nothing_arrived(tmp_path: Path) -> None:
    silent = SilentTrack("video")
    recorder = Recorder(tmp_path / "empty.mkv")
    recorder.add_track(silent)
    await recorder.start()

    started = time.monotonic()
    await asyncio.gather(recorder.stop(grace=2), recorder.stop(grace=2))
    await recorder.stop(grace=2)

    assert time.monotonic() - started < 2.0
    assert recorder.frames_written == {}
    silent.stop()


async def test_tracks_must_be_added_before_start_and_once_per_kind(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "x.mkv")
    recorder.add_track(SilentTrack("video"))
    with pytest.raises(ValueError, match="already recording a video track"):
        recorder.add_track(SilentTrack("video"))
    await recorder.start()
    with pytest.raises(RuntimeError, match="before start"):
        recorder.add_track(SilentTrack("audio"))
    await recorder.stop(grace=2)
