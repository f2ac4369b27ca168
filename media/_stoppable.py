"""A track wrapper whose pending ``recv()`` ends as soon as the wrapper is stopped.

aiortc's relay proxies (and player tracks) do not wake a reader that is already waiting when they are
stopped; that reader would wait forever. Stopping this wrapper fails the pending ``recv()`` with
``MediaStreamError``, the way a track that ended on its own does.
"""

from __future__ import annotations

import asyncio

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet
from av.stream import Stream


class StoppableTrack(MediaStreamTrack):
    def __init__(self, inner: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = inner.kind
        self._inner = inner
        self._stopped: asyncio.Future[None] | None = None

    async def recv(self) -> Frame | Packet[Stream]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._stopped is None:
            self._stopped = asyncio.get_running_loop().create_future()
        receiving: asyncio.Future[Frame | Packet[Stream]] = asyncio.ensure_future(self._inner.recv())
        try:
            await asyncio.wait((receiving, self._stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not receiving.done():
                receiving.cancel()
        if not receiving.done() or receiving.cancelled():
            raise MediaStreamError
        return receiving.result()

    def stop(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)
        self._inner.stop()
        super().stop()
