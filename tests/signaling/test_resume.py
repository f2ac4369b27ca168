"""A kiosk or agent that reconnects within the grace period resumes its session: every message sent to it
meanwhile arrives, in order, exactly once, whichever server it reconnects to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import aiohttp
import pytest

from signaling.protocol import (
    Accept,
    AgentJoined,
    AgentState,
    AgentStateChanged,
    CallAccepted,
    CallEnded,
    Hangup,
    HelpRequest,
    Ice,
    IceCandidate,
    Offer,
    Queued,
    Ringing,
    SdpType,
    SessionDescription,
    SetState,
)
from signaling.settings import Settings
from tests.support import (
    Client,
    RunningServer,
    connect_agent,
    connect_kiosk,
    free_port,
    login,
    running_server,
    wait_until,
)

OFFER_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


def candidate(n: int) -> IceCandidate:
    return IceCandidate(
        candidate=f"candidate:{n} 1 udp 2122260223 127.0.0.1 {40000 + n} typ host", sdpMid="0"
    )


def numbered_once_in_order(client: Client) -> None:
    """The client got every numbered message once, none missing, in order."""
    assert client.seqs == list(range(client.seqs[0], client.seqs[0] + len(client.seqs))), client.seqs


@dataclass
class Call:
    kiosk: Client
    agent: Client
    call_id: str
    kiosk_secret: str
    agent_password: str


async def connected_call(server: RunningServer) -> Call:
    secret = await server.enroll("k-1")
    password = await server.add_agent("ana", skills=("cash",))
    kiosk = await connect_kiosk(server, "k-1", secret)
    agent = await connect_agent(server, "ana", password)
    await agent.send(SetState(state="available"))
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await agent.expect(Offer)).call_id
    await agent.send(Accept(call_id=call_id))
    await agent.expect(CallAccepted)
    await kiosk.expect(AgentJoined)
    return Call(kiosk, agent, call_id, secret, password)


@pytest.fixture
async def second_server(settings: Settings) -> AsyncIterator[RunningServer]:
    """Another server on the same Redis and database: a reconnect may land on either."""
    async with running_server(replace(settings, port=free_port())) as running:
        yield running


async def test_an_agent_who_drops_mid_call_gets_every_message_sent_meanwhile_once_in_order(
    server: RunningServer,
) -> None:
    call = await connected_call(server)
    await call.agent.drop()
    await call.kiosk.send(SessionDescription(call_id=call.call_id, sdp_type=SdpType.OFFER, sdp=OFFER_SDP))
    for n in range(5):
        await call.kiosk.send(Ice(call_id=call.call_id, candidate=candidate(n)))
    await call.kiosk.send(Ice(call_id=call.call_id))  # end of candidates
    await server.services.delivery.outbox.flushed()

    agent = await connect_agent(server, "ana", call.agent_password, resume=call.agent)
    assert agent.welcome.resumed
    assert agent.welcome.call_id == call.call_id
    offer = await agent.expect(SessionDescription)
    assert offer.sdp == OFFER_SDP
    got = [await agent.expect(Ice) for _ in range(6)]
    assert [c.candidate.candidate if c.candidate else None for c in got] == [
        candidate(n).candidate for n in range(5)
    ] + [None]
    assert agent.seqs[0] == call.agent.last_seq + 1
    numbered_once_in_order(agent)
    # a resumed session is not told its state again: nothing but what it missed
    assert not any(isinstance(m, AgentStateChanged | Offer) for m in agent.received)
    await agent.send(Hangup(call_id=call.call_id))
    assert (await call.kiosk.expect(CallEnded)).reason == "agent_hangup"
    for client in (agent, call.kiosk):
        await client.close()


async def test_a_kiosk_that_drops_while_waiting_resumes_on_another_server_and_hears_it_was_answered(
    server: RunningServer, second_server: RunningServer
) -> None:
    secret = await server.enroll("k-1")
    kiosk = await connect_kiosk(server, "k-1", secret)
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await kiosk.expect(Queued)).call_id
    await kiosk.drop()

    ana = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await ana.send(SetState(state="available"))
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await ana.expect(CallAccepted)
    await server.services.delivery.outbox.flushed()

    back = await connect_kiosk(second_server, "k-1", secret, resume=kiosk)
    assert back.welcome.resumed
    assert back.welcome.call_id == call_id
    assert (await back.expect(Ringing)).call_id == call_id
    assert (await back.expect(AgentJoined)).agent_name == "ana"
    numbered_once_in_order(back)
    assert back.seqs[0] == kiosk.last_seq + 1
    for client in (back, ana):
        await client.close()


async def test_messages_sent_while_a_client_resumes_arrive_once_and_in_order(
    server: RunningServer, second_server: RunningServer
) -> None:
    call = await connected_call(server)
    await call.agent.drop()

    async def trickle() -> None:  # the kiosk keeps signalling through the agent's reconnect
        for n in range(60):
            await call.kiosk.send(Ice(call_id=call.call_id, candidate=candidate(n)))
            if n % 10 == 0:
                await asyncio.sleep(0)  # let the reconnect interleave

    sending = asyncio.create_task(trickle())
    agent = await connect_agent(second_server, "ana", call.agent_password, resume=call.agent)
    await sending
    got = [await agent.expect(Ice) for _ in range(60)]
    assert [c.candidate.candidate for c in got if c.candidate] == [candidate(n).candidate for n in range(60)]
    numbered_once_in_order(agent)
    assert agent.seqs[0] == call.agent.last_seq + 1
    for client in (agent, call.kiosk):
        await client.close()


async def test_a_stale_token_or_count_starts_a_new_session_with_the_current_state(
    server: RunningServer,
) -> None:
    call = await connected_call(server)
    first = call.agent
    await first.drop()
    # resuming twice with the same token works once the first resumed session is gone too
    again = await connect_agent(server, "ana", call.agent_password, resume=first)
    assert again.welcome.resumed
    await again.drop()

    # a count beyond what was ever sent cannot be resumed: a new session, told its state afresh
    http = await login(server, "ana", call.agent_password)
    try:
        ws = await http.ws_connect(
            server.ws_url(f"/ws/agent?resume={first.welcome.resume_token}&last_seq=999999")
        )
        fresh = Client(http, ws)
        state = await fresh.expect(AgentStateChanged)
        assert not fresh.welcome.resumed
        assert fresh.welcome.resume_token != first.welcome.resume_token
        assert (state.state, state.call_id) == (AgentState.IN_CALL, call.call_id)
        await fresh.close()
    finally:
        await http.close()

    # and the old token is no longer the session's
    stale = await connect_agent(server, "ana", call.agent_password, resume=first)
    assert not stale.welcome.resumed
    await stale.close()
    await call.kiosk.close()


async def test_a_malformed_resume_request_is_refused_plainly(server: RunningServer) -> None:
    password = await server.add_agent("ana", skills=("cash",))
    http = await login(server, "ana", password)
    try:
        for query in ("resume=not*a*token&last_seq=1", "resume=abc&last_seq=-1", "resume=abc&last_seq=x"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(server.ws_url(f"/ws/agent?{query}"))
            assert refused.value.status == 400
    finally:
        await http.close()


async def test_the_outbox_keeps_what_a_party_missed_for_longer_than_the_grace(server: RunningServer) -> None:
    call = await connected_call(server)
    await server.services.delivery.outbox.flushed()
    redis = server.services.redis
    key = f"{server.services.keys.prefix}:outbox:agent:ana"

    async def kept_ms() -> int | None:
        ttl = int(await redis.pttl(key))
        return ttl if ttl > 0 else None

    ttl_ms = await wait_until(kept_ms, what="the agent's outbox to be written")
    assert ttl_ms > server.services.settings.reconnect_grace_s * 1000
    for client in (call.agent, call.kiosk):
        await client.close()
