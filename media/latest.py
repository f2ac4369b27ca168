"""Drain a track as fast as it delivers and keep only the newest frame.

aiortc's receivers queue decoded frames without bound, so a consumer that reads slower than the
sender sends makes memory grow and latency pile up. :class:`LatestFrameConsumer` reads in its own
task, keeps a single frame, and lets callers wait for progress with a bounded wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TypeAlias

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet
from av.stream import Stream

from media.errors import ConsumerStopped, TrackEnded

logger = logging.getLogger(__name__)

Media: TypeAlias = "Frame | Packet[Stream]"  # Packet is generic only in the stubs


class LatestFrameConsumer:
    """Consume ``track`` in a background task, keeping the latest frame and a frame count.

    The consumer does not own the track: :meth:`stop` stops reading but leaves the track running.
    """

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self._latest: Media | None = None
        self._count = 0
        self._last_frame_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()
        self._progress = asyncio.Event()  # replaced after every frame; set to wake current waiters
        self._outcome: Exception | None = None

    @property
    def latest(self) -> Media | None:
        """The most recent frame, or None before the first one."""
        return self._latest

    @property
    def frame_count(self) -> int:
        """Frames received since :meth:`start`."""
        return self._count

    @property
    def last_frame_at(self) -> float | None:
        """``time.monotonic()`` when the latest frame arrived, or None before the first one."""
        return self._last_frame_at

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of reading (track ended or consumer stopped)."""
        return self._task is not None and not self._finished.is_set()

    @property
    def ended(self) -> bool:
        """True once the track has ended (or failed); no more frames will arrive."""
        return isinstance(self._outcome, TrackEnded)

    def start(self) -> None:
        """Start reading; calling it again is a no-op. A stopped consumer cannot be restarted."""
        if isinstance(self._outcome, ConsumerStopped):
            raise RuntimeError("a stopped consumer cannot be restarted")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"latest-frame:{self.track.kind}")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop reading and wait (at most ``grace`` seconds) for the task to finish. Idempotent."""
        task = self._task
        if task is None or task.done():
            self._finish(ConsumerStopped(f"consumer stopped after {self._count} frames"))
            return
        task.cancel()
        _, pending = await asyncio.wait({task}, timeout=grace)
        if pending:
            logger.warning("%s track consumer did not stop within %.1fs", self.track.kind, grace)
        self._finish(ConsumerStopped(f"consumer stopped after {self._count} frames"))

    async def wait_for_frames(self, n: int, timeout: float) -> Media:
        """Wait until at least ``n`` frames have arrived since :meth:`start`; return the latest.

        Raises :class:`TimeoutError` after ``timeout`` seconds, :class:`~media.errors.TrackEnded` if
        the track ends first, and :class:`~media.errors.ConsumerStopped` if the consumer is stopped.
        """
        if n < 1:
            raise ValueError(f"wait for at least one frame, not {n}")
        try:
            async with asyncio.timeout(timeout):
                while self._count < n:
                    if self._outcome is not None:
                        raise _fresh(self._outcome)
                    await self._progress.wait()
        except TimeoutError:
            raise TimeoutError(
                f"{self.track.kind} track: {self._count} of {n} frames after {timeout:.1f}s"
            ) from None
        assert self._latest is not None  # n >= 1 frames have arrived
        return self._latest

    async def wait_ended(self, timeout: float) -> None:
        """Wait until the consumer has finished (track ended or consumer stopped)."""
        async with asyncio.timeout(timeout):
            await self._finished.wait()

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self._on_frame(frame)
                await asyncio.sleep(0)  # yield even to a track whose recv() never suspends
        except MediaStreamError:
            logger.debug("%s track ended after %d frames", self.track.kind, self._count)
            self._finish(TrackEnded(f"{self.track.kind} track ended after {self._count} frames"))
        except Exception as exc:
            logger.exception("%s track failed after %d frames", self.track.kind, self._count)
            failure = TrackEnded(f"{self.track.kind} track failed after {self._count} frames: {exc!r}")
            failure.__cause__ = exc
            self._finish(failure)

    def _on_frame(self, frame: Media) -> None:
        self._latest = frame
        self._count += 1
        self._last_frame_at = time.monotonic()
        self._wake()

    def _finish(self, outcome: Exception) -> None:
        if self._outcome is None:
            self._outcome = outcome
        self._finished.set()
        self._wake()

    def _wake(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()


def _fresh(outcome: Exception) -> Exception:
    """A new exception like ``outcome``, so each waiter gets its own traceback."""
    fresh = type(outcome)(*outcome.args)
    fresh.__cause__ = outcome.__cause__
    return fresh
