"""The core call path at the protocol level: ask for help, ring, accept, signal, hang up, wrap up."""

from __future__ import annotations

from signaling.protocol import (
    Accept,
    AgentJoined,
    AgentState,
    AgentStateChanged,
    CallAccepted,
    CallEnded,
    CallState,
    Hangup,
    HelpRequest,
    Ice,
    IceCandidate,
    Offer,
    Queued,
    SdpType,
    SessionDescription,
    SetState,
    WrapUp,
)
from signaling.store import get_call
from tests.support import RunningServer, connect_agent, connect_kiosk


async def test_a_kiosk_is_answered_signals_its_agent_and_the_history_keeps_the_call(
    server: RunningServer,
) -> None:
    secret = await server.enroll("k-1", "Main St ATM")
    password = await server.add_agent("alice", skills=("cash",))
    kiosk = await connect_kiosk(server, "k-1", secret)
    agent = await connect_agent(server, "alice", password)

    await kiosk.send(HelpRequest(topic="cash", language="en", context={"error": "E42"}))
    queued = await kiosk.expect(Queued)
    assert queued.position == 1

    await agent.send(SetState(state="available"))
    offer = await agent.expect(Offer)
    assert (offer.call_id, offer.kiosk_id, offer.location, offer.topic) == (
        queued.call_id,
        "k-1",
        "Main St ATM",
        "cash",
    )
    assert offer.context == {"error": "E42"}
    call_id = offer.call_id

    await agent.send(Accept(call_id=call_id))
    accepted = await agent.expect(CallAccepted)
    joined = await kiosk.expect(AgentJoined)
    assert accepted.kiosk_id == "k-1"
    assert joined.call_id == call_id

    await kiosk.send(SessionDescription(call_id=call_id, sdp_type=SdpType.OFFER, sdp="v=0 offer"))
    assert (await agent.expect(SessionDescription)).sdp == "v=0 offer"
    await agent.send(SessionDescription(call_id=call_id, sdp_type=SdpType.ANSWER, sdp="v=0 answer"))
    assert (await kiosk.expect(SessionDescription)).sdp == "v=0 answer"
    candidate = IceCandidate(
        candidate="candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid="0", sdpMLineIndex=0
    )
    await agent.send(Ice(call_id=call_id, candidate=candidate))
    await agent.send(Ice(call_id=call_id, candidate=None))
    assert (await kiosk.expect(Ice)).candidate == candidate
    assert (await kiosk.expect(Ice)).candidate is None

    await agent.send(Hangup(call_id=call_id))
    for party in (kiosk, agent):
        ended = await party.expect(CallEnded)
        assert (ended.state, ended.reason) == (CallState.COMPLETED, "agent_hangup")
    await agent.expect(AgentStateChanged, where=lambda m: m.state is AgentState.WRAP_UP)

    await agent.send(WrapUp(call_id=call_id, disposition="resolved", notes="card returned"))
    await agent.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)

    await server.drain_history()
    record = await get_call(server.db, call_id)
    assert record is not None
    assert (record.state, record.end_reason, record.agent) == ("completed", "agent_hangup", "alice")
    assert (record.disposition, record.notes) == ("resolved", "card returned")
    assert [e.kind for e in record.events] == ["created", "reserved", "accepted", "ended", "wrapped_up"]
    await kiosk.close()
    await agent.close()
