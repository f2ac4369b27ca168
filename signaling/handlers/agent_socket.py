"""``/ws/agent``: a signed-in agent's console: availability, offers, the call's signaling, wrap-up."""

from __future__ import annotations

import logging
from typing import Literal

from aiohttp import web

from signaling.handlers.party_session import PartySession
from signaling.handlers.relay import relay_from_agent
from signaling.handlers.session_api import require_session
from signaling.handlers.socket_loop import new_socket
from signaling.protocol import (
    PROTOCOL_VERSION,
    Accept,
    AgentInbound,
    AgentJoined,
    AgentState,
    CallAccepted,
    Decline,
    ErrorCode,
    Hangup,
    Heartbeat,
    Ice,
    ProtocolError,
    SessionDescription,
    SetState,
    Welcome,
    WrapUp,
    decode_agent,
)
from signaling.routing.engine import AgentProfile, now_ms
from signaling.routing.keys import kiosk_address
from signaling.services import SERVICES, Services
from signaling.store import get_user

log = logging.getLogger(__name__)


def check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Refuse cross-site WebSocket upgrades: a browser always sends Origin; it must be this site's."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    own = f"{request.scheme}://{request.host}"
    if origin != own and origin not in allowed:
        raise web.HTTPForbidden(text="origin not allowed")


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    services = request.app[SERVICES]
    check_origin(request, services.settings.allowed_origins)
    staff = await require_session(request)
    user = await get_user(services.db, staff.username)
    if user is None or user.disabled:
        raise web.HTTPUnauthorized(text="account not found")
    profile = AgentProfile(user.username, tuple(user.skills), tuple(user.languages), user.capacity)
    ws = new_socket()
    await ws.prepare(request)
    await AgentSession(services, ws, profile, user.display_name or user.username, staff.role).run(
        decode_agent
    )
    return ws


class AgentSession(PartySession[AgentInbound]):
    kind = "agent"

    def __init__(
        self,
        services: Services,
        ws: web.WebSocketResponse,
        profile: AgentProfile,
        display_name: str,
        role: str,
    ) -> None:
        super().__init__(services, ws, profile.username)
        self.profile = profile
        self.username = profile.username
        self.display_name = display_name
        self.role: Literal["agent", "supervisor", "admin"] = (
            "supervisor" if role == "supervisor" else "admin" if role == "admin" else "agent"
        )

    async def greet(self) -> None:
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
            )
        )
        await s.announcer.agent_state(self.username)
        if state == "ringing" and call_id:
            await s.announcer.offer(call_id, self.username)

    async def handle(self, msg: AgentInbound) -> None:
        s = self.s
        if isinstance(msg, SetState):
            _, outcome = await s.engine.set_agent_state(self.username, msg.state, msg.reason)
            await s.announcer.agent_state(self.username)
            await s.announcer.outcome(outcome)
        elif isinstance(msg, Accept):
            await self.accept(msg.call_id)
        elif isinstance(msg, Decline):
            released = await s.engine.release(msg.call_id, self.username, "decline")
            await s.announcer.agent_state(self.username)
            if released is not None:
                await s.announcer.outcome(released.outcome)
        elif isinstance(msg, SessionDescription | Ice):
            await relay_from_agent(s, self.username, msg)
        elif isinstance(msg, Hangup):
            ended = await s.engine.hangup(msg.call_id, "agent", self.username, "agent_hangup")
            await s.announcer.ended(ended, "agent_hangup")
        elif isinstance(msg, WrapUp):
            if msg.disposition not in s.settings.dispositions:
                raise ProtocolError(
                    ErrorCode.UNKNOWN_DISPOSITION, f"unknown disposition {msg.disposition!r}", "wrap_up"
                )
            outcome = await s.engine.wrap_up(self.username, msg.call_id, msg.disposition, msg.notes)
            await s.announcer.agent_state(self.username)
            await s.announcer.outcome(outcome)
        elif isinstance(msg, Heartbeat):
            pass

    async def accept(self, call_id: str) -> None:
        s = self.s
        kiosk_id, created_ms = await s.engine.accept(call_id, self.username)
        ice = s.announcer.ice_servers
        # the kiosk's offer is on the critical path to media: tell it first
        await s.delivery.send(
            kiosk_address(kiosk_id),
            AgentJoined(call_id=call_id, agent_name=self.display_name, ice_servers=ice),
        )
        await self.conn.send(CallAccepted(call_id=call_id, kiosk_id=kiosk_id, ice_servers=ice))
        s.metrics.answer_seconds.observe(max(0.0, (now_ms() - created_ms) / 1000))
        await s.announcer.agent_state(self.username)
        log.info("agent %s accepted call %s", self.username, call_id)
