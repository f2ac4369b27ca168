"""One client's WebSocket: a bounded send queue drained by its own task, so a slow client blocks nobody."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from aiohttp import WSCloseCode, web

from signaling.delivery import REVOKED, SESSION_ENDED, SUPERSEDED
from signaling.protocol import SEQ_FIELD, Error, ErrorCode, ServerMessage, encode, split_seq

log = logging.getLogger(__name__)

SEND_QUEUE_LIMIT = 512
SEND_TIMEOUT_S = 10.0
CLOSE_SUPERSEDED = 4001
CLOSE_SLOW = 4008
CLOSE_AUTH = 4401
"""Authentication failed, or the staff session expired: sign in again."""
CLOSE_REVOKED = 4403
"""The credential was ended by an administrator (kiosk revoked or rotated, staff signed out everywhere)."""


class Connection:
    def __init__(self, ws: web.WebSocketResponse, address: str) -> None:
        self.ws = ws
        self.address = address
        self.conn_id = uuid.uuid4().hex
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(SEND_QUEUE_LIMIT)
        self._close_code: int | None = None
        self._close_reason = ""
        self.seq = 0
        """The last numbered message queued to this client: any copy of it or an older one is dropped."""
        self._held: list[str] | None = None
        self.session_digest = ""
        """A console's staff session (its digest), to recognise that session's end."""
        self.session_ended = False
        """Its staff session was signed out: messages from it act on nothing more."""
        self.revoked = ""
        """Why its credential was ended (such as ``kiosk_revoked``), when it was: the party has gone for
        good (no reconnect grace), and its live call ends with this reason."""

    def hold(self) -> None:
        """Keep numbered messages back until ``resume_from`` (while the session is being resumed)."""
        self._held = []

    def resume_from(self, seq: int, missed: list[str]) -> None:
        """Send the ``missed`` messages, then the held ones that came after; from then on, numbered messages
        go out as they arrive, each once, from after ``seq``."""
        held, self._held = self._held or [], None
        self.seq = seq
        for data in missed + held:
            self.push(data)

    def push(self, data: str) -> None:
        """Queue an encoded message; called by delivery, never blocks."""
        if data.startswith(REVOKED):
            reason, _, text = data[len(REVOKED) :].partition(":")
            self.revoke(reason or "revoked", text or "credential revoked")
            return
        if data.startswith(SESSION_ENDED):
            if self.session_digest and data[len(SESSION_ENDED) :] == self.session_digest:
                self.session_ended = True
            return
        if data.startswith(SUPERSEDED):
            if data[len(SUPERSEDED) :] != self.conn_id:
                self.close_soon(CLOSE_SUPERSEDED, "replaced by a newer connection")
            return
        if data.startswith(SEQ_FIELD):
            if self._held is not None:
                self._held.append(data)
                return
            seq = split_seq(data)[0] or 0
            if seq <= self.seq:  # a copy of one already queued (replayed, then arrived live)
                return
            self.seq = seq
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            log.warning("closing %s: it does not read its messages", self.address)
            self.close_soon(CLOSE_SLOW, "too slow to read messages")

    async def send(self, message: ServerMessage) -> None:
        self.push(encode(message))

    async def send_error(self, code: ErrorCode, text: str, ref: str | None = None) -> None:
        await self.send(Error(code=code, message=text, ref=ref))

    @property
    def closed_by_server(self) -> bool:
        """This side closed (or gave up on) the socket: whatever close code the socket then shows, the
        client did not say goodbye."""
        return self._close_code is not None

    def revoke(self, reason: str, text: str) -> None:
        """Close because the party's credential was ended; ``reason`` is recorded on its live call."""
        if not self.revoked:
            self.revoked = reason
        self.close_soon(CLOSE_REVOKED, text)

    def close_soon(self, code: int, reason: str) -> None:
        if self._close_code is None:
            self._close_code = code
            self._close_reason = reason
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            if self._queue.full():
                # the writer will find the close code once it catches up; make room to wake it now
                with contextlib.suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
                self._queue.put_nowait(None)

    async def run_writer(self) -> None:
        """Send queued messages in order until closed; then close the socket with the recorded code."""
        while True:
            data = await self._queue.get()
            if data is None:
                break
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self.ws.send_str(data)
            except (ConnectionError, TimeoutError):
                self._close_code = self._close_code or WSCloseCode.GOING_AWAY
                break
        with contextlib.suppress(ConnectionError):
            await self.ws.close(
                code=self._close_code or WSCloseCode.OK, message=self._close_reason.encode()[:120]
            )


class ConnectionRegistry:
    """The connections this process holds: for presence refresh, metrics and shutdown."""

    def __init__(self) -> None:
        self._by_member: dict[str, Connection] = {}

    def add(self, member: str, conn: Connection) -> None:
        self._by_member[member] = conn

    def remove(self, member: str, conn: Connection) -> None:
        if self._by_member.get(member) is conn:
            del self._by_member[member]

    def members(self) -> list[str]:
        return list(self._by_member)

    def count(self, kind: str) -> int:
        return sum(1 for m in self._by_member if m.startswith(kind + ":"))

    def close_all(self, code: int, reason: str) -> None:
        for conn in list(self._by_member.values()):
            conn.close_soon(code, reason)
