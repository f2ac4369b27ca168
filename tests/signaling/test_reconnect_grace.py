"""A connection that drops without a goodbye keeps the party's place, call or reservation for the
reconnect grace period; one that says goodbye (close 1000) is gone at once."""

from __future__ import annotations

import asyncio
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
    Error,
    ErrorCode,
    HelpRequest,
    MediaStatus,
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


@pytest.fixture
async def short_grace_media(settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(replace(settings, reconnect_grace_s=1.0, media_report_fresh_s=2.0)) as running:
        yield running


async def test_an_agent_who_drops_mid_call_keeps_it_while_the_kiosk_reports_media_flowing(
    short_grace_media: RunningServer,
) -> None:
    server = short_grace_media
    kiosk = await connect_kiosk(server, "k-1", await server.enroll("k-1"))
    ana = await connect_agent(server, "ana", await server.add_agent("ana", skills=("cash",)))
    await ana.send(SetState(state="available"))
    await kiosk.send(HelpRequest(topic="cash"))
    call_id = (await ana.expect(Offer)).call_id
    await ana.send(Accept(call_id=call_id))
    await kiosk.expect(AgentJoined)
    refused = await connect_kiosk(server, "k-2", await server.enroll("k-2"))
    await refused.send(MediaStatus(call_id=call_id, flowing=True))  # not its call: refused, changes nothing
    assert (await refused.expect(Error)).code is ErrorCode.UNKNOWN_CALL

    await ana.drop()
    redis, keys = server.services.redis, server.services.keys
    presence = keys.presence

    async def grace_began() -> float | None:  # the server saw the drop: presence now ends with the grace
        if await redis.hget(keys.agent("ana"), "conn") not in (b"", ""):
            return None
        score: float | None = await redis.zscore(presence, "agent:ana")
        return score

    grace_ends = await wait_until(grace_began, what="the agent's grace to begin")

    async def report() -> None:  # what the kiosk program does while heartbeats arrive (every 5 s)
        while True:
            await kiosk.send(MediaStatus(call_id=call_id, flowing=True))
            await asyncio.sleep(0.3)  # the report's period

    reporting = asyncio.create_task(report())
    try:

        async def kept_past_the_grace() -> bool:
            score = await redis.zscore(presence, "agent:ana")
            return score is not None and score > grace_ends + 500

        await wait_until(kept_past_the_grace, 10, "the call kept after the grace, media flowing")
        call = await server.services.engine.get_call(call_id)
        assert call is not None
        assert call.state == "connecting"
    finally:
        reporting.cancel()
    ended = await kiosk.expect(CallEnded, timeout=10)  # reports stop: the call ends as it would have
    assert (ended.state, ended.reason) == (CallState.COMPLETED, "agent_disconnected")
    for client in (kiosk, refused):
        await client.close()
