"""open_media: synthetic sources work end to end; missing devices fail with a clear error."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc.contrib import media as aiortc_media
from av import AudioFrame, VideoFrame

import media.capture
from media import (
    DeviceUnavailable,
    LatestFrameConsumer,
    MediaSource,
    SyntheticVideoTrack,
    TrackEnded,
    open_media,
    read_frame_counter,
    tone_level,
)

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def synthetic() -> AsyncIterator[MediaSource]:
    source = open_media("synthetic", width=320, height=240, fps=30)
    yield source
    await source.close()


async def test_synthetic_source_delivers_pattern_video_and_a_tone(synthetic: MediaSource) -> None:
    video, audio = LatestFrameConsumer(synthetic.video), LatestFrameConsumer(synthetic.audio)
    video.start()
    audio.start()
    try:
        frame = await video.wait_for_frames(3, timeout=5)
        sound = await audio.wait_for_frames(3, timeout=5)
    finally:
        await video.stop()
        await audio.stop()

    assert isinstance(frame, VideoFrame)
    assert (frame.width, frame.height) == (320, 240)
    assert read_frame_counter(frame) is not None
    assert isinstance(sound, AudioFrame)
    assert tone_level(sound) > 0.1


async def test_subscribers_share_one_capture(synthetic: MediaSource) -> None:
    first = LatestFrameConsumer(synthetic.video)
    first.start()
    await first.wait_for_frames(10, timeout=5)
    late = LatestFrameConsumer(synthetic.subscribe_video())
    late.start()
    try:
        late_frame = await late.wait_for_frames(1, timeout=5)
        first_frame = await first.wait_for_frames(first.frame_count + 1, timeout=5)
    finally:
        await first.stop()
        await late.stop()

    late_counter = read_frame_counter(late_frame)  # type: ignore[arg-type]
    first_counter = read_frame_counter(first_frame)  # type: ignore[arg-type]
    assert late_counter is not None
    assert late_counter >= 10  # joined the running capture instead of starting a new one at 0
    assert first_counter is not None
    assert abs(first_counter - late_counter) <= 2


async def test_close_ends_every_subscription_and_is_idempotent(synthetic: MediaSource) -> None:
    extra = synthetic.subscribe_video()
    consumers = [LatestFrameConsumer(track) for track in (synthetic.video, synthetic.audio, extra)]
    for consumer in consumers:
        consumer.start()
    await consumers[0].wait_for_frames(2, timeout=5)

    await synthetic.close(grace=2)
    await synthetic.close(grace=2)

    for consumer in consumers:
        await consumer.wait_ended(timeout=2)
        assert consumer.ended
    with pytest.raises(TrackEnded):
        await consumers[0].wait_for_frames(1000, timeout=1)
    with pytest.raises(RuntimeError, match="closed"):
        synthetic.subscribe_video()


def test_missing_camera_raises_device_unavailable_naming_the_device(tmp_path: Path) -> None:
    missing = str(tmp_path / "video7")

    with pytest.raises(DeviceUnavailable) as raised:
        open_media("device", video_device=missing)

    assert raised.value.kind == "video"
    assert raised.value.device == missing
    assert str(raised.value).startswith(f"cannot open video device '{missing}': v4l2 could not open it")
    assert "No such file or directory" in str(raised.value)


def test_a_file_that_is_not_a_camera_raises_device_unavailable(tmp_path: Path) -> None:
    not_a_camera = tmp_path / "notes.txt"
    not_a_camera.write_text("hello")

    with pytest.raises(DeviceUnavailable, match="cannot open video device"):
        open_media("device", video_device=str(not_a_camera))


@pytest.mark.skipif(os.path.exists("/dev/video0"), reason="this machine has a camera")
def test_default_camera_absent_raises_device_unavailable() -> None:
    with pytest.raises(DeviceUnavailable, match="/dev/video0"):
        open_media("device")


async def test_missing_microphone_raises_and_releases_the_camera(monkeypatch: pytest.MonkeyPatch) -> None:
    cameras: list[SyntheticVideoTrack] = []
    real_player = aiortc_media.MediaPlayer

    class CameraOnlyPlayer:
        """A working camera; the microphone goes to the real ALSA-backed MediaPlayer."""

        def __new__(cls, file: str, format: str, options: dict[str, str]) -> Any:
            if format != "v4l2":
                return real_player(file, format=format, options=options)
            player = object.__new__(cls)
            player.video, player.audio = SyntheticVideoTrack(), None
            cameras.append(player.video)
            return player

    monkeypatch.setattr(media.capture, "MediaPlayer", CameraOnlyPlayer)

    with pytest.raises(DeviceUnavailable, match="cannot open audio device 'no-such-pcm': alsa") as raised:
        open_media("device", audio_device="no-such-pcm")

    assert raised.value.kind == "audio"
    assert [camera.readyState for camera in cameras] == ["ended"]
