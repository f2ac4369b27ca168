"""Invariant 5 on the WebSockets: every inbound message type by every sender who may not send it.

Each case brings a call to the stage where its rightful party could send the message (kiosk ``k-own``
asked for help; agent ``alice`` is rung, in the call, or wrapping it up), lets a wrong sender send it, and
checks three things: the sender gets a typed error naming the message; Redis is unchanged; and no party —
the call's kiosk and agent, the sender, anyone else connected — receives anything because of it.

The codes are the server's rule for refusals: a call that is not the sender's is ``unknown_call`` ("no
such call of yours", the same answer as for a call that does not exist, so nothing about other parties'
calls is revealed); a wrap-up that is not the sender's is ``wrong_state`` ("you have no call to wrap up");
a message type of the other side of the protocol is ``bad_message``; anything before a kiosk's hello is
``auth_required``, a wrong credential ``auth_failed``; a console whose session has ended gets
``auth_required`` and its socket closes (4401).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from signaling.connections import CLOSE_AUTH
from signaling.protocol import (
    Accept,
    AgentInbound,
    CallStats,
    Cancel,
    Decline,
    DeviceHealth,
    Error,
    ErrorCode,
    ExtendWrapUp,
    Hangup,
    Heartbeat,
    HelpRequest,
    Ice,
    IceCandidate,
    KioskHello,
    KioskInbound,
    MediaStatus,
    QualityStats,
    SdpType,
    SessionDescription,
    SetState,
    Survey,
    Telemetry,
    Transfer,
    WrapUp,
)
from signaling.routing.keys import agent_address, kiosk_address
from tests.signaling import authz
from tests.signaling.authz import OTHER_TOPIC, TOPIC, Scene, Stage, state_snapshot
from tests.support import WAIT_S, Client, RunningServer, connect_kiosk, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")
server = authz.shared_server

SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
CANDIDATE = IceCandidate(
    candidate="candidate:1 1 udp 2122260223 192.0.2.7 54400 typ host", sdpMid="0", sdpMLineIndex=0
)


Build = Callable[[Scene], KioskInbound | AgentInbound]

AGENT_MESSAGES: dict[str, Build] = {
    "set_state": lambda s: SetState(state="available"),
    "accept": lambda s: Accept(call_id=s.call_id),
    "decline": lambda s: Decline(call_id=s.call_id),
    "wrap_up": lambda s: WrapUp(call_id=s.call_id, disposition="resolved"),
    "extend_wrap_up": lambda s: ExtendWrapUp(call_id=s.call_id),
    "transfer": lambda s: Transfer(call_id=s.call_id, to_topic=OTHER_TOPIC),
    "sdp": lambda s: SessionDescription(call_id=s.call_id, sdp_type=SdpType.ANSWER, sdp=SDP),
    "ice": lambda s: Ice(call_id=s.call_id, candidate=CANDIDATE),
    "hangup": lambda s: Hangup(call_id=s.call_id),
    "heartbeat": lambda s: Heartbeat(),
    "call_stats": lambda s: CallStats(call_id=s.call_id, stats=QualityStats(rtt_ms=40.0, fps=30.0)),
}
KIOSK_MESSAGES: dict[str, Build] = {
    "hello": lambda s: KioskHello(kiosk_id=s.kiosk_id, secret=s.kiosk_secret),
    "help_request": lambda s: HelpRequest(topic=TOPIC),
    "cancel": lambda s: Cancel(call_id=s.call_id),
    "heartbeat": lambda s: Heartbeat(),
    "telemetry": lambda s: Telemetry(camera=DeviceHealth(True, True), microphone=DeviceHealth(True, True)),
    "media_status": lambda s: MediaStatus(call_id=s.call_id, flowing=True),
    "call_stats": lambda s: CallStats(call_id=s.call_id, stats=QualityStats(rtt_ms=40.0, fps=30.0)),
    "sdp": lambda s: SessionDescription(call_id=s.call_id, sdp_type=SdpType.OFFER, sdp=SDP),
    "ice": lambda s: Ice(call_id=s.call_id, candidate=CANDIDATE),
    "hangup": lambda s: Hangup(call_id=s.call_id),
    "survey": lambda s: Survey(call_id=s.call_id, rating=5, comment="thanks"),
}
AGENT_ONLY = [t for t in AGENT_MESSAGES if t not in KIOSK_MESSAGES]
KIOSK_ONLY = [t for t in KIOSK_MESSAGES if t not in AGENT_MESSAGES]

STAGE = {
    "accept": Stage.RESERVED,
    "decline": Stage.RESERVED,
    "set_state": Stage.RESERVED,
    "wrap_up": Stage.WRAP_UP,
    "extend_wrap_up": Stage.WRAP_UP,
    "cancel": Stage.QUEUED,
    "help_request": Stage.QUEUED,
}
"""The stage in which the call's own party may send the message (CONNECTING for the others)."""


# ------------------------------------------------------------------------------------------- senders
@dataclass(frozen=True)
class Sender:
    """Who sends the message: how it connects, which side's message it sends, whether it is refused
    because of who it is (then its socket closes) rather than what it asks."""

    name: str
    connect: Callable[[Scene], Awaitable[tuple[str, Client]]]
    side: str  # "agent" or "kiosk": whose message the sender sends
    closes: bool = False


async def _agent(
    scene: Scene, name: str, role: str = "agent", skills: tuple[str, ...] = (TOPIC,)
) -> tuple[str, Client]:
    name = scene.name(name)
    client = await authz.new_agent(scene.server, name, role, skills)
    return agent_address(name), await scene.add_bystander(agent_address(name), client)


async def _other_kiosk(scene: Scene) -> tuple[str, Client]:
    kiosk_id = scene.name("k-other")
    client = await connect_kiosk(scene.server, kiosk_id, await scene.server.enroll(kiosk_id))
    return kiosk_address(kiosk_id), await scene.add_bystander(kiosk_address(kiosk_id), client)


async def _anonymous(scene: Scene) -> tuple[str, Client]:
    return "anonymous", await authz.anonymous_kiosk_socket(scene.server)


async def _signed_out(scene: Scene) -> tuple[str, Client]:
    """Alice's console, open, after her session's key is gone (expired, or ended by an administrator)."""
    await scene.server.services.sessions.delete(authz.session_token(scene.alice, scene.server))
    return agent_address(scene.agent_name), scene.alice


async def _logged_out(scene: Scene) -> tuple[str, Client]:
    """Alice's console, open, after she signed out (from another tab)."""
    async with scene.alice.http.post(f"{scene.server.url}/api/logout") as response:
        assert response.status == 200
    return agent_address(scene.agent_name), scene.alice


async def _call_agent(scene: Scene) -> tuple[str, Client]:
    return agent_address(scene.agent_name), scene.alice


async def _call_kiosk(scene: Scene) -> tuple[str, Client]:
    return kiosk_address(scene.kiosk_id), scene.kiosk


SENDERS = {
    s.name: s
    for s in (
        Sender("other_agent", lambda sc: _agent(sc, "mallory"), "agent"),
        Sender("other_queue_agent", lambda sc: _agent(sc, "eve", skills=(OTHER_TOPIC,)), "agent"),
        Sender("supervisor", lambda sc: _agent(sc, "sam", "supervisor"), "agent"),
        Sender("admin", lambda sc: _agent(sc, "ada", "admin"), "agent"),
        Sender("call_agent", _call_agent, "kiosk"),
        Sender("other_kiosk", _other_kiosk, "kiosk"),
        Sender("call_kiosk", _call_kiosk, "agent"),
        Sender("anonymous", _anonymous, "either", closes=True),
        Sender("signed_out_agent", _signed_out, "agent", closes=True),
        Sender("logged_out_agent", _logged_out, "agent", closes=True),
    )
}


# --------------------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    message: str
    sender: str
    code: ErrorCode
    side: str = ""
    """Which side's variant of the message type (sdp, ice, hangup, heartbeat exist on both)."""

    @property
    def id(self) -> str:
        return f"{self.message}-by-{self.sender}"

    @property
    def stage(self) -> Stage:
        return STAGE.get(self.message, Stage.CONNECTING)

    def build(self, scene: Scene) -> KioskInbound | AgentInbound:
        side = self.side or SENDERS[self.sender].side
        return (AGENT_MESSAGES if side == "agent" else KIOSK_MESSAGES)[self.message](scene)


def _cases() -> list[Case]:
    cases: list[Case] = []
    # agents (and supervisors, admins: they may open the agent socket) acting on alice's call
    for sender in ("other_agent", "other_queue_agent", "supervisor", "admin"):
        for message in ("accept", "decline", "hangup", "sdp", "ice", "transfer", "call_stats"):
            cases.append(Case(message, sender, ErrorCode.UNKNOWN_CALL))
        for message in ("wrap_up", "extend_wrap_up"):
            cases.append(Case(message, sender, ErrorCode.WRONG_STATE))
    # the call's own agent sending what only kiosks send (an SDP offer: kiosks offer, agents answer)
    for message in (*KIOSK_ONLY, "sdp"):
        cases.append(Case(message, "call_agent", ErrorCode.BAD_MESSAGE))
    # another kiosk signalling into the call, or saying hello as the call's kiosk on its own socket
    for message in ("cancel", "hangup", "sdp", "ice", "media_status", "call_stats", "survey"):
        cases.append(Case(message, "other_kiosk", ErrorCode.UNKNOWN_CALL))
    cases.append(Case("hello", "other_kiosk", ErrorCode.BAD_MESSAGE))
    # the call's own kiosk sending what only agents send (an SDP answer)
    for message in (*AGENT_ONLY, "sdp"):
        cases.append(Case(message, "call_kiosk", ErrorCode.BAD_MESSAGE))
    # an anonymous socket: every message type before hello; a hello without the right secret
    for message in KIOSK_MESSAGES:
        code = ErrorCode.AUTH_FAILED if message == "hello" else ErrorCode.AUTH_REQUIRED
        cases.append(Case(message, "anonymous", code, side="kiosk"))
    for message in AGENT_ONLY:
        cases.append(Case(message, "anonymous", ErrorCode.AUTH_REQUIRED, side="agent"))
    # the call's own agent, after its session ended: nothing it sends acts any more
    for message in AGENT_MESSAGES:
        cases.append(Case(message, "signed_out_agent", ErrorCode.AUTH_REQUIRED))
    for message in ("accept", "hangup"):
        cases.append(Case(message, "logged_out_agent", ErrorCode.AUTH_REQUIRED))
    return cases


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_a_wrong_senders_message_is_refused_changes_nothing_and_reaches_no_one(
    server: RunningServer, case: Case
) -> None:
    scene = await Scene.build(server, case.stage)
    try:
        await _attempt(scene, case)
    finally:
        await scene.close()


async def _attempt(scene: Scene, case: Case) -> None:
    server = scene.server
    sender = SENDERS[case.sender]
    address, client = await sender.connect(scene)
    if address == "anonymous":
        scene.bystanders[address] = client  # closed by the server; closed here too at the end
    if case.sender == "anonymous" and case.message == "hello":
        message: KioskInbound | AgentInbound = KioskHello(kiosk_id=scene.kiosk_id, secret="a-guess")
    else:
        message = case.build(scene)
    alice_before = await _agent_fields(scene)
    # a console whose socket the server closes drops out of routing for the reconnect grace: that is
    # the close's doing, not the message's, and is compared apart
    closing = ("presence", f"agent:{scene.agent_name}", "avail:")
    leave_out = closing if case.sender.endswith("_out_agent") else ()
    before = await state_snapshot(server, *leave_out)
    scene.mark()

    await client.send(message)
    error = await client.expect(Error)
    assert (error.code, error.ref) == (case.code, case.message), error.message
    await server.services.delivery.outbox.flushed()
    if sender.closes:
        await asyncio.wait_for(client.closed.wait(), WAIT_S)
        assert client.ws.close_code == CLOSE_AUTH
        assert client.received[-1] is error, "nothing follows the refusal"
        await _left_recorded(scene, case)

    assert await state_snapshot(server, *leave_out) == before
    assert await _agent_fields(scene) == alice_before
    await scene.assert_nobody_heard(own={address: [error]})


async def _agent_fields(scene: Scene) -> list[bytes | str | None]:
    """The call's agent's routing state: what its own messages could change."""
    server = scene.server
    key = server.services.keys.agent(scene.agent_name)
    fields = ["state", "call", "next", "load", "extended", "misses"]
    return list(await server.services.redis.hmget(key, fields))


async def _left_recorded(scene: Scene, case: Case) -> None:
    """The server has recorded the closed console's leaving (so the snapshot after it is final)."""
    server = scene.server
    if case.sender.endswith("_out_agent"):
        key = server.services.keys.agent(scene.agent_name)

        async def left() -> bool:
            return await server.services.redis.hget(key, "conn") == b""

        await wait_until(left, what="the console to be recorded as gone")


async def test_the_matrix_covers_every_inbound_message_type() -> None:
    """Every message type a kiosk or an agent may send is tried by at least one wrong sender of each
    kind that could send it."""
    from typing import get_args

    from signaling.protocol import AgentInbound as AgentTypes
    from signaling.protocol import KioskInbound as KioskTypes

    kiosk_types = {t.__struct_config__.tag for t in get_args(KioskTypes)}
    agent_types = {t.__struct_config__.tag for t in get_args(AgentTypes)}
    assert kiosk_types == set(KIOSK_MESSAGES)
    assert agent_types == set(AGENT_MESSAGES)
    tried = {(c.message, c.sender) for c in CASES}
    for message in agent_types:
        assert (message, "signed_out_agent") in tried
        assert (message, "anonymous") in tried or message in kiosk_types
    for message in kiosk_types:
        assert (message, "anonymous") in tried
    for message in agent_types - kiosk_types:
        assert (message, "call_kiosk") in tried
    for message in kiosk_types - agent_types:
        assert (message, "call_agent") in tried
