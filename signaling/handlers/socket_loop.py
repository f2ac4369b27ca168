"""The receive side shared by every WebSocket endpoint: size limit, decoding, typed errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import WSMsgType, web

from signaling.connections import Connection
from signaling.metrics import Metrics
from signaling.protocol import MAX_MESSAGE_BYTES, ErrorCode, ProtocolError

log = logging.getLogger(__name__)

M = TypeVar("M")

FIRST_MESSAGE_TIMEOUT_S = 10.0
CLOSE_TOO_LARGE = 1009


def new_socket() -> web.WebSocketResponse:
    # the size limit is enforced by aiohttp (the frame is refused and the socket closed with 1009)
    return web.WebSocketResponse(heartbeat=10.0, max_msg_size=MAX_MESSAGE_BYTES + 1024)


async def receive_loop(
    ws: web.WebSocketResponse,
    conn: Connection,
    decode: Callable[[str], M],
    handle: Callable[[M], Awaitable[None]],
    metrics: Metrics,
) -> None:
    """Decode and handle each text frame until the socket closes. A refused message gets a typed error and
    changes nothing; the connection stays open."""
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            message: M | None = None
            try:
                message = decode(msg.data)
                await handle(message)
            except ProtocolError as exc:
                if exc.ref is None and message is not None:  # say which request was refused
                    exc.ref = message.__struct_config__.tag  # type: ignore[attr-defined]
                metrics.rejected_messages.labels(exc.code.value).inc()
                await conn.send(exc.to_message())
        elif msg.type == WSMsgType.BINARY:
            metrics.rejected_messages.labels(ErrorCode.BAD_MESSAGE.value).inc()
            await conn.send_error(ErrorCode.BAD_MESSAGE, "binary frames are not part of the protocol")
        elif msg.type == WSMsgType.ERROR:
            log.info("socket of %s failed: %s", conn.address, ws.exception())
            break
