"""Domain errors raised by the media building blocks."""

from __future__ import annotations


class MediaError(Exception):
    """Base class for errors raised by :mod:`media`."""


class DeviceUnavailable(MediaError):
    """A capture device (camera or microphone) could not be opened."""

    def __init__(self, kind: str, device: str, reason: str) -> None:
        super().__init__(f"cannot open {kind} device {device!r}: {reason}")
        self.kind = kind
        self.device = device
        self.reason = reason


class TrackEnded(MediaError):
    """The track ended (or failed) before the awaited frames arrived."""


class ConsumerStopped(MediaError):
    """The consumer was stopped before the awaited frames arrived."""
