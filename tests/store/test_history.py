from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from signaling.protocol import CallState, EndReason
from signaling.store import (
    CallEvent,
    CallRecord,
    Database,
    InvalidEvent,
    InvalidValue,
    RoutingEvent,
    apply_events,
    get_call,
    list_calls,
)

T0 = 1_717_000_000_000  # ms since the epoch


def at(offset_ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=T0 + offset_ms)


def created(call_id: str, n: int, offset_ms: int = 0, **extra: str) -> RoutingEvent:
    context = json.dumps({"transaction": "tx-991", "fault": "card reader"})
    fields = {"kiosk_id": "atm-7", "topic": "cards", "language": "es", "priority": "2", "context": context}
    return RoutingEvent(f"{T0 + offset_ms}-{n}", call_id, "created", T0 + offset_ms, fields | extra)


def event(call_id: str, n: int, kind: str, offset_ms: int, **fields: str) -> RoutingEvent:
    return RoutingEvent(f"{T0 + offset_ms}-{n}", call_id, kind, T0 + offset_ms, fields)


def lifecycle(call_id: str = "call-1") -> list[RoutingEvent]:
    return [
        created(call_id, 0),
        event(call_id, 1, "reserved", 1_000, agent="alice"),
        event(call_id, 2, "released", 21_000, agent="alice", why="timeout"),
        event(call_id, 3, "reserved", 21_500, agent="bob"),
        event(call_id, 4, "accepted", 24_250, agent="bob"),
        event(call_id, 5, "ended", 300_000, state="completed", reason=EndReason.AGENT_HANGUP.value),
        event(call_id, 6, "wrapped_up", 330_000, agent="bob", disposition="resolved", notes="card retained"),
    ]


async def stored_events(db: Database) -> int:
    async with db.session(readonly=True) as session:
        return await session.scalar(select(func.count()).select_from(CallEvent)) or 0


async def call(db: Database, call_id: str = "call-1") -> CallRecord:
    record = await get_call(db, call_id)
    assert record is not None
    return record


async def test_full_lifecycle_builds_the_call_record(db: Database) -> None:
    assert await apply_events(db, lifecycle()) == 7

    record = await call(db)

    assert (record.kiosk_id, record.topic, record.language, record.priority) == ("atm-7", "cards", "es", 2)
    assert record.context == {"transaction": "tx-991", "fault": "card reader"}
    assert (record.state, record.end_reason, record.agent) == (CallState.COMPLETED, "agent_hangup", "bob")
    assert (record.created_at, record.queued_at) == (at(0), at(0))
    assert (record.offered_at, record.answered_at) == (at(21_500), at(24_250))
    assert (record.ended_at, record.wrapped_up_at) == (at(300_000), at(330_000))
    assert (record.disposition, record.notes) == ("resolved", "card retained")


async def test_events_are_kept_in_time_order_with_agent_and_detail(db: Database) -> None:
    await apply_events(db, lifecycle())

    record = await call(db)

    kinds = ["created", "reserved", "released", "reserved", "accepted", "ended", "wrapped_up"]
    assert [e.kind for e in record.events] == kinds
    assert [e.at for e in record.events] == [at(e.at_ms - T0) for e in lifecycle()]
    assert [e.agent for e in record.events] == [None, "alice", "alice", "bob", "bob", None, "bob"]
    kind, when, agent, detail = record.events[2]
    assert (kind, when, agent, detail) == (
        "released",
        at(21_000),
        "alice",
        {"agent": "alice", "why": "timeout"},
    )


async def test_state_follows_each_step(db: Database) -> None:
    expected = [
        (CallState.QUEUED, None),
        (CallState.RESERVED, "alice"),
        (CallState.QUEUED, None),
        (CallState.RESERVED, "bob"),
        (CallState.CONNECTING, "bob"),
        (CallState.COMPLETED, "bob"),
        (CallState.COMPLETED, "bob"),
    ]
    for step, want in zip(lifecycle(), expected, strict=True):
        await apply_events(db, [step])
        record = await call(db)
        assert (record.state, record.agent) == want, step.kind


async def test_applying_the_same_events_again_stores_nothing_new(db: Database) -> None:
    await apply_events(db, lifecycle())
    before = await call(db)

    assert await apply_events(db, lifecycle()) == 0
    assert await apply_events(db, lifecycle()[2:5]) == 0

    assert await call(db) == before
    assert await stored_events(db) == 7


async def test_a_batch_that_repeats_an_event_stores_it_once(db: Database) -> None:
    events = lifecycle()

    assert await apply_events(db, [events[0], events[1], events[1], events[0]]) == 2

    assert [e.kind for e in (await call(db)).events] == ["created", "reserved"]


async def test_redelivery_overlapping_new_events_stores_only_the_new_ones(db: Database) -> None:
    events = lifecycle()
    await apply_events(db, events[:4])

    assert await apply_events(db, events[2:]) == 3

    assert (await call(db)).state is CallState.COMPLETED
    assert await stored_events(db) == 7


async def test_second_end_is_recorded_but_the_first_terminal_state_stands(db: Database) -> None:
    await apply_events(db, lifecycle()[:6])

    late = event("call-1", 9, "ended", 301_000, state="failed", reason=EndReason.MEDIA_FAILED.value)
    assert await apply_events(db, [late]) == 1

    record = await call(db)
    assert (record.state, record.end_reason, record.ended_at) == (
        CallState.COMPLETED,
        "agent_hangup",
        at(300_000),
    )
    assert [e.kind for e in record.events][-2:] == ["ended", "ended"]


async def test_routing_events_after_the_end_do_not_reopen_the_call(db: Database) -> None:
    events = [
        created("call-1", 0),
        event("call-1", 1, "ended", 5_000, state="abandoned", reason=EndReason.KIOSK_CANCELLED.value),
        event("call-1", 2, "reserved", 6_000, agent="alice"),
        event("call-1", 3, "accepted", 7_000, agent="alice"),
        event("call-1", 4, "released", 8_000),
    ]
    await apply_events(db, events)

    record = await call(db)

    assert (record.state, record.agent, record.offered_at, record.answered_at) == (
        CallState.ABANDONED,
        None,
        None,
        None,
    )
    assert len(record.events) == 5


async def test_unknown_kinds_are_kept_as_events_only(db: Database) -> None:
    await apply_events(db, [created("call-1", 0), event("call-1", 1, "position_changed", 500, position="3")])

    record = await call(db)

    assert record.state is CallState.QUEUED
    assert record.events[-1] == ("position_changed", at(500), None, {"position": "3"})


async def test_events_of_several_calls_in_one_batch(db: Database) -> None:
    batch = [created("a", 0), created("b", 1, 1), event("a", 2, "reserved", 2, agent="x"), created("c", 3, 3)]

    assert await apply_events(db, batch) == 4

    assert [(await call(db, c)).state for c in "abc"] == [
        CallState.RESERVED,
        CallState.QUEUED,
        CallState.QUEUED,
    ]


async def test_an_event_before_its_call_was_created_keeps_a_placeholder(db: Database) -> None:
    await apply_events(db, [event("call-9", 0, "reserved", 100, agent="alice")])
    assert (await call(db, "call-9")).kiosk_id == ""

    await apply_events(db, [created("call-9", 1, 50)])

    record = await call(db, "call-9")
    assert (record.kiosk_id, record.state, record.agent, record.created_at) == (
        "atm-7",
        CallState.RESERVED,
        "alice",
        at(50),
    )


async def test_a_large_batch_of_interleaved_calls_is_stored_whole(db: Database) -> None:
    calls = [lifecycle(f"call-{n}") for n in range(60)]
    interleaved = [step for steps in zip(*calls, strict=True) for step in steps]
    events = [
        RoutingEvent(f"{T0}-{i}", e.call_id, e.kind, e.at_ms, e.fields) for i, e in enumerate(interleaved)
    ]
    await apply_events(db, events[:90])  # some calls known already, and changed, in the next batch

    assert await apply_events(db, events) == len(events) - 90

    assert await stored_events(db) == len(events)
    for n in (0, 17, 59):
        record = await call(db, f"call-{n}")
        assert (record.state, record.agent, record.disposition) == (CallState.COMPLETED, "bob", "resolved")
        assert [e.kind for e in record.events] == [e.kind for e in lifecycle()]


@pytest.mark.parametrize(
    "bad",
    [
        event("call-1", 9, "ended", 10, state="connecting", reason="agent_hangup"),
        event("call-1", 9, "ended", 10, state="completed"),
        event("call-1", 9, "reserved", 10),
        created("call-1", 9, 10, context="{not json"),
        created("call-1", 9, 10, priority="high"),
        RoutingEvent("", "call-1", "created", T0, {}),
        RoutingEvent("1-0", "call-1", "created", -1, {}),
    ],
)
async def test_an_invalid_event_rolls_back_its_whole_batch(db: Database, bad: RoutingEvent) -> None:
    with pytest.raises(InvalidEvent) as raised:
        await apply_events(db, [created("call-1", 0), bad])

    assert raised.value.event_id == bad.event_id
    assert await stored_events(db) == 0
    assert await get_call(db, "call-1") is None


async def test_the_same_batch_from_two_writers_at_once_is_stored_once(db: Database) -> None:
    writers = [await Database.connect(db.engine.url.render_as_string(hide_password=False)) for _ in range(2)]
    try:
        results = await asyncio.wait_for(asyncio.gather(*(apply_events(w, lifecycle()) for w in writers)), 20)
        assert sorted(results) == [0, 7]
        assert await stored_events(writers[0]) == 7
        assert (await call(writers[1])).state is CallState.COMPLETED
    finally:
        for writer in writers:
            await writer.close()


async def test_list_calls_newest_first_with_limit_and_since(db: Database) -> None:
    await apply_events(db, [created(f"call-{n}", n, n * 1_000) for n in range(5)])

    assert [c.id for c in await list_calls(db)] == ["call-4", "call-3", "call-2", "call-1", "call-0"]
    assert [c.id for c in await list_calls(db, limit=2)] == ["call-4", "call-3"]
    assert [c.id for c in await list_calls(db, since=at(3_000))] == ["call-4", "call-3"]
    assert not hasattr((await list_calls(db, limit=1))[0], "events")
    with pytest.raises(InvalidValue):
        await list_calls(db, limit=0)


async def test_unknown_call_is_none(db: Database) -> None:
    assert await get_call(db, "never") is None
    assert await apply_events(db, []) == 0


@pytest.mark.postgres
async def test_two_writers_with_events_of_one_call_never_lose_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A writer that loaded a call before another stored its end must not write back a stale state."""
    from signaling.store import history
    from tests.support import scratch_postgres_database

    async with scratch_postgres_database() as url:
        db = await Database.connect(url)
        try:
            await db.migrate()
            await apply_events(
                db, [RoutingEvent("1-0", "c1", "created", 1000, {"kiosk_id": "k", "topic": "cash"})]
            )
            loaded, go_on = asyncio.Event(), asyncio.Event()
            real = history._calls_for

            async def slow_calls_for(session: Any, events: Any) -> Any:  # writer A is slow after loading
                calls = await real(session, events)
                if any(e.kind == "reserved" for e in events):
                    loaded.set()
                    await go_on.wait()
                return calls

            monkeypatch.setattr(history, "_calls_for", slow_calls_for)
            a = asyncio.create_task(
                apply_events(db, [RoutingEvent("2-0", "c1", "reserved", 2000, {"agent": "a"})])
            )
            await asyncio.wait_for(loaded.wait(), 10)
            ended = {"state": "abandoned", "reason": "kiosk_disconnected", "agent": "a"}
            b = asyncio.create_task(apply_events(db, [RoutingEvent("3-0", "c1", "ended", 2010, ended)]))
            # B must wait for A's lock on the row (without it, B commits now and A overwrites its end)
            done, _ = await asyncio.wait({b}, timeout=1.0)
            assert not done
            go_on.set()
            await asyncio.wait_for(asyncio.gather(a, b), 10)
            record = await get_call(db, "c1")
            assert record is not None
            assert (record.state, record.end_reason) == ("abandoned", "kiosk_disconnected")
            assert [e.kind for e in record.events] == ["created", "reserved", "ended"]
        finally:
            await db.close()
