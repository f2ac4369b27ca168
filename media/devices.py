"""The kiosk's device check: does the camera, the microphone and the speaker work, and if not, why.

:func:`check_devices` opens each device in turn (and reads a few camera frames, to report the size
and rate it really delivers). It blocks: run it off the event loop, before the devices are in use
(an ALSA ``hw:`` device held by another program would block the open; see media/playback.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from media.capture import SourceKind, _open_player, probe_device
from media.errors import DeviceUnavailable
from media.playback import probe_speaker

Role = Literal["camera", "microphone", "speaker"]

SYNTHETIC = "synthetic test source"
RATE_FRAMES = 10
"""Camera frames read to measure the frame rate (the first one gives the size)."""


@dataclass(frozen=True, slots=True)
class DeviceCheck:
    """The outcome for one device: ``detail`` says what it delivers, or why it does not work."""

    role: Role
    device: str
    working: bool
    detail: str

    def __str__(self) -> str:
        state = "working" if self.working else "not working"
        return f"{self.role} {self.device}: {state} ({self.detail})"


@dataclass(frozen=True, slots=True)
class DeviceReport:
    camera: DeviceCheck
    microphone: DeviceCheck
    speaker: DeviceCheck

    @property
    def checks(self) -> tuple[DeviceCheck, DeviceCheck, DeviceCheck]:
        return (self.camera, self.microphone, self.speaker)

    @property
    def all_working(self) -> bool:
        return all(check.working for check in self.checks)

    def lines(self) -> list[str]:
        """One line per device, e.g. ``camera /dev/video0: not working (v4l2 could not open it (...))``."""
        return [str(check) for check in self.checks]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def check_devices(
    video_device: str,
    audio_device: str,
    speaker_device: str | None,
    *,
    media_kind: SourceKind,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
    timeout: float = 5.0,
) -> DeviceReport:
    """Try the camera (V4L2, asked for ``width``x``height`` at ``fps``), the microphone and the speaker
    (ALSA). With ``media_kind="synthetic"`` the kiosk uses no device, and all are reported working.

    Blocking: run it in a thread. ``timeout`` bounds the wait for the camera's frames.
    """
    if media_kind == "synthetic":
        return DeviceReport(
            DeviceCheck("camera", "synthetic", True, SYNTHETIC),
            DeviceCheck("microphone", "synthetic", True, SYNTHETIC),
            DeviceCheck("speaker", "synthetic", True, "synthetic mode: the agent's audio is not played"),
        )
    return DeviceReport(
        check_camera(video_device, width=width, height=height, fps=fps, timeout=timeout),
        _check("microphone", audio_device, lambda: probe_device("audio", audio_device), "opened"),
        _check("speaker", speaker_device, lambda: probe_speaker(speaker_device), "opened")
        if speaker_device is not None
        else DeviceCheck("speaker", "none", False, "no speaker configured"),
    )


def check_camera(device: str, *, width: int, height: int, fps: int, timeout: float) -> DeviceCheck:
    """Open the camera, read a few frames and report their size and rate. Blocking."""
    options = {"video_size": f"{width}x{height}", "framerate": str(fps)}
    try:
        track = _open_player("video", device, "v4l2", options)
    except DeviceUnavailable as exc:
        return DeviceCheck("camera", device, False, exc.reason)
    try:
        detail = asyncio.run(_describe_video(track, timeout))
    except (TimeoutError, MediaStreamError):
        return DeviceCheck("camera", device, False, f"opened, but delivered no frame within {timeout:g}s")
    return DeviceCheck("camera", device, True, detail)


def _check(role: Role, device: str, probe: Callable[[], None], detail: str) -> DeviceCheck:
    try:
        probe()
    except DeviceUnavailable as exc:
        return DeviceCheck(role, device, False, exc.reason)
    return DeviceCheck(role, device, True, detail)


async def _describe_video(track: MediaStreamTrack, timeout: float) -> str:
    """``"640x480 at 30 fps"``: the first frame's size and the rate over the next few; stops the track."""
    frames: list[VideoFrame] = []
    try:
        async with asyncio.timeout(timeout):
            frames.append(await _video_frame(track))
        with contextlib.suppress(TimeoutError, MediaStreamError):  # the rate is measured over what arrived
            async with asyncio.timeout(timeout):
                while len(frames) < RATE_FRAMES:
                    frames.append(await _video_frame(track))
    finally:
        await asyncio.to_thread(track.stop)  # a camera track joins its capture thread
    first = frames[0]
    rate = _frame_rate(frames)
    size = f"{first.width}x{first.height}"
    return size if rate is None else f"{size} at {rate:.3g} fps"


async def _video_frame(track: MediaStreamTrack) -> VideoFrame:
    frame = await track.recv()
    if not isinstance(frame, VideoFrame):
        raise MediaStreamError(f"expected video frames, got {type(frame).__name__}")
    return frame


def _frame_rate(frames: list[VideoFrame]) -> float | None:
    first, last = frames[0], frames[-1]
    if len(frames) < 2 or first.pts is None or last.pts is None or first.time_base is None:
        return None
    span = (last.pts - first.pts) * fractions.Fraction(first.time_base)
    return float((len(frames) - 1) / span) if span > 0 else None
