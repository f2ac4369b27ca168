"""Media building blocks for the kiosk peer: sources, consumers and recording."""

from media.capture import MediaSource, SourceKind, open_media, probe_device
from media.errors import ConsumerStopped, DeviceUnavailable, MediaError, TrackEnded
from media.latest import LatestFrameConsumer
from media.recording import Recorder
from media.synthetic import (
    MAX_FRAME_COUNTER,
    SyntheticAudioTrack,
    SyntheticVideoTrack,
    read_frame_counter,
    tone_level,
)

__all__ = [
    "MAX_FRAME_COUNTER",
    "ConsumerStopped",
    "DeviceUnavailable",
    "LatestFrameConsumer",
    "MediaError",
    "MediaSource",
    "Recorder",
    "SourceKind",
    "SyntheticAudioTrack",
    "SyntheticVideoTrack",
    "TrackEnded",
    "open_media",
    "probe_device",
    "read_frame_counter",
    "tone_level",
]
