"""Record received video and audio tracks to a media file (container chosen by the file suffix).

Readers drain each track as fast as it delivers, into one bounded queue that drops its oldest entry
when full, so a slow disk or encoder never makes memory grow. A writer task encodes and muxes in a
worker thread, so the event loop is never blocked by the codec. Streams are created from the first
frame of each track (size, sample rate), which is why writing waits briefly for every added track
to deliver.

aiortc's ``MediaRecorder`` is not wrapped: it encodes on the event loop, gives every video stream a
1/30 s time base (frames closer together than that collide), and its ``stop()`` cancels its tasks
without awaiting them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from media._muxer import Muxer, QueuedFrame

logger = logging.getLogger(__name__)


class Recorder:
    """Write one video and/or one audio track to ``path``.

    :param max_pending: frames queued for the encoder before the oldest are dropped.
    :param first_frame_timeout: how long writing waits for every track's first frame before it
        fixes the file's streams without the silent ones.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        container_format: str | None = None,
        max_pending: int = 120,
        first_frame_timeout: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self._container_format = container_format
        self._first_frame_timeout = first_frame_timeout
        self._tracks: dict[str, MediaStreamTrack] = {}
        self._queue: asyncio.Queue[QueuedFrame | None] = asyncio.Queue(maxsize=max_pending)
        self._first_frames: dict[str, QueuedFrame] = {}
        self._all_started = asyncio.Event()
        self._any_started = asyncio.Event()
        self._started = False
        self._muxer: Muxer | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._dropped = 0

    @property
    def frames_written(self) -> dict[str, int]:
        """Frames encoded so far, per kind."""
        return {} if self._muxer is None else self._muxer.frames_written

    @property
    def dropped_frames(self) -> int:
        """Frames dropped because the encoder fell behind or could not write them."""
        return self._dropped + (0 if self._muxer is None else self._muxer.dropped)

    def add_track(self, track: MediaStreamTrack) -> None:
        """Record ``track``; at most one audio and one video track, added before :meth:`start`."""
        if self._started or self._stopping is not None:
            raise RuntimeError("add tracks before start()")
        if track.kind not in ("audio", "video"):
            raise ValueError(f"cannot record a {track.kind!r} track")
        if track.kind in self._tracks:
            raise ValueError(f"already recording a {track.kind} track")
        self._tracks[track.kind] = track

    async def start(self) -> None:
        """Open the file and start reading the tracks. Calling it again is a no-op."""
        if self._stopping is not None:
            raise RuntimeError("a stopped recorder cannot be restarted")
        if self._started:
            return
        if not self._tracks:
            raise RuntimeError("add at least one track before start()")
        self._started = True
        try:
            muxer = await asyncio.to_thread(Muxer, self.path, self._container_format)
        except BaseException:
            self._started = False
            raise
        if self._stopping is not None:  # stop() ran while the file was being opened
            await asyncio.to_thread(muxer.close)
            return
        self._muxer = muxer
        self._readers = [
            asyncio.create_task(self._read(track), name=f"recorder-read:{kind}")
            for kind, track in self._tracks.items()
        ]
        self._writer = asyncio.create_task(self._write(self._muxer), name="recorder-write")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop reading, write what is queued, and finalise the file, within ``grace`` seconds.

        If the queued frames cannot be written in half the time they are dropped, so the rest of
        the time is left for finalising the file. Idempotent; concurrent calls share one shutdown.
        """
        if self._stopping is None:
            self._stopping = asyncio.create_task(self._shutdown(grace), name="recorder-stop")
        await asyncio.shield(self._stopping)

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                logger.debug("recorded %s track ended", track.kind)
                return
            if not isinstance(frame, VideoFrame | AudioFrame):
                logger.error("cannot record %s track: it delivers %s", track.kind, type(frame).__name__)
                return
            self._enqueue(QueuedFrame(track.kind, frame, time.monotonic()))
            await asyncio.sleep(0)  # yield even to a track whose recv() never suspends

    def _enqueue(self, item: QueuedFrame) -> None:
        if item.kind not in self._first_frames:
            self._first_frames[item.kind] = item
            self._any_started.set()
            if self._first_frames.keys() == self._tracks.keys():
                self._all_started.set()
        if self._queue.full():
            self._queue.get_nowait()
            self._dropped += 1
        self._queue.put_nowait(item)

    async def _write(self, muxer: Muxer) -> None:
        await self._await_first_frames()
        await asyncio.to_thread(muxer.configure, dict(self._first_frames))
        finished = False
        while not finished:
            batch, finished = await self._next_batch()
            if batch:
                await asyncio.to_thread(muxer.write, batch)

    async def _next_batch(self) -> tuple[list[QueuedFrame], bool]:
        """Everything queued (waiting for at least one entry), and whether the end marker came."""
        items = [await self._queue.get()]
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        frames = [item for item in items if item is not None]
        return frames, len(frames) < len(items)

    async def _await_first_frames(self) -> None:
        await self._any_started.wait()
        try:
            async with asyncio.timeout(self._first_frame_timeout):
                await self._all_started.wait()
        except TimeoutError:
            silent = sorted(self._tracks.keys() - self._first_frames.keys())
            logger.warning("recording %s without %s: no frames yet", self.path, ", ".join(silent))

    async def _shutdown(self, grace: float) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._any_started.set()  # release a writer still waiting for first frames
        self._all_started.set()
        if self._writer is not None:
            await self._drain(self._writer, grace / 2)
        if self._muxer is not None:
            await self._close_muxer(self._muxer, grace / 2)
            if not any(self._muxer.frames_written.values()):
                logger.warning("nothing was recorded to %s", self.path)

    async def _drain(self, writer: asyncio.Task[None], grace: float) -> None:
        if not writer.done():
            try:
                async with asyncio.timeout(grace):
                    await self._queue.put(None)
                    await asyncio.wait({writer})
            except TimeoutError:
                backlog = self._queue.qsize()
                self._dropped += backlog
                logger.warning("recorder dropped %d queued frames to stop in time", backlog)
            writer.cancel()
            await asyncio.wait({writer})
        if not writer.cancelled() and (error := writer.exception()) is not None:
            logger.error("recording to %s failed: %r", self.path, error, exc_info=error)

    async def _close_muxer(self, muxer: Muxer, grace: float) -> None:
        closing = asyncio.ensure_future(asyncio.to_thread(muxer.close))
        closing.add_done_callback(self._log_close_failure)
        done, _ = await asyncio.wait({closing}, timeout=grace)
        if not done:
            logger.error("finalising %s did not finish within %.1fs", self.path, grace)

    def _log_close_failure(self, closing: asyncio.Future[None]) -> None:
        if not closing.cancelled() and (error := closing.exception()) is not None:
            logger.error("finalising %s failed: %r", self.path, error, exc_info=error)
