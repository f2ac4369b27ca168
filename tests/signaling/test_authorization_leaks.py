"""Invariant 4 against onlookers, and credentials that end: a client only ever receives messages of its own
calls, and a kiosk or console whose credential has ended can no longer act.

Onlookers are connected all through a call's life (rung, answered, signalled with TURN credentials, ended,
wrapped up): an agent of the same queue, one of another queue, a supervisor and an administrator on the
agent socket, and kiosks waiting in the queue. None of them may receive any message about the call, nor
its ICE servers' credentials; each waiting kiosk hears only of its own place.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import aiohttp
import pytest

from signaling.connections import CLOSE_AUTH, CLOSE_REVOKED
from signaling.protocol import (
    Accept,
    AgentJoined,
    CallAccepted,
    CallEnded,
    Cancel,
    Error,
    ErrorCode,
    Hangup,
    HelpRequest,
    Ice,
    IceCandidate,
    KioskHello,
    Offer,
    Queued,
    Ringing,
    SdpType,
    SessionDescription,
    SetState,
    WrapUp,
    WrapUpDone,
    encode,
)
from signaling.routing.keys import agent_address, kiosk_address
from signaling.settings import Settings
from signaling.store import revoke_kiosk
from tests.signaling import authz
from tests.signaling.authz import OTHER_TOPIC, TOPIC, Scene, Stage, state_snapshot, unique
from tests.support import (
    WAIT_S,
    Client,
    RunningServer,
    connect_agent,
    connect_kiosk,
    login,
    running_server,
    wait_until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
server = authz.shared_server

TURN_URL = "turn:127.0.0.1:3478?transport=udp"
ONLOOKERS = (
    ("mallory", "agent", (TOPIC,)),
    ("eve", "agent", (OTHER_TOPIC,)),
    ("sam", "supervisor", (TOPIC,)),
    ("ada", "admin", (TOPIC,)),
)


@pytest.fixture(scope="module")
def turn_server(server: RunningServer) -> RunningServer:
    """The module's server hands out TURN credentials of each call (so a leak of them would show)."""
    from signaling.ice import IceConfig

    announcer = server.services.announcer
    announcer.ice = IceConfig(urls=(TURN_URL,), turn_secret="turn-shared-secret")
    return server


async def test_onlookers_hear_nothing_of_a_call_not_theirs(turn_server: RunningServer) -> None:
    server = turn_server
    scene = await Scene.build(server, Stage.QUEUED)
    try:
        onlookers = {
            agent_address(scene.name("mallory")): await authz.new_agent(server, scene.name("mallory")),
            agent_address(scene.name("eve")): await authz.new_agent(
                server, scene.name("eve"), skills=(OTHER_TOPIC,)
            ),
            agent_address(scene.name("sam")): await authz.new_agent(server, scene.name("sam"), "supervisor"),
            agent_address(scene.name("ada")): await authz.new_agent(server, scene.name("ada"), "admin"),
        }
        for address, client in onlookers.items():
            await scene.add_bystander(address, client)
        await _whole_call(scene)
        await scene.settle()
        for address, client in onlookers.items():
            about = [m for m in client.received if getattr(m, "call_id", None) == scene.call_id]
            assert about == [], f"{address} heard of the call: {about}"
            assert "turn-shared" not in repr(client.received)
            assert not any(
                m.__class__ in (Ringing, AgentJoined, CallAccepted, Offer) for m in client.received
            )
        heard_by_kiosk = [type(m) for m in scene.kiosk.received if isinstance(m, Ringing | AgentJoined)]
        assert heard_by_kiosk == [Ringing, AgentJoined], "the call's own parties did hear of it"
        assert any(
            s.credential for m in scene.alice.received if isinstance(m, CallAccepted) for s in m.ice_servers
        )
    finally:
        await scene.close()


async def _whole_call(scene: Scene) -> None:
    """Rung, answered, signalled both ways, hung up, wrapped up."""
    kiosk, alice, call_id = scene.kiosk, scene.alice, scene.call_id
    await alice.send(SetState(state="available"))
    await alice.expect(Offer)
    await kiosk.expect(Ringing)
    await alice.send(Accept(call_id=call_id))
    await alice.expect(CallAccepted)
    await kiosk.expect(AgentJoined)
    await kiosk.send(SessionDescription(call_id=call_id, sdp_type=SdpType.OFFER, sdp="v=0\r\n"))
    await alice.expect(SessionDescription)
    await alice.send(SessionDescription(call_id=call_id, sdp_type=SdpType.ANSWER, sdp="v=0\r\n"))
    await kiosk.expect(SessionDescription)
    candidate = IceCandidate(candidate="candidate:1 1 udp 1 192.0.2.9 9 typ host", sdpMid="0")
    await alice.send(Ice(call_id=call_id, candidate=candidate))
    await kiosk.expect(Ice)
    await kiosk.send(Ice(call_id=call_id, candidate=None))
    await alice.expect(Ice)
    await alice.send(Hangup(call_id=call_id))
    await kiosk.expect(CallEnded)
    await alice.send(WrapUp(call_id=call_id, disposition="resolved"))
    await alice.expect(WrapUpDone)


async def test_queue_positions_go_only_to_their_own_kiosk(server: RunningServer) -> None:
    kiosks: list[Client] = []
    try:
        for _ in range(3):
            kiosk_id = unique("k-wait")
            kiosks.append(await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id)))
        calls = []
        for kiosk in kiosks:
            await kiosk.send(HelpRequest(topic=OTHER_TOPIC))
            calls.append((await kiosk.expect(Queued)).call_id)
        # the first leaves: the others move up, and each is told its own new place
        await kiosks[0].send(Cancel(call_id=calls[0]))
        await kiosks[0].expect(CallEnded)
        assert (await kiosks[1].expect(Queued, where=lambda m: m.position == 1)).call_id == calls[1]
        assert (await kiosks[2].expect(Queued, where=lambda m: m.position == 2)).call_id == calls[2]
        for kiosk, call_id in zip(kiosks, calls, strict=True):
            assert {m.call_id for m in kiosk.received if isinstance(m, Queued | CallEnded)} == {call_id}
    finally:
        for kiosk in kiosks:
            await kiosk.close()


async def test_another_partys_resume_token_replays_nothing_of_theirs(server: RunningServer) -> None:
    """A session's resume token is bound to its party: given by another, it starts that one's own new
    session, with none of the first party's messages."""
    scene = await Scene.build(server, Stage.CONNECTING)
    mallory_name = scene.name("mallory")
    password = await server.add_agent(mallory_name, skills=(TOPIC,))
    mallory = await connect_agent(server, mallory_name, password, resume=scene.alice)
    other_id = scene.name("k-other")
    other = await connect_kiosk(server, other_id, await server.enroll(other_id), resume=scene.kiosk)
    try:
        for client in (mallory, other):
            assert not client.welcome.resumed
            await authz.settle(server, client, _address(client))
            assert [m for m in client.received if getattr(m, "call_id", None) == scene.call_id] == []
    finally:
        await mallory.close()
        await other.close()
        await scene.close()


def _address(client: Client) -> str:
    welcome = client.welcome
    return (kiosk_address if welcome.role == "kiosk" else agent_address)(welcome.identity)


async def test_a_revoked_kiosk_cannot_sign_in_again(server: RunningServer) -> None:
    kiosk_id = unique("k-rev")
    secret = await server.enroll(kiosk_id)
    await revoke_kiosk(server.db, kiosk_id)
    before = await state_snapshot(server)
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url("/ws/kiosk")) as ws:
        await ws.send_str(encode(KioskHello(kiosk_id=kiosk_id, secret=secret)))
        reply = await ws.receive_json(timeout=WAIT_S)
        assert (reply["type"], reply["code"], reply.get("ref")) == ("error", ErrorCode.AUTH_FAILED, "hello")
        assert (await ws.receive(timeout=WAIT_S)).type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == CLOSE_AUTH
    assert await state_snapshot(server) == before


async def test_an_open_socket_of_a_kiosk_revoked_in_the_store_stops_acting(settings: Settings) -> None:
    """Revoked straight in the database (as ``kiosk-assist`` run with only the database does): the
    server's periodic identity check closes the open socket, and the kiosk's call ends."""
    quick = replace(settings, identity_check_interval_s=0.2)
    async with running_server(quick) as server:
        kiosk_id = unique("k-rev")
        kiosk = await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))
        try:
            await kiosk.send(HelpRequest(topic=TOPIC))
            call_id = (await kiosk.expect(Queued)).call_id
            await revoke_kiosk(server.db, kiosk_id)
            async with asyncio.timeout(WAIT_S):
                await kiosk.closed.wait()
            assert kiosk.ws.close_code == CLOSE_REVOKED

            async def ended() -> bool:
                states = await server.services.engine.call_states([call_id])
                return states[0] not in ("queued", "reserved", "connecting")

            await wait_until(ended, what="the revoked kiosk's call to end")
        finally:
            await kiosk.close()


async def test_a_console_whose_session_ended_is_refused_at_the_upgrade(server: RunningServer) -> None:
    name = unique("gone")
    password = await server.add_agent(name)
    http = await login(server, name, password)
    try:
        await server.services.sessions.delete(authz.session_token_of(http, server))
        async with http.get(server.ws_url("/ws/agent").replace("ws", "http", 1)) as response:
            assert (response.status, (await response.json())["code"]) == (401, "auth_required")
    finally:
        await http.close()


async def test_an_open_console_refused_for_its_ended_session_is_told_why(server: RunningServer) -> None:
    scene = await Scene.build(server, Stage.RESERVED)
    try:
        await server.services.sessions.delete(authz.session_token(scene.alice, server))
        await scene.alice.send(Accept(call_id=scene.call_id))
        error = await scene.alice.expect(Error)
        assert (error.code, error.ref) == (ErrorCode.AUTH_REQUIRED, "accept")
        assert "sign in" in error.message
        async with asyncio.timeout(WAIT_S):
            await scene.alice.closed.wait()
        assert scene.alice.ws.close_code == CLOSE_AUTH
    finally:
        await scene.close()
