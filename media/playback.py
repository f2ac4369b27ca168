"""Play a remote audio track (the agent's voice) on an ALSA playback device, with bounded latency.

A :class:`Speaker` reads the track in an asyncio task and hands frames to one writer thread, because
writing to ALSA blocks. Latency is bounded twice: the hand-over queue keeps at most ``max_queued``
seconds and drops the *oldest* audio when full, and the writer keeps at most ``max_ahead`` seconds
written ahead of playback (FFmpeg asks ALSA for a buffer of up to 131072 frames, ~2.7 s at 48 kHz,
which would otherwise fill with a burst of late packets and stay full).

PyAV holds the GIL while FFmpeg opens the PCM (``snd_pcm_open``) and while it drains it on close
(``snd_pcm_drain``), so both block the whole process: use a device that is not held exclusively by
another program (``default``, ``dmix``, PipeWire/PulseAudio), and keep ``max_ahead`` small, since
close waits for that much audio to play. Writes release the GIL.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import logging
import threading
import time
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import OutputContainer

from media.errors import ConsumerStopped, DeviceUnavailable, MediaError, TrackEnded

logger = logging.getLogger(__name__)

DEFAULT_RATE = 48000
DEFAULT_LAYOUT = "stereo"


def probe_speaker(device: str = "default", *, rate: int = DEFAULT_RATE, layout: str = DEFAULT_LAYOUT) -> None:
    """Open the ALSA playback device and close it at once; raises
    :class:`~media.errors.DeviceUnavailable` if it cannot be opened. Blocking: run it off the event loop."""
    _Output.open(device, rate, layout).close()


class Speaker:
    """Play ``track`` on the ALSA playback ``device`` from :meth:`start` until :meth:`stop`.

    The speaker does not own the track: :meth:`stop` stops reading but leaves the track running. If
    the device fails while playing, the speaker keeps draining the track (counting its frames as
    dropped), so nothing builds up in aiortc's receive queue.
    """

    def __init__(
        self,
        track: MediaStreamTrack,
        device: str = "default",
        *,
        rate: int = DEFAULT_RATE,
        layout: str = DEFAULT_LAYOUT,
        max_queued: float = 0.2,
        max_ahead: float = 0.1,
    ) -> None:
        if max_queued <= 0 or max_ahead <= 0:
            raise ValueError(f"max_queued and max_ahead must be positive, got {max_queued}, {max_ahead}")
        self.track = track
        self.device = device
        self.rate = rate
        self.layout = layout
        self.max_ahead = max_ahead
        self._queue = _PlayoutQueue(max_queued)
        self._resampler = _Resampler(rate, layout)
        self._output: _Output | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()  # wakes the writer's pacing wait
        self._finished = asyncio.Event()  # the writer has closed the device
        self._progress = asyncio.Event()  # replaced after every change; set to wake current waiters
        self._played = 0
        self._played_samples = 0
        self._late_drops = 0  # frames read after the device failed
        self._failure: str | None = None
        self._stopped = False

    @property
    def frames_played(self) -> int:
        """Frames written to the device (after resampling: about 20 ms each for WebRTC audio)."""
        return self._played

    @property
    def seconds_played(self) -> float:
        return self._played_samples / self.rate

    @property
    def frames_dropped(self) -> int:
        """Frames discarded to keep latency bounded, or because the device failed."""
        return self._queue.dropped + self._late_drops

    @property
    def queued_seconds(self) -> float:
        """Audio waiting for the writer (at most about ``max_queued``)."""
        return self._queue.seconds

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the speaker stops, fails, or has played out an ended track."""
        return self._writer is not None and not self._finished.is_set() and not self._stopped

    @property
    def failed(self) -> bool:
        return self._failure is not None

    @property
    def failure(self) -> str | None:
        """Why the device stopped playing, if it failed."""
        return self._failure

    @property
    def finished(self) -> bool:
        """True once the device is closed (track ended and played out, device failed, or stopped)."""
        return self._finished.is_set()

    def start(self) -> None:
        """Open the device and start playing; calling it again is a no-op.

        Raises :class:`~media.errors.DeviceUnavailable` if the device cannot be opened. Opening takes
        a few milliseconds on the calling thread (see the module's note on the GIL).
        """
        if self._stopped:
            raise RuntimeError("a stopped speaker cannot be restarted")
        if self._writer is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._output = _Output.open(self.device, self.rate, self.layout)
        self._writer = threading.Thread(target=self._write_all, name=f"speaker:{self.device}", daemon=True)
        self._writer.start()
        self._reader = asyncio.create_task(self._read(), name=f"speaker-reader:{self.device}")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop reading, discard queued audio and close the device, waiting at most ``grace`` s.

        Idempotent; calling it again waits again for a writer that is stuck in a blocked device.
        """
        self._stopped = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait({reader}, timeout=grace)
        self._stopping.set()
        self._queue.close(discard=True)
        self._wake()
        if self._writer is None:
            self._finished.set()
            return
        try:
            async with asyncio.timeout_at(deadline):
                await self._finished.wait()
        except TimeoutError:
            logger.warning("speaker %r did not close within %.1fs (device blocked?)", self.device, grace)

    async def wait_frames(self, *, played: int = 0, dropped: int = 0, timeout: float) -> None:
        """Wait until at least ``played`` frames were played and ``dropped`` dropped.

        Raises :class:`TimeoutError` after ``timeout`` s, and a :class:`~media.errors.MediaError` if the
        speaker finishes first: :class:`~media.errors.TrackEnded` (track ended),
        :class:`~media.errors.ConsumerStopped` (stopped) or MediaError (device failed).
        """
        try:
            async with asyncio.timeout(timeout):
                while self._played < played or self.frames_dropped < dropped:
                    if not self._can_reach(played, dropped):
                        raise self._finish_reason()
                    await self._progress.wait()
        except TimeoutError:
            raise TimeoutError(
                f"speaker {self.device!r}: {self._played} played, {self.frames_dropped} dropped "
                f"after {timeout:.1f}s (waited for {played} played, {dropped} dropped)"
            ) from None

    async def wait_finished(self, timeout: float) -> None:
        """Wait until the device is closed (the track ended and was played out, or the device failed)."""
        async with asyncio.timeout(timeout):
            await self._finished.wait()

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self._accept(frame)
                await asyncio.sleep(0)  # yield even to a track whose recv() never suspends
        except MediaStreamError:
            logger.debug("speaker %r: track ended after %d frames", self.device, self._played)
        except Exception:
            logger.exception("speaker %r: track failed", self.device)
        self._queue.close(discard=False)  # the writer plays out what is queued, then closes the device
        self._wake()

    def _accept(self, frame: object) -> None:
        if not isinstance(frame, AudioFrame):
            raise TypeError(f"a speaker plays audio frames, not {type(frame).__name__}")
        if self._failure is not None:
            self._late_drops += 1
            self._wake()
            return
        dropped = self._queue.dropped
        for out in self._resampler.resample(frame):
            self._queue.put(out)
        if self._queue.dropped != dropped:
            self._wake()

    def _write_all(self) -> None:
        """The writer thread: pace, take the oldest queued frame, write it; close the device at the end."""
        output = self._output
        assert output is not None
        try:
            while self._wait_for_room(output) and (frame := self._queue.take()) is not None:
                output.write(frame)
                self._played += 1
                self._played_samples += frame.samples
                self._call_soon(self._wake)
        except (OSError, ValueError) as exc:  # av.FFmpegError subclasses OSError
            self._failure = f"alsa write failed ({exc})"
            self._queue.close(discard=True)
            logger.error("speaker %r failed after %d frames: %s", self.device, self._played, exc)
        finally:
            output.close()
            self._call_soon(self._writer_finished)

    def _wait_for_room(self, output: _Output) -> bool:
        """Wait until less than ``max_ahead`` s is written ahead of playback; False if stopping."""
        excess = output.ahead() - self.max_ahead
        if excess > 0:
            self._stopping.wait(excess)  # pacing at the device's rate, cut short by stop()
        return not self._stopping.is_set()

    def _writer_finished(self) -> None:
        self._finished.set()
        self._wake()

    def _call_soon(self, callback: Callable[[], None]) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(callback)

    def _can_reach(self, played: int, dropped: int) -> bool:
        """Whether the counts can still grow to ``played`` and ``dropped``."""
        writing = not (self._stopped or self._finished.is_set())
        reading = self._reader is not None and not self._reader.done()
        return (self._played >= played or writing) and (self.frames_dropped >= dropped or reading)

    def _finish_reason(self) -> MediaError:
        summary = f"speaker {self.device!r} finished after {self._played} frames"
        if self._failure is not None:
            return MediaError(f"{summary}: {self._failure}")
        if self._stopped:
            return ConsumerStopped(f"{summary}: stopped")
        return TrackEnded(f"{summary}: the track ended")

    def _wake(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()


class _PlayoutQueue:
    """Frames for the writer thread, at most ``max_seconds`` of audio: a new frame pushes out the oldest."""

    def __init__(self, max_seconds: float) -> None:
        self._max_seconds = max_seconds
        self._frames: collections.deque[AudioFrame] = collections.deque()
        self._seconds = 0.0
        self._closed = False
        self._changed = threading.Condition()
        self.dropped = 0

    @property
    def seconds(self) -> float:
        return self._seconds

    def put(self, frame: AudioFrame) -> None:
        with self._changed:
            if self._closed:
                self.dropped += 1
                return
            self._frames.append(frame)
            self._seconds += _duration(frame)
            while self._seconds > self._max_seconds + 1e-9 and len(self._frames) > 1:
                self._seconds -= _duration(self._frames.popleft())
                self.dropped += 1
            self._changed.notify()

    def take(self) -> AudioFrame | None:
        """The oldest frame, waiting for one; None once closed and empty."""
        with self._changed:
            self._changed.wait_for(lambda: self._frames or self._closed)
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._seconds -= _duration(frame)
            return frame

    def close(self, *, discard: bool) -> None:
        """No more frames; with ``discard``, forget the queued ones too."""
        with self._changed:
            self._closed = True
            if discard:
                self._frames.clear()
                self._seconds = 0.0
            self._changed.notify_all()


class _Resampler:
    """Converts any audio frame to packed s16 at the output's rate and layout (a no-op if it matches)."""

    def __init__(self, rate: int, layout: str) -> None:
        self._rate = rate
        self._layout = layout
        self._source: tuple[str, str, int] | None = None
        self._resampler: AudioResampler | None = None

    def resample(self, frame: AudioFrame) -> list[AudioFrame]:
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        if self._resampler is None or source != self._source:  # PyAV's resampler is fixed to one input
            self._source = source
            self._resampler = AudioResampler(format="s16", layout=self._layout, rate=self._rate)
        return self._resampler.resample(frame)


class _Output:
    """An ALSA playback PCM opened through FFmpeg's ``alsa`` output device; used by one thread at a time."""

    def __init__(self, container: OutputContainer, stream: AudioStream, rate: int) -> None:
        self._container = container
        self._stream = stream
        self._rate = rate
        self._time_base = fractions.Fraction(1, rate)
        self._samples = 0
        self._playout_end = 0.0  # time.monotonic() when what was written will have played

    @classmethod
    def open(cls, device: str, rate: int, layout: str) -> _Output:
        try:
            container = av.open(device, mode="w", format="alsa")
        except (OSError, ValueError) as exc:
            raise DeviceUnavailable("speaker", device, f"FFmpeg cannot write to alsa ({exc})") from exc
        try:
            stream = container.add_stream("pcm_s16le", rate=rate, layout=layout)
            container.start_encoding()  # FFmpeg opens the PCM and sets its parameters here
        except (OSError, ValueError) as exc:
            container.close()
            reason = f"alsa could not open it for playback ({exc})"
            raise DeviceUnavailable("speaker", device, reason) from exc
        return cls(container, stream, rate)

    def ahead(self) -> float:
        """Seconds of written audio not yet played, assuming the device plays at its nominal rate."""
        return max(self._playout_end - time.monotonic(), 0.0)

    def write(self, frame: AudioFrame) -> None:
        """Write one packed s16 frame at the output's rate and layout; blocks while the device is full."""
        for packet in self._stream.encode(frame):
            # Our own timestamps: the frame's may jump or restart (frames are not ours to modify).
            packet.pts = packet.dts = self._samples
            packet.time_base = self._time_base
            self._container.mux(packet)
        self._samples += frame.samples
        now = time.monotonic()
        self._playout_end = max(self._playout_end, now) + frame.samples / self._rate

    def close(self) -> None:
        """Close the device after the written audio has played (at most ``ahead()`` s)."""
        try:
            self._container.close()
        except (OSError, ValueError) as exc:
            logger.warning("closing the speaker failed: %s", exc)


def _duration(frame: AudioFrame) -> float:
    return frame.samples / frame.sample_rate
