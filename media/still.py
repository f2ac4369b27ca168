"""Still pictures from a video source: one frame at the camera's full resolution, encoded as JPEG.

PyAV's MJPEG encoder does the encoding (no imaging library needed); ``quality`` is FFmpeg's ``qscale``
(2 best … 31 worst)."""

from __future__ import annotations

import asyncio

import av
from aiortc.mediastreams import MediaStreamTrack
from av import VideoFrame
from av.video.reformatter import VideoReformatter

CAPTURE_TIMEOUT_S = 5.0
JPEG_QSCALE = 3


async def capture_frame(track: MediaStreamTrack, timeout: float = CAPTURE_TIMEOUT_S) -> VideoFrame:
    """The next frame of ``track`` (a fresh subscription to the camera: its frames are full size)."""
    async with asyncio.timeout(timeout):
        frame = await track.recv()
    if not isinstance(frame, VideoFrame):
        raise TypeError(f"expected a video frame, got {type(frame).__name__}")
    return frame


def encode_jpeg(frame: VideoFrame, qscale: int = JPEG_QSCALE) -> bytes:
    """``frame`` as a baseline JPEG of the same width and height."""
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height = frame.width, frame.height
    codec.pix_fmt = "yuvj420p"
    codec.options = {"qmin": str(qscale), "qmax": str(qscale)}
    # A converter of our own: ``frame.reformat`` keeps one per frame, and the camera's frames are shared
    # (MediaRelay) with the call's video encoder, which converts the same frame on another thread.
    still = VideoReformatter().reformat(frame, format="yuvj420p")
    still.pts = 0
    packets = [*codec.encode(still), *codec.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


def decode_jpeg(data: bytes) -> VideoFrame:
    """The picture in a JPEG (tests, and a kiosk checking what it sends)."""
    codec = av.CodecContext.create("mjpeg", "r")
    frames = [*codec.decode(av.Packet(data)), *codec.decode(None)]
    if not frames or not isinstance(frames[0], VideoFrame):
        raise ValueError("not a JPEG picture")
    return frames[0]
