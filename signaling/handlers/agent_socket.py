"""``/ws/agent``: a signed-in agent's console: availability, offers, the call's signaling, wrap-up."""

from __future__ import annotations

import logging
import time
from typing import Literal

from aiohttp import web

from signaling.auth import StaffSession
from signaling.connections import CLOSE_AUTH
from signaling.handlers.audit_hooks import source_of
from signaling.handlers.csrf import check_origin
from signaling.handlers.party_session import PartySession
from signaling.handlers.relay import relay_from_agent
from signaling.handlers.session_api import require_session
from signaling.handlers.socket_loop import new_socket
from signaling.outbox import Resumption
from signaling.protocol import (
    PROTOCOL_VERSION,
    Accept,
    AgentInbound,
    AgentJoined,
    AgentState,
    CallAccepted,
    CallStats,
    Decline,
    ErrorCode,
    ExtendWrapUp,
    Hangup,
    Ice,
    ProtocolError,
    SessionDescription,
    SetState,
    Transfer,
    Welcome,
    WrapUp,
    decode_agent,
)
from signaling.routing.engine import AgentProfile, Reservation, now_ms
from signaling.routing.keys import kiosk_address
from signaling.services import SERVICES, Services
from signaling.store import get_user

log = logging.getLogger(__name__)

SESSION_RECHECK_S = 2.0
CALL_TAKERS = ("agent", "supervisor", "admin")
"""The roles whose consoles may open the agent socket (and so be offered calls)."""


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    services = request.app[SERVICES]
    check_origin(request, services.settings.allowed_origins)
    staff = await require_session(request, CALL_TAKERS)  # IT staff (role ``it``) take no calls
    user = await get_user(services.db, staff.username)
    if user is None or user.disabled:
        raise web.HTTPUnauthorized(text="account not found")
    profile = AgentProfile(
        user.username,
        tuple(user.skills),
        tuple(user.languages),
        user.capacity,
        {skill: int(level) for skill, level in (user.proficiency or {}).items()},
    )
    token, last_seq = resume_request(request)
    ws = new_socket(services.settings)
    await ws.prepare(request)
    session = AgentSession(
        services, ws, profile, user.display_name or user.username, staff.role, token, last_seq,
        source=source_of(request),
    )  # fmt: skip
    session.staff = staff
    session.conn.session_digest = staff.digest
    await session.run(decode_agent)
    return ws


def resume_request(request: web.Request) -> tuple[str | None, int]:
    """``?resume=TOKEN&last_seq=N`` on a reconnect: the session to resume and the last message received."""
    token = request.query.get("resume") or None
    raw_seq = request.query.get("last_seq", "0")
    if token is not None and (len(token) > 64 or not token.replace("-", "").replace("_", "").isalnum()):
        raise web.HTTPBadRequest(text="resume must be the token the welcome gave")
    if not raw_seq.isdigit() or len(raw_seq) > 16:
        raise web.HTTPBadRequest(text="last_seq must be a whole number")
    return token, int(raw_seq)


class AgentSession(PartySession[AgentInbound]):
    kind = "agent"

    def __init__(
        self,
        services: Services,
        ws: web.WebSocketResponse,
        profile: AgentProfile,
        display_name: str,
        role: str,
        resume_token: str | None = None,
        last_seq: int = 0,
        source: str = "",
    ) -> None:
        super().__init__(services, ws, profile.username, resume_token, last_seq)
        self.source = source
        """The agent's address, recorded with the calls it accepts and transfers (audit log)."""
        self.profile = profile
        self.username = profile.username
        self.display_name = display_name
        self.role: Literal["agent", "supervisor", "admin"] = (
            "supervisor" if role == "supervisor" else "admin" if role == "admin" else "agent"
        )
        self.staff: StaffSession | None = None
        """The session the console signed in with: the socket closes when it ends."""
        self._session_checked_until = 0.0

    def watch(self) -> None:
        if self.staff is not None:
            staff = self.staff
            self.s.identity_watch.add_console(self.conn, staff.username, staff.digest, staff.generation)

    async def greet(self, session: Resumption) -> None:
        s = self.s
        expiry = now_ms() + int(s.settings.agent_presence_ttl_s * 1000)
        state, call_id = await s.engine.agent_online(self.profile, self.conn.conn_id, expiry)
        await self.conn.send(
            Welcome(
                protocol=PROTOCOL_VERSION,
                identity=self.username,
                role=self.role,
                display_name=self.display_name,
                topics=list(self.profile.skills),
                dispositions=list(s.settings.dispositions),
                agent_state=AgentState(state),
                call_id=call_id or None,
                resume_token=session.token,
                last_seq=session.seq,
                resumed=session.resumed,
            )
        )
        self.resumed(session)
        if session.resumed:
            return  # what it missed was replayed; its state is as it was told
        await s.announcer.agent_state(self.username)
        if state == "in_call" and call_id:
            # a console that starts afresh in a call (a reload): it rejoins; the kiosk, finding the old
            # media path silent, offers again
            call = await s.engine.get_call(call_id)
            if call is not None:
                await self.send_call_accepted(call_id, call.kiosk_id)
        if state == "ringing" and call_id:
            await s.announcer.offer(Reservation(call_id, self.username))

    async def send_call_accepted(self, call_id: str, kiosk_id: str) -> None:
        ice = self.s.announcer.ice
        accepted = CallAccepted(
            call_id=call_id,
            kiosk_id=kiosk_id,
            ice_servers=ice.servers(call_id),
            ice_transport_policy=ice.policy,
        )
        await self.s.delivery.send(self.member, accepted)

    async def handle(self, msg: AgentInbound) -> None:
        if not await self.signed_in(msg):
            return
        if isinstance(msg, SessionDescription | Ice):
            await relay_from_agent(self.s, self.username, msg)
        elif isinstance(msg, Accept):
            await self.accept(msg.call_id)
        elif isinstance(msg, SetState):
            await self.set_state(msg)
        elif isinstance(msg, Decline):
            await self.decline(msg.call_id)
        elif isinstance(msg, Hangup):
            ended = await self.s.engine.hangup(msg.call_id, "agent", self.username, "agent_hangup")
            await self.s.announcer.ended(ended, "agent_hangup")
        elif isinstance(msg, WrapUp):
            await self.wrap_up(msg)
        elif isinstance(msg, ExtendWrapUp):
            status = await self.s.engine.extend_wrap_up(self.username, msg.call_id)
            await self.s.announcer.agent_state(self.username, status)
        elif isinstance(msg, Transfer):
            await self.transfer(msg)
        elif isinstance(msg, CallStats):
            await self.s.quality.report("agent", self.username, msg)
        # Heartbeat: nothing to do; the socket being alive is what counts

    async def signed_in(self, msg: AgentInbound) -> bool:
        """Whether the session this console signed in with still holds. A message from a socket whose
        session has ended (signed out, expired, ended by an administrator) acts on nothing: it is refused
        and the socket closed at once, not only at the next periodic identity check.

        A sign-out tells the console at once (``SESSION_ENDED``, synchronously when it is connected here),
        and ending all of an account's sessions revokes its sockets; the session's key is read again at
        most every ``SESSION_RECHECK_S``, for ends that nobody announced (a lifetime running out, a key
        removed by hand). Reading it for every message would add a Redis round trip to every accept,
        decline and wrap-up (bench.routing: half the whole calls per second)."""
        if self.staff is not None and not self.conn.session_ended:
            now = time.monotonic()
            if now < self._session_checked_until:
                return True
            if await self.s.sessions.touch(self.staff.digest) is not None:
                self._session_checked_until = now + SESSION_RECHECK_S
                return True
        self.s.metrics.rejected_messages.labels(ErrorCode.AUTH_REQUIRED.value).inc()
        ref = msg.__struct_config__.tag
        text = "your session has ended; sign in again"
        await self.conn.send_error(ErrorCode.AUTH_REQUIRED, text, ref if isinstance(ref, str) else None)
        self.conn.close_soon(CLOSE_AUTH, "session ended; sign in again")
        return False

    async def set_state(self, msg: SetState) -> None:
        change = await self.s.engine.set_agent_state(self.username, msg.state, msg.reason)
        await self.s.announcer.agent_state(self.username, change.status)
        await self.s.announcer.outcome(change.outcome)

    async def decline(self, call_id: str) -> None:
        released = await self.s.engine.release(call_id, self.username, "decline")
        await self.s.announcer.agent_state(self.username, released.status if released else None)
        if released is not None:
            await self.s.announcer.outcome(released.outcome)

    async def wrap_up(self, msg: WrapUp) -> None:
        if msg.disposition not in self.s.settings.dispositions:
            raise ProtocolError(
                ErrorCode.UNKNOWN_DISPOSITION, f"unknown disposition {msg.disposition!r}", "wrap_up"
            )
        done = await self.s.engine.wrap_up(self.username, msg.call_id, msg.disposition, msg.notes)
        if done is not None:
            await self.s.announcer.wrap_up_ended(self.username, done, "agent")

    async def transfer(self, msg: Transfer) -> None:
        s = self.s
        if not msg.to_topic and not msg.to_agent:
            raise ProtocolError(
                ErrorCode.BAD_MESSAGE, "name a queue (to_topic) or an agent (to_agent)", "transfer"
            )
        if msg.to_topic and msg.to_topic not in s.settings.queues:
            raise ProtocolError(ErrorCode.UNKNOWN_TOPIC, f"unknown queue {msg.to_topic!r}", "transfer")
        done = await s.engine.transfer(
            msg.call_id, self.username, msg.to_topic or "", msg.to_agent or "", msg.notes, self.source
        )
        await s.announcer.transferring(done.kiosk_id, msg.call_id, done.topic)
        await s.announcer.agent_state(self.username, done.status)
        await s.announcer.outcome(done.outcome)
        log.info("agent %s transferred call %s", self.username, msg.call_id)

    async def accept(self, call_id: str) -> None:
        s = self.s
        accepted = await s.engine.accept(call_id, self.username, self.source)
        kiosk_id = accepted.kiosk_id
        ice, policy = s.announcer.ice.servers(call_id), s.announcer.ice.policy
        # the kiosk's offer is on the critical path to media: tell it first
        await s.delivery.send(
            kiosk_address(kiosk_id),
            AgentJoined(
                call_id=call_id,
                agent_name=self.display_name,
                ice_servers=ice,
                ice_transport_policy=policy,
            ),
        )
        await self.send_call_accepted(call_id, kiosk_id)
        s.metrics.answer_seconds.observe(max(0.0, (now_ms() - accepted.created_ms) / 1000))
        await s.announcer.agent_state(self.username, accepted.status)
        log.debug("agent %s accepted call %s", self.username, call_id)
