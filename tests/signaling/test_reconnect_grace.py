"""A connection that drops without a goodbye keeps the party's place, call or reservation for the
reconnect grace period; one that says goodbye (close 1000) is gone at once."""

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
    HelpRequest,
    Offer,
    Queued,
    SetState,
    Welcome,
)
from signaling.settings import Settings
from signaling.store import get_call
from tests.support import RunningServer, connect_agent, connect_kiosk, running_server, wait_until


@pytest.fixture
async def short_grace(settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(replace(settings, reconnect_grace_s=1.0)) as running:
        yield running


async def test_a_kiosk_that_drops_and_comes_back_keeps_its_place_in_the_queue(server: RunningServer) -> None:
    secrets = {k: await server.enroll(k) for k in ("k-1", "k-2")}
    first = await connect_kiosk(server, "k-1", secrets["k-1"])
    await first.send(HelpRequest(topic="cash"))
    call_id = (await first.expect(Queued)).call_id
    second = await connect_kiosk(server, "k-2", secrets["k-2"])
    await second.send(HelpRequest(topic="cash"))
    assert (await second.expect(Queued)).position == 2

    await first.drop()
    first = await connect_kiosk(server, "k-1", secrets["k-1"])
    welcome = next(m for m in first.received if isinstance(m, Welcome))
    assert welcome.call_id == call_id
    assert (await first.expect(Queued)).position == 1  # still ahead of the other kiosk

    ana = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await ana.send(SetState(state="available"))
    assert (await ana.expect(Offer)).call_id == call_id
    await ana.send(Accept(call_id=call_id))
    assert (await first.expect(AgentJoined)).call_id == call_id
    for client in (first, second, ana):
        await client.close()


async def test_a_kiosk_that_does_not_come_back_within_the_grace_is_abandoned_with_a_reason(
    short_grace: RunningServer,
) -> None:
    kiosk = await connect_kiosk(short_grace, "k-1", await short_grace.enroll("k-1"))
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await kiosk.expect(Queued)).call_id
    await kiosk.drop()

    async def abandoned() -> bool:
        await short_grace.drain_history()
        record = await get_call(short_grace.db, call_id)
        return record is not None and record.state == "abandoned"

    await wait_until(abandoned, 10, "the call abandoned once the grace period ran out")
    record = await get_call(short_grace.db, call_id)
    assert record is not None
    assert record.end_reason == "kiosk_disconnected"


async def test_an_agent_who_dropped_is_not_rung_until_back_and_a_ringing_offer_moves_on_after_the_grace(
    short_grace: RunningServer,
) -> None:
    server = short_grace
    ana = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    ben = await connect_agent(server, "ben", await server.add_agent("ben", skills=("cash",)))
    await ana.send(SetState(state="available"))
    await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)
    await ana.drop()

    kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1"))
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await kiosk.expect(Queued)).call_id
    await ben.send(SetState(state="available"))
    assert (await ben.expect(Offer)).call_id == call_id  # ana, available but unreachable, was passed over

    # ben's console drops while his offer rings and he does not come back: the call moves on
    ana = await connect_agent(server, "ana", "correct horse")
    await ben.drop()
    assert (await ana.expect(Offer, timeout=10)).call_id == call_id
    await ana.send(Accept(call_id=call_id))
    assert (await kiosk.expect(AgentJoined)).call_id == call_id
    await kiosk.close()
    ended = await ana.expect(CallEnded)
    assert (ended.state, ended.reason) == (CallState.COMPLETED, "kiosk_disconnected")
    await ana.close()
