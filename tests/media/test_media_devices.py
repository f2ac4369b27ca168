"""check_devices: each device is reported working, with what it delivers, or not working, with why.

Microphone and speaker are alsa-lib ``file`` PCMs (tests/media/conftest.py ``alsa``); there is no camera
here, so a working camera is a synthetic track behind the V4L2 player, as in test_media_capture.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import media.capture
from media import SyntheticVideoTrack
from media.devices import DeviceCheck, DeviceReport, check_devices
from tests.media.media_test_support import AlsaSandbox, SilentTrack

pytestmark = pytest.mark.timeout(30)

MISSING_CAMERA = "/dev/video-nonexistent"


async def test_synthetic_media_reports_every_device_working() -> None:
    report = await asyncio.to_thread(check_devices, MISSING_CAMERA, "x", "y", media_kind="synthetic")

    assert report.all_working
    assert report.camera == DeviceCheck("camera", "synthetic", True, "synthetic test source")
    assert report.microphone == DeviceCheck("microphone", "synthetic", True, "synthetic test source")
    assert report.speaker.working
    assert report.lines()[0] == "camera synthetic: working (synthetic test source)"


async def test_a_missing_camera_is_reported_with_the_reason(alsa: AlsaSandbox) -> None:
    report = await asyncio.to_thread(
        check_devices, MISSING_CAMERA, "kiosk_mic", "kiosk_speaker", media_kind="device"
    )

    assert not report.camera.working
    assert report.camera.detail.startswith("v4l2 could not open it")
    assert "No such file or directory" in report.camera.detail
    assert str(report.camera).startswith(f"camera {MISSING_CAMERA}: not working (v4l2 could not open it (")
    assert report.microphone == DeviceCheck("microphone", "kiosk_mic", True, "opened")
    assert report.speaker == DeviceCheck("speaker", "kiosk_speaker", True, "opened")
    assert not report.all_working
    assert str(report) == "\n".join(report.lines())
    assert report.lines()[1:] == [
        "microphone kiosk_mic: working (opened)",
        "speaker kiosk_speaker: working (opened)",
    ]


async def test_missing_microphone_and_speaker_are_reported_with_the_reason(alsa: AlsaSandbox) -> None:
    report = await asyncio.to_thread(
        check_devices, MISSING_CAMERA, "no-such-mic", "no-such-speaker", media_kind="device"
    )

    assert not report.microphone.working
    assert report.microphone.detail.startswith("alsa could not open it")
    assert not report.speaker.working
    assert report.speaker.detail.startswith("alsa could not open it for playback")
    assert report.lines()[2].startswith("speaker no-such-speaker: not working (alsa could not open it")


async def test_a_working_camera_reports_the_size_and_rate_it_delivers(
    alsa: AlsaSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        media.capture, "MediaPlayer", camera_player(lambda w, h, fps: SyntheticVideoTrack(w, h, fps))
    )

    report: DeviceReport = await asyncio.to_thread(
        check_devices,
        "/dev/video0",
        "kiosk_mic",
        "kiosk_speaker",
        media_kind="device",
        width=320,
        height=240,
        fps=15,
    )

    assert report.camera == DeviceCheck("camera", "/dev/video0", True, "320x240 at 15 fps")
    assert report.all_working
    assert str(report).splitlines()[0] == "camera /dev/video0: working (320x240 at 15 fps)"


async def test_a_camera_that_delivers_nothing_is_not_working(
    alsa: AlsaSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media.capture, "MediaPlayer", camera_player(lambda w, h, fps: SilentTrack("video")))

    report = await asyncio.to_thread(
        check_devices, "/dev/video0", "kiosk_mic", "kiosk_speaker", media_kind="device", timeout=0.5
    )

    assert report.camera == DeviceCheck(
        "camera", "/dev/video0", False, "opened, but delivered no frame within 0.5s"
    )


def camera_player(make_track: Any) -> Any:
    """A stand-in for aiortc's MediaPlayer when it opens a V4L2 camera (ALSA goes to the real one)."""
    real_player = media.capture.MediaPlayer

    class CameraPlayer:
        def __new__(cls, file: str, format: str, options: dict[str, str]) -> Any:
            if format != "v4l2":
                return real_player(file, format=format, options=options)
            width, height = (int(side) for side in options["video_size"].split("x"))
            player = object.__new__(cls)
            player.video, player.audio = make_track(width, height, int(options["framerate"])), None
            return player

    return CameraPlayer
