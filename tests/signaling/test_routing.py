"""Routing as kiosks and agents see it: FIFO, positions, declines, ring timeouts, disconnects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from signaling.protocol import (
    Accept,
    AgentJoined,
    AgentState,
    AgentStateChanged,
    CallEnded,
    CallState,
    Decline,
    HelpRequest,
    Offer,
    OfferRevoked,
    Queued,
    SetState,
)
from signaling.settings import Settings
from signaling.store import get_call
from tests.support import Client, RunningServer, connect_agent, connect_kiosk, running_server, wait_until


async def _kiosks(server: RunningServer, n: int, topic: str = "cash") -> list[tuple[Client, str]]:
    out = []
    for i in range(n):
        kiosk = await connect_kiosk(server, f"k-{i}", await server.enroll(f"k-{i}"))
        await kiosk.send(HelpRequest(topic=topic))
        out.append((kiosk, (await kiosk.expect(Queued)).call_id))
    return out


async def _close(*clients: Client) -> None:
    for client in clients:
        await client.close()


async def test_calls_are_offered_oldest_first_and_waiting_kiosks_see_their_position_move(
    server: RunningServer,
) -> None:
    kiosks = await _kiosks(server, 3)
    assert [m.position for k, _ in kiosks for m in k.received if isinstance(m, Queued)] == [1, 2, 3]
    agent = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await agent.send(SetState(state="available"))
    assert (await agent.expect(Offer)).call_id == kiosks[0][1]
    # the others move up: second is now first, third is second
    assert (await kiosks[1][0].expect(Queued, where=lambda m: m.position == 1)).call_id == kiosks[1][1]
    assert (await kiosks[2][0].expect(Queued, where=lambda m: m.position == 2)).call_id == kiosks[2][1]
    await _close(agent, *(k for k, _ in kiosks))


async def test_an_agent_only_gets_calls_for_their_skills(server: RunningServer) -> None:
    ((kiosk, call_id),) = await _kiosks(server, 1, topic="deposits")
    cards = await connect_agent(server, "cara", await server.add_agent("cara", skills=("cards",)))
    await cards.send(SetState(state="available"))
    await cards.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)
    deposits = await connect_agent(server, "dan", await server.add_agent("dan", skills=("deposits",)))
    await deposits.send(SetState(state="available"))
    assert (await deposits.expect(Offer)).call_id == call_id
    assert not any(isinstance(m, Offer) for m in cards.received)
    await _close(kiosk, cards, deposits)


async def test_a_declined_call_keeps_its_place_and_rings_the_next_agent(server: RunningServer) -> None:
    (first, first_call), (second, _) = await _kiosks(server, 2)
    ana = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await ana.send(SetState(state="available"))
    assert (await ana.expect(Offer)).call_id == first_call
    ben = await connect_agent(server, "ben", await server.add_agent("ben", skills=("cash",)))
    await ana.send(Decline(call_id=first_call))
    # ana, available again, is offered the next call, not the one she declined
    assert (await ana.expect(Offer)).call_id != first_call
    # the declined call kept its place: it is the first one ben is offered
    await ben.send(SetState(state="available"))
    assert (await ben.expect(Offer)).call_id == first_call
    await _close(first, second, ana, ben)


@pytest.fixture
async def quick_server(settings: Settings) -> AsyncIterator[RunningServer]:
    quick = replace(settings, reservation_timeout_s=0.6, decline_cooldown_s=0.8)
    async with running_server(quick) as running:
        yield running


async def test_a_lone_agent_who_declined_is_offered_the_call_again_after_a_cooldown(
    quick_server: RunningServer,
) -> None:
    ((kiosk, call_id),) = await _kiosks(quick_server, 1)
    ana = await connect_agent(quick_server, "ana", await quick_server.add_agent("ana", skills=("cash",)))
    await ana.send(SetState(state="available"))
    await ana.expect(Offer)
    await ana.send(Decline(call_id=call_id))
    again = await ana.expect(Offer, where=lambda m: m.call_id == call_id)
    await ana.send(Accept(call_id=again.call_id))
    await kiosk.expect(AgentJoined)
    await _close(kiosk, ana)


async def test_an_unanswered_offer_times_out_and_repeated_misses_set_the_agent_away(
    quick_server: RunningServer,
) -> None:
    ((kiosk, call_id),) = await _kiosks(quick_server, 1)
    ana = await connect_agent(quick_server, "ana", await quick_server.add_agent("ana", skills=("cash",)))
    await ana.send(SetState(state="available"))
    for _ in range(3):
        await ana.expect(Offer, where=lambda m: m.call_id == call_id)
        revoked = await ana.expect(OfferRevoked)
        assert (revoked.call_id, revoked.reason) == (call_id, "timeout")
    away = await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AWAY)
    assert away.reason == "missed offers"
    assert (await kiosk.expect(Queued)).call_id == call_id  # still waiting, first in line
    await _close(kiosk, ana)


async def test_a_kiosk_that_leaves_the_queue_is_abandoned_with_a_reason(server: RunningServer) -> None:
    ((kiosk, call_id),) = await _kiosks(server, 1)
    await kiosk.close()

    async def ended() -> bool:
        await server.drain_history()
        record = await get_call(server.db, call_id)
        return record is not None and record.state == "abandoned"

    await wait_until(ended)
    record = await get_call(server.db, call_id)
    assert record is not None
    assert record.end_reason == "kiosk_disconnected"


async def test_an_agent_who_vanishes_while_ringing_passes_the_call_on(server: RunningServer) -> None:
    ((kiosk, call_id),) = await _kiosks(server, 1)
    ana = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    ben = await connect_agent(server, "ben", await server.add_agent("ben", skills=("cash",)))
    await ana.send(SetState(state="available"))
    await ana.expect(Offer)
    await ben.send(SetState(state="available"))
    await ana.close()
    assert (await ben.expect(Offer)).call_id == call_id
    await _close(kiosk, ben)


async def test_when_the_agent_drops_mid_call_the_kiosk_is_told(server: RunningServer) -> None:
    ((kiosk, call_id),) = await _kiosks(server, 1)
    ana = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await ana.send(SetState(state="available"))
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await ana.close()
    ended = await kiosk.expect(CallEnded)
    assert (ended.state, ended.reason) == (CallState.COMPLETED, "agent_disconnected")
    await kiosk.close()
