"""Routing rules as kiosks, agents and supervisors see them: priority, language, proficiency, escalation,
next states, wrap-up timers, transfers, queue limits and hours, capacity, the board and supervisor actions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from signaling.protocol import (
    Accept,
    AgentJoined,
    AgentState,
    AgentStateChanged,
    CallAccepted,
    CallEnded,
    CallState,
    Error,
    ErrorCode,
    ExtendWrapUp,
    Hangup,
    HelpRequest,
    Offer,
    OfferRevoked,
    Queued,
    SetState,
    Transfer,
    Transferring,
    WrapUp,
    WrapUpDone,
)
from signaling.queues import parse_queues
from signaling.routing.engine import RoutingEngine
from signaling.routing.keys import Keys
from signaling.settings import Settings
from signaling.store import get_call
from tests.support import (
    Client,
    RunningServer,
    closed_hours,
    connect_agent,
    connect_kiosk,
    login,
    running_server,
    wait_until,
)

QUEUES = f"""
[defaults]
priority_aging_s = 60
[[defaults.escalation]]
after_s = 0
min_proficiency = 3
any_language = false
[[defaults.escalation]]
after_s = 1.5
min_proficiency = 1
any_language = true

[queues.cash]
label = "Cash"
max_length = 3
[queues.cards]
label = "Cards"
max_wait_s = 1.5
[queues.night]
label = "Night desk"
hours = ["{closed_hours()}"]
"""


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    ruled = replace(settings, queues=parse_queues(QUEUES), wrap_up_s=1.0, wrap_up_extension_s=30.0)
    async with running_server(ruled) as running:
        yield running


async def _kiosk(server: RunningServer, kiosk_id: str) -> Client:
    return await connect_kiosk(server, kiosk_id, await server.enroll(kiosk_id))


async def _agent(server: RunningServer, name: str, **profile: object) -> Client:
    profile.setdefault("skills", ("cash", "cards"))
    agent = await connect_agent(server, name, await server.add_agent(name, **profile))
    return agent


async def _ask(kiosk: Client, topic: str = "cash", **kw: object) -> str:
    await kiosk.send(HelpRequest(topic=topic, **kw))  # type: ignore[arg-type]
    return (await kiosk.expect(Queued)).call_id


async def _close(*clients: Client) -> None:
    for client in clients:
        await client.close()


async def test_a_kiosk_with_a_device_fault_goes_ahead_of_older_calls(server: RunningServer) -> None:
    first, faulty = await _kiosk(server, "k-1"), await _kiosk(server, "k-2")
    await _ask(first)
    urgent = await _ask(faulty, device_fault="card reader jammed")
    ana = await _agent(server, "ana")
    await ana.send(SetState(state="available"))
    offer = await ana.expect(Offer)
    assert offer.call_id == urgent
    assert offer.priority == 1
    assert offer.context["device_fault"] == "card reader jammed"
    await _close(first, faulty, ana)


async def test_a_call_waits_for_an_agent_who_speaks_its_language_until_escalation_widens(
    server: RunningServer,
) -> None:
    english = await _agent(server, "ed", languages=("en",))
    await english.send(SetState(state="available"))
    await english.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)
    kiosk = await _kiosk(server, "k-es")
    call_id = await _ask(kiosk, language="es")
    asked = time.monotonic()
    # no Spanish speaker: after the queue's first escalation step (1.5 s) any language may answer
    offer = await english.expect(Offer, timeout=10)
    assert offer.call_id == call_id
    assert time.monotonic() - asked >= 1.4
    await _close(kiosk, english)


async def test_the_longest_idle_agent_who_speaks_the_language_answers_first(server: RunningServer) -> None:
    english = await _agent(server, "ed", languages=("en",))
    await english.send(SetState(state="available"))
    await english.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)
    spanish = await _agent(server, "sol", languages=("es", "en"))
    await spanish.send(SetState(state="available"))
    await spanish.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)
    kiosk = await _kiosk(server, "k-es")
    call_id = await _ask(kiosk, language="es")
    assert (await spanish.expect(Offer)).call_id == call_id
    assert not any(isinstance(m, Offer) for m in english.received)
    await _close(kiosk, english, spanish)


async def test_a_junior_agent_gets_a_call_only_once_escalation_allows(server: RunningServer) -> None:
    junior = await _agent(server, "jo", proficiency={"cash": 1})
    await junior.send(SetState(state="available"))
    kiosk = await _kiosk(server, "k-1")
    asked = time.monotonic()
    call_id = await _ask(kiosk)
    assert (await junior.expect(Offer, timeout=10)).call_id == call_id
    assert time.monotonic() - asked >= 1.4
    await _close(kiosk, junior)


async def test_going_away_during_a_call_takes_effect_after_wrap_up(server: RunningServer) -> None:
    kiosk = await _kiosk(server, "k-1")
    ana = await _agent(server, "ana")
    await ana.send(SetState(state="available"))
    call_id = await _ask(kiosk)
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await ana.send(SetState(state="away", reason="lunch"))
    busy = await ana.expect(AgentStateChanged, where=lambda m: m.next_state is not None)
    assert (busy.state, busy.next_state) == (AgentState.IN_CALL, "away:lunch")
    await ana.send(Hangup(call_id=call_id))
    await ana.send(WrapUp(call_id=call_id, disposition="resolved"))
    away = await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AWAY)
    assert away.reason == "lunch"
    await _close(kiosk, ana)


async def test_wrap_up_ends_on_its_own_and_may_be_extended_once(server: RunningServer) -> None:
    kiosk = await _kiosk(server, "k-1")
    ana = await _agent(server, "ana")
    await ana.send(SetState(state="available"))
    call_id = await _ask(kiosk)
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await ana.send(Hangup(call_id=call_id))
    wrap = await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.WRAP_UP)
    assert wrap.wrap_up_ends_in_s is not None
    assert wrap.wrap_up_ends_in_s <= 1.0
    assert wrap.wrap_up_extendable is True
    await ana.send(ExtendWrapUp(call_id=call_id))
    longer = await ana.expect(AgentStateChanged, where=lambda m: (m.wrap_up_ends_in_s or 0) > 20)
    assert (longer.state, longer.wrap_up_extendable) == (AgentState.WRAP_UP, False)
    await ana.send(ExtendWrapUp(call_id=call_id))
    assert (await ana.expect(Error)).code is ErrorCode.WRONG_STATE

    # a second call: nobody files the wrap-up, the timer does, and the agent is available again
    await ana.send(WrapUp(call_id=call_id, disposition="resolved"))
    assert (await ana.expect(WrapUpDone)).by == "agent"
    second = await _kiosk(server, "k-2")
    call2 = await _ask(second)
    await ana.expect(Offer, where=lambda m: m.call_id == call2)
    await ana.send(Accept(call_id=call2))
    await second.expect(AgentJoined)  # the call was answered (a hang-up before that abandons it)
    await second.send(Hangup(call_id=call2))
    done = await ana.expect(WrapUpDone, timeout=10)
    assert (done.call_id, done.by) == (call2, "timer")
    await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)
    await _close(kiosk, second, ana)


async def test_a_call_transferred_to_another_queue_rings_an_agent_there_with_the_notes(
    server: RunningServer,
) -> None:
    kiosk = await _kiosk(server, "k-1")
    ana = await _agent(server, "ana", skills=("cash",))
    carl = await _agent(server, "carl", skills=("cards",))
    await carl.send(SetState(state="available"))
    await ana.send(SetState(state="available"))
    call_id = await _ask(kiosk)
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await kiosk.expect(AgentJoined)
    await ana.send(Transfer(call_id=call_id, to_topic="cards", notes="card retained after 3 PIN tries"))
    moving = await kiosk.expect(Transferring)
    assert (moving.call_id, moving.to_topic) == (call_id, "cards")
    offer = await carl.expect(Offer)
    assert (offer.call_id, offer.topic) == (call_id, "cards")
    assert "card retained after 3 PIN tries" in offer.notes
    await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.WRAP_UP)
    await carl.send(Accept(call_id=call_id))
    assert (await kiosk.expect(AgentJoined)).agent_name == "carl"
    await carl.send(Hangup(call_id=call_id))
    await server.drain_history()
    record = await get_call(server.db, call_id)
    assert record is not None
    assert (record.state, record.agent, record.topic) == ("completed", "carl", "cards")
    assert "transferred" in [e.kind for e in record.events]
    await _close(kiosk, ana, carl)


async def test_a_call_can_be_transferred_to_a_named_free_agent_only(server: RunningServer) -> None:
    kiosk = await _kiosk(server, "k-1")
    ana, ben = await _agent(server, "ana"), await _agent(server, "ben")
    await ana.send(SetState(state="available"))
    call_id = await _ask(kiosk)
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await ana.send(Transfer(call_id=call_id, to_agent="ben"))
    assert (await ana.expect(Error)).code is ErrorCode.AGENT_UNAVAILABLE  # ben is away
    await ben.send(SetState(state="available"))
    await ben.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)
    await ana.send(Transfer(call_id=call_id, to_agent="ben", notes="VIP"))
    offer = await ben.expect(Offer)
    assert offer.call_id == call_id
    assert offer.notes == "ana: VIP"
    await _close(kiosk, ana, ben)


async def test_a_full_queue_and_a_closed_queue_give_the_kiosk_a_clear_answer(server: RunningServer) -> None:
    kiosks = [await _kiosk(server, f"k-{i}") for i in range(4)]
    for kiosk in kiosks[:3]:
        await _ask(kiosk)
    await kiosks[3].send(HelpRequest(topic="cash"))
    full = await kiosks[3].expect(Error)
    assert (full.code, full.ref) == (ErrorCode.QUEUE_FULL, "help_request")
    assert "try again later" in full.message
    await kiosks[3].send(HelpRequest(topic="night"))
    closed = await kiosks[3].expect(Error)
    assert closed.code is ErrorCode.QUEUE_CLOSED
    assert "Night desk" in closed.message
    await _close(*kiosks)


async def test_a_call_waiting_past_the_queues_limit_times_out(server: RunningServer) -> None:
    kiosk = await _kiosk(server, "k-1")
    call_id = await _ask(kiosk, topic="cards")
    ended = await kiosk.expect(CallEnded, timeout=10)
    assert (ended.call_id, ended.state, ended.reason) == (call_id, CallState.TIMED_OUT, "max_wait")
    await kiosk.close()


async def test_an_agent_with_capacity_two_serves_two_kiosks_at_once(server: RunningServer) -> None:
    teller = await _agent(server, "tess", capacity=2)
    await teller.send(SetState(state="available"))
    k1, k2, k3 = await _kiosk(server, "k-1"), await _kiosk(server, "k-2"), await _kiosk(server, "k-3")
    c1 = await _ask(k1)
    await teller.expect(Offer, where=lambda m: m.call_id == c1)
    await teller.send(Accept(call_id=c1))
    await teller.expect(CallAccepted)
    c2 = await _ask(k2)
    await teller.expect(Offer, where=lambda m: m.call_id == c2)
    c3 = await _ask(k3)  # the third waits: capacity is two
    await teller.send(Hangup(call_id=c1))
    await teller.expect(AgentStateChanged, where=lambda m: m.state is AgentState.WRAP_UP)
    assert not any(isinstance(m, Offer) and m.call_id == c3 for m in teller.received)
    await _close(k1, k2, k3, teller)


async def test_the_board_shows_queues_and_supervisors_can_act_on_agents_and_calls(
    server: RunningServer,
) -> None:
    kiosk = await _kiosk(server, "k-1")
    call_id = await _ask(kiosk)
    ana = await _agent(server, "ana")
    await ana.send(SetState(state="away"))
    await server.add_agent("sue", role="supervisor")
    sue = await login(server, "sue", "correct horse")
    agent_http = await login(server, "ana", "correct horse")
    try:
        async with sue.get(f"{server.url}/api/queues") as r:
            board = {q["topic"]: q for q in (await r.json())["queues"]}
        assert board["cash"]["waiting"] == 1
        assert board["cash"]["oldest_wait_s"] >= 0
        assert board["cash"]["agents_by_state"] == {"away": 1}

        # agents may read the board, not act
        async with agent_http.post(f"{server.url}/api/agents/ana/state", json={"state": "available"}) as r:
            assert r.status == 403
        async with sue.post(f"{server.url}/api/agents/ana/state", json={"state": "available"}) as r:
            assert r.status == 200
        offer = await ana.expect(Offer)
        # forcing a ringing agent away puts the call back at once
        async with sue.post(
            f"{server.url}/api/agents/ana/state", json={"state": "away", "reason": "meeting"}
        ) as r:
            assert r.status == 200
        assert (await ana.expect(OfferRevoked)).call_id == offer.call_id
        await ana.expect(
            AgentStateChanged, where=lambda m: m.state is AgentState.AWAY and m.reason == "meeting"
        )
        async with sue.post(f"{server.url}/api/agents/ana/wrap-up/complete") as r:
            assert r.status == 409
        async with sue.delete(f"{server.url}/api/calls/{call_id}") as r:
            assert r.status == 200
        ended = await kiosk.expect(CallEnded)
        assert (ended.state, ended.reason) == (CallState.ABANDONED, "removed_by_supervisor")
        async with sue.post(f"{server.url}/api/agents/ana/state", json={"state": "napping"}) as r:
            assert r.status == 400
    finally:
        await sue.close()
        await agent_http.close()
        await _close(kiosk, ana)


async def test_a_supervisor_completes_a_stuck_wrap_up(server: RunningServer) -> None:
    kiosk = await _kiosk(server, "k-1")
    ana = await _agent(server, "ana")
    await ana.send(SetState(state="available"))
    call_id = await _ask(kiosk)
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await ana.send(Hangup(call_id=call_id))
    await ana.send(ExtendWrapUp(call_id=call_id))
    await ana.expect(AgentStateChanged, where=lambda m: (m.wrap_up_ends_in_s or 0) > 20)
    await server.add_agent("sue", role="supervisor")
    sue = await login(server, "sue", "correct horse")
    try:
        async with sue.post(f"{server.url}/api/agents/ana/wrap-up/complete") as r:
            assert r.status == 200
            assert (await r.json())["call_id"] == call_id
    finally:
        await sue.close()
    assert (await ana.expect(WrapUpDone)).by == "supervisor"
    await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.AVAILABLE)

    async def filed() -> bool:
        await server.drain_history()
        record = await get_call(server.db, call_id)
        return record is not None and record.wrapped_up_at is not None

    await wait_until(filed)
    await _close(kiosk, ana)


async def test_an_agent_who_left_during_wrap_up_is_offline_when_its_timer_ends(server: RunningServer) -> None:
    kiosk = await _kiosk(server, "k-1")
    ana = await _agent(server, "ana")
    await ana.send(SetState(state="available"))
    call_id = await _ask(kiosk)
    await ana.expect(Offer)
    await ana.send(Accept(call_id=call_id))
    await ana.send(Hangup(call_id=call_id))
    await ana.expect(AgentStateChanged, where=lambda m: m.state is AgentState.WRAP_UP)
    await ana.close()

    async def offline() -> bool:
        return (await server.services.engine.agent_status("ana")).state == "offline"

    await wait_until(offline)  # the 1 s wrap-up timer fires with nobody there
    await kiosk.close()


async def test_the_board_s_oldest_wait_is_the_longest_waiting_call_not_the_first_in_line(
    redis_url: str, redis_prefix: str
) -> None:
    """A device fault goes ahead of older calls; the board still shows how long the oldest has waited."""
    clock = [1_700_000_000_000]
    redis = Redis.from_url(redis_url)
    engine = RoutingEngine(redis, Keys(redis_prefix), clock=lambda: clock[0])
    try:
        await engine.publish_config()
        await engine.kiosk_online("k-old", "lobby", "c1", clock[0] + 600_000)
        await engine.kiosk_online("k-fault", "lobby", "c2", clock[0] + 600_000)
        first = await engine.enqueue("k-old", "lobby", "cash", "en", {})
        clock[0] += 5_000
        fault = await engine.enqueue("k-fault", "lobby", "cash", "en", {}, priority=1)
        assert (first.position, fault.position) == (1, 1), "the fault call goes ahead of the older one"
        (board,) = await engine.boards(["cash"])
        assert (board.waiting, board.oldest_created_ms) == (2, 1_700_000_000_000)
        assert (await engine.boards(["cards"]))[0].oldest_created_ms is None  # an empty queue
    finally:
        await redis.aclose()
