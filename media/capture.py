"""Open the kiosk's camera and microphone (or synthetic stand-ins) as shareable aiortc tracks.

Each source track is read once, by a :class:`~aiortc.contrib.media.MediaRelay`; consumers get relay
subscriptions. Video subscriptions are unbuffered (a slow consumer skips to the newest frame instead
of queueing); audio subscriptions are buffered, because dropping audio frames is audible.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from media._stoppable import StoppableTrack
from media.errors import DeviceUnavailable
from media.synthetic import SyntheticAudioTrack, SyntheticVideoTrack

logger = logging.getLogger(__name__)

SourceKind = Literal["synthetic", "device"]


class MediaSource:
    """A video and an audio source shared through one relay; close it to release the devices."""

    def __init__(self, video: MediaStreamTrack, audio: MediaStreamTrack) -> None:
        self._sources = (video, audio)
        self._relay = MediaRelay()
        self._subscriptions: list[MediaStreamTrack] = []
        self._closing: asyncio.Task[None] | None = None
        self.video = self.subscribe_video()
        self.audio = self.subscribe_audio()

    @property
    def closed(self) -> bool:
        return self._closing is not None

    @property
    def live(self) -> tuple[bool, bool]:
        """Whether the camera and the microphone still deliver (a device that failed or was unplugged
        ends its track)."""
        video, audio = self._sources
        return (
            not self.closed and video.readyState == "live",
            not self.closed and audio.readyState == "live",
        )

    def subscribe_video(self) -> MediaStreamTrack:
        """A new track that receives the newest camera frame (frames a slow reader misses are skipped)."""
        return self._subscribe(self._sources[0], buffered=False)

    def subscribe_audio(self) -> MediaStreamTrack:
        """A new track that receives every microphone frame."""
        return self._subscribe(self._sources[1], buffered=True)

    async def close(self, grace: float = 5.0) -> None:
        """End every subscription and release the devices, waiting at most ``grace`` s.

        Idempotent; concurrent calls share one close.
        """
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(grace), name="media-source-close")
        await asyncio.shield(self._closing)

    async def _close(self, grace: float) -> None:
        for subscription in self._subscriptions:
            subscription.stop()  # wakes a reader waiting in recv() with MediaStreamError
        # A MediaPlayer track joins its capture thread in stop(), so stop the sources off the loop.
        # Nothing outside this object holds them, so no "ended" listener runs on that thread.
        stopping = asyncio.ensure_future(asyncio.to_thread(_stop_all, self._sources))
        done, _ = await asyncio.wait({stopping}, timeout=grace)
        if not done:
            logger.warning("capture devices did not release within %.1fs", grace)

    def _subscribe(self, source: MediaStreamTrack, *, buffered: bool) -> MediaStreamTrack:
        if self.closed:
            raise RuntimeError("media source is closed")
        subscription = StoppableTrack(self._relay.subscribe(source, buffered=buffered))
        self._subscriptions.append(subscription)
        return subscription


def open_media(
    kind: SourceKind,
    video_device: str = "/dev/video0",
    audio_device: str = "default",
    *,
    width: int = 640,
    height: int = 480,
    fps: int = 30,
) -> MediaSource:
    """Open the camera and microphone (``"device"``: V4L2 and ALSA) or synthetic stand-ins.

    Raises :class:`~media.errors.DeviceUnavailable` if a device cannot be opened.
    """
    if kind == "synthetic":
        return MediaSource(SyntheticVideoTrack(width, height, fps), SyntheticAudioTrack())
    if kind == "device":
        return _open_devices(video_device, audio_device, width=width, height=height, fps=fps)
    raise ValueError(f"unknown media source kind {kind!r}")


def probe_device(kind: Literal["video", "audio"], device: str) -> None:
    """Open the camera (``video``, V4L2) or microphone (``audio``, ALSA) and release it at once; raises
    :class:`~media.errors.DeviceUnavailable` if it cannot be opened. Blocking: run it off the event loop."""
    if kind == "video":
        track = _open_player("video", device, "v4l2", {})
    else:
        track = _open_player("audio", device, "alsa", {})
    _stop_all((track,))


def _open_devices(video_device: str, audio_device: str, *, width: int, height: int, fps: int) -> MediaSource:
    camera = _open_player(
        "video",
        video_device,
        "v4l2",
        {"video_size": f"{width}x{height}", "framerate": str(fps)},
    )
    try:
        # PyAV wheels bundle their own alsa-lib, which looks for its configuration in a folder of the
        # build machine ("Unknown PCM default"); ALSA_CONFIG_DIR=/usr/share/alsa points it at the
        # system's (kiosk run sets it when unset).
        microphone = _open_player("audio", audio_device, "alsa", {})
    except DeviceUnavailable:
        _stop_all((camera,))
        raise
    return MediaSource(camera, microphone)


def _open_player(kind: str, device: str, input_format: str, options: dict[str, str]) -> MediaStreamTrack:
    try:
        player = MediaPlayer(device, format=input_format, options=options)
    except (OSError, ValueError) as exc:  # av.FFmpegError subclasses OSError
        raise DeviceUnavailable(kind, device, f"{input_format} could not open it ({exc})") from exc
    track = player.video if kind == "video" else player.audio
    if track is None:
        for other in (player.video, player.audio):
            if other is not None:
                other.stop()
        raise DeviceUnavailable(kind, device, f"{input_format} opened it but found no {kind} stream")
    return track


def _stop_all(tracks: tuple[MediaStreamTrack, ...]) -> None:
    for track in tracks:
        track.stop()
