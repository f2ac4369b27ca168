"""The receive side shared by every WebSocket endpoint: rate and size limits, decoding, typed errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from signaling.connections import Connection
from signaling.handlers.inbound_limits import MAX_FRAME_BYTES, InboundLimiter, Verdict
from signaling.metrics import Metrics
from signaling.protocol import MAX_MESSAGE_BYTES, ErrorCode, ProtocolError
from signaling.settings import Settings

log = logging.getLogger(__name__)

M = TypeVar("M")

FIRST_MESSAGE_TIMEOUT_S = 10.0
CLOSE_TOO_LARGE = 1009
RATE_LIMITED_TEXT = "too many messages; slow down"
FLOOD_CLOSE_REASON = "too many messages"


class ClientSocket(web.WebSocketResponse):
    """A kiosk's or agent's WebSocket, with its own allowance of messages."""

    def __init__(self, limiter: InboundLimiter) -> None:
        # aiohttp cuts off only absurd frames (closing with 1009); ones over the protocol's limit but under
        # this are read and refused with a typed ``too_large`` error, and the socket stays open
        super().__init__(heartbeat=10.0, max_msg_size=MAX_FRAME_BYTES)
        self.limiter = limiter


def new_socket(settings: Settings) -> ClientSocket:
    return ClientSocket(InboundLimiter(settings.client_messages_per_s, settings.client_message_burst))


async def receive_loop(
    ws: web.WebSocketResponse,
    conn: Connection,
    decode: Callable[[str], M],
    handle: Callable[[M], Awaitable[None]],
    metrics: Metrics,
) -> None:
    """Decode and handle each text frame until the socket closes. A refused message gets a typed error and
    changes nothing; the connection stays open, unless the client floods it."""
    if not isinstance(ws, ClientSocket):
        raise TypeError("client sockets are made by new_socket(settings)")
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            log.info("socket of %s failed: %s", conn.address, ws.exception())
            break
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            continue
        verdict = ws.limiter.check()
        if verdict is Verdict.DISCONNECT:
            metrics.rejected_messages.labels(ErrorCode.RATE_LIMITED.value).inc()
            log.warning("closing %s: it keeps sending more messages than allowed", conn.address)
            conn.close_soon(WSCloseCode.POLICY_VIOLATION, FLOOD_CLOSE_REASON)
            break
        try:
            if verdict is not Verdict.ACCEPT:  # not acted on; the client is told once in a while
                raise ProtocolError(ErrorCode.RATE_LIMITED, RATE_LIMITED_TEXT, _peek(msg))
            await _receive(msg, decode, handle)
        except ProtocolError as exc:
            metrics.rejected_messages.labels(exc.code.value).inc()
            if verdict is not Verdict.REFUSE_QUIETLY:
                await conn.send(exc.to_message())


def _peek(msg: WSMessage) -> str | None:
    return peek_type(msg.data) if msg.type == WSMsgType.TEXT else None


async def _receive(
    msg: WSMessage, decode: Callable[[str], M], handle: Callable[[M], Awaitable[None]]
) -> None:
    if msg.type == WSMsgType.BINARY:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "binary frames are not part of the protocol")
    data: str = msg.data
    if _over_limit(data):
        too_large = f"message exceeds {MAX_MESSAGE_BYTES} bytes"
        raise ProtocolError(ErrorCode.TOO_LARGE, too_large, peek_type(data))
    message: M | None = None
    try:
        message = decode(data)
        await handle(message)
    except ProtocolError as exc:
        if exc.ref is None and message is not None:  # say which request was refused
            exc.ref = message.__struct_config__.tag  # type: ignore[attr-defined]
        raise


def _over_limit(data: str) -> bool:
    """Whether a text frame is over the protocol's limit in UTF-8 bytes (characters <= bytes <= 4 *
    characters, so it is encoded only when that could matter)."""
    if len(data) > MAX_MESSAGE_BYTES:
        return True
    return len(data) * 4 > MAX_MESSAGE_BYTES and len(data.encode()) > MAX_MESSAGE_BYTES


_TYPE_FIRST = re.compile(r'\s*\{\s*"type"\s*:\s*"([A-Za-z0-9_]{1,40})"')


def peek_type(data: str) -> str | None:
    """The ``type`` of a text frame when it comes first (as every client writes it), from its first bytes
    only: cheap enough for a message that is refused unread."""
    found = _TYPE_FIRST.match(data, 0, 96)
    return found.group(1) if found else None
