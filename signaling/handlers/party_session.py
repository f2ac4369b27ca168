"""The life of one kiosk's or agent's socket: register, greet, receive until closed, then clean up."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from signaling.connections import Connection
from signaling.handlers.socket_loop import receive_loop
from signaling.outbox import Resumption
from signaling.protocol import Error, ErrorCode
from signaling.routing.engine import PartyKind
from signaling.services import Services

log = logging.getLogger(__name__)

M = TypeVar("M")


class PartySession(ABC, Generic[M]):
    kind: PartyKind

    def __init__(
        self,
        services: Services,
        ws: web.WebSocketResponse,
        party_id: str,
        resume_token: str | None = None,
        last_seq: int = 0,
    ) -> None:
        self.s = services
        self.party_id = party_id
        self.conn = Connection(ws, f"{self.kind}:{party_id}")
        self.resume_token = resume_token
        self.last_seq = last_seq

    @property
    def member(self) -> str:
        """This party's name in presence, delivery and the connection registry."""
        return self.conn.address

    @abstractmethod
    async def greet(self, session: Resumption) -> None:
        """Register the party as online, send its welcome (with the session's token, seq and whether it
        resumed), call ``resumed``, and tell a new session its current state."""

    def resumed(self, session: Resumption) -> None:
        """After the welcome: replay what a resumed session missed; then numbered messages flow again."""
        if session.resumed:
            self.conn.resume_from(self.last_seq, session.missed)
        else:
            self.conn.resume_from(session.seq, [])

    @abstractmethod
    async def handle(self, msg: M) -> None: ...

    def forget(self) -> None:
        """Drop what this process tracks for the party (on close)."""

    def watch(self) -> None:
        """Register the identity behind this socket with the process's ``IdentityWatch``."""

    async def _revoked(self) -> None:
        """The party's credential was ended (``conn.revoked`` says why): it has gone for good."""
        await self._leave()

    def deliver(self, data: str) -> None:
        """A message for this party arrived (from any process); queue it for sending."""
        self.conn.push(data)

    async def run(self, decode: Callable[[str], M]) -> None:
        s = self.s
        writer = asyncio.create_task(self.conn.run_writer(), name=f"writer-{self.member}")
        try:
            s.connections.add(self.member, self.conn)
            self.watch()
            self._count()
            self.conn.hold()  # messages arriving from now on wait for the replay of missed ones
            await s.delivery.attach(self.conn.address, self.deliver, self.conn.conn_id)
            session = await s.delivery.outbox.resume(self.member, self.resume_token, self.last_seq)
            await self.greet(session)
            log.info("%s connected (%s)", self.member, "resumed" if session.resumed else "new session")
            await receive_loop(self.conn.ws, self.conn, decode, self.handle, s.metrics)
        except RedisError as exc:
            # Redis did not answer: tell the client plainly; it reconnects (to this or another server)
            log.warning("%s: Redis failed (%s); closing the socket", self.member, exc)
            await self.conn.send(
                Error(code=ErrorCode.UNAVAILABLE, message="service temporarily unavailable, retrying")
            )
            self.conn.close_soon(WSCloseCode.TRY_AGAIN_LATER, "service temporarily unavailable")
        finally:
            await self._cleanup(writer)

    def _count(self) -> None:
        self.s.metrics.connected(self.kind).set(self.s.connections.count(self.kind))

    async def _cleanup(self, writer: asyncio.Task[None]) -> None:
        s = self.s
        s.delivery.detach(self.conn.address, self.deliver)
        s.connections.remove(self.member, self.conn)
        s.identity_watch.remove(self.conn)
        self._count()
        self.forget()
        # aiohttp shows 1000 also when this side closed a socket whose peer had vanished: only a close the
        # client started is a goodbye
        said_goodbye = (
            self.conn.ws.close_code == WSCloseCode.OK and not s.draining and not self.conn.closed_by_server
        )
        self.conn.close_soon(1000, "")
        try:
            if self.conn.revoked:
                await asyncio.shield(self._revoked())
            elif said_goodbye:
                await asyncio.shield(self._leave())
            else:
                await asyncio.shield(self._dropped())
        except RedisError as exc:  # presence expiry will take the party out of routing instead
            log.warning("%s: could not record leaving (%s); presence expiry will", self.member, exc)
        finally:
            await writer

    async def _dropped(self) -> None:
        """The connection dropped (or this server is shutting down): the party may come back, here or to
        another server, within the grace period and carry on; if not, the reaper takes it out of routing."""
        grace = self.s.settings.reconnect_grace_s
        if await self.s.engine.left(self.kind, self.party_id, self.conn.conn_id, grace):
            log.info("%s dropped; keeping its place for %.0f s", self.member, grace)

    async def _leave(self) -> None:
        """The client closed its socket normally: it has gone; its waiting call ends, its offer moves on."""
        gone = await self.s.engine.gone(self.kind, self.party_id, self.conn.conn_id)
        log.info("%s disconnected", self.member)
        if gone is not None:
            if gone.ended is not None:
                await self.s.announcer.ended(gone.ended, f"{self.kind}_disconnected")
            await self.s.announcer.outcome(gone.outcome)
