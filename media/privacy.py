"""The customer's mute and camera switches, applied to what the kiosk sends.

A :class:`PrivacySwitches` object is shared by the tracks of every peer connection of a call (a new one
after a broken path keeps the customer's choice). A :class:`GatedTrack` passes its source's frames on
while its switch is on; while off it sends black video or silent audio of the same size, timing and
format, so the far end's decoder, jitter buffer and statistics carry on undisturbed, and the camera or
microphone keeps being read (no queue builds up behind the switch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, VideoFrame
from av.frame import Frame
from av.packet import Packet
from av.stream import Stream


@dataclass
class PrivacySwitches:
    microphone: bool = True
    """The customer's voice is sent (False: muted)."""
    camera: bool = True
    """The customer's picture is sent (False: camera off, black frames)."""


class GatedTrack(MediaStreamTrack):
    """``source``'s frames while ``is_on()``; black or silent frames of the same shape while not."""

    def __init__(self, source: MediaStreamTrack, is_on: Callable[[], bool]) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._is_on = is_on
        self._black: dict[tuple[int, int], np.ndarray] = {}

    async def recv(self) -> Frame | Packet[Stream]:
        frame = await self._source.recv()
        if self._is_on():
            return frame
        if isinstance(frame, VideoFrame):
            return self._black_like(frame)
        if isinstance(frame, AudioFrame):
            return silent_like(frame)
        return frame

    def _black_like(self, frame: VideoFrame) -> VideoFrame:
        size = (frame.width, frame.height)
        planes = self._black.get(size)
        if planes is None:  # yuv420p black: Y=16, U=V=128, as one (h*3/2, w) array
            luma = np.full((frame.height, frame.width), 16, np.uint8)
            chroma = np.full((frame.height // 2, frame.width), 128, np.uint8)
            planes = self._black[size] = np.concatenate((luma, chroma))
        black = VideoFrame.from_ndarray(planes, format="yuv420p")
        black.pts, black.time_base = frame.pts, frame.time_base
        return black

    def stop(self) -> None:
        super().stop()
        self._source.stop()


def silent_like(frame: AudioFrame) -> AudioFrame:
    """A frame of silence with ``frame``'s format, layout, length and timing."""
    silent = AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
    for plane in silent.planes:
        plane.update(bytes(plane.buffer_size))
    silent.sample_rate, silent.pts, silent.time_base = frame.sample_rate, frame.pts, frame.time_base
    return silent
