"""The history writer: routing events go from the Redis stream into the call history, a batch at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from signaling import history_writer
from signaling.history_writer import HistoryWriter
from signaling.protocol import CallState
from signaling.routing.keys import Keys
from signaling.store import Database, RoutingEvent, apply_events, get_call

WAIT_S = 5.0
LONG_INTERVAL_S = 60.0  # far longer than any wait in these tests: reaching the end of one would time out


class Batches:
    """Stores what the writer hands over (as ``apply_events`` does) and records each batch's size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self._stored = asyncio.Event()

    async def apply(self, db: Database, events: Sequence[RoutingEvent]) -> int:
        stored = await apply_events(db, events)
        self.sizes.append(len(events))
        self._stored.set()
        return stored

    async def wait_for_events(self, count: int) -> None:
        async with asyncio.timeout(WAIT_S):
            while sum(self.sizes) < count:
                self._stored.clear()
                await self._stored.wait()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.connect(f"sqlite:///{tmp_path}/history.sqlite3")
    await database.migrate()
    yield database
    await database.close()


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> Batches:
    recorder = Batches()
    monkeypatch.setattr(history_writer, "apply_events", recorder.apply)
    return recorder


@contextlib.asynccontextmanager
async def running(writer: HistoryWriter) -> AsyncIterator[None]:
    task = asyncio.create_task(writer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def add(redis: Redis, keys: Keys, call_id: str, kind: str, **fields: str) -> None:
    entry: dict[FieldT, EncodableT] = {"call_id": call_id, "kind": kind, "at_ms": "1000"}
    await redis.xadd(keys.events, entry | dict(fields))


async def test_events_that_arrive_while_a_batch_is_stored_are_stored_together_on_drain(
    redis: Redis, keys: Keys, db: Database, batches: Batches
) -> None:
    writer = HistoryWriter(redis, keys, db, interval_s=LONG_INTERVAL_S)
    async with running(writer):
        await add(redis, keys, "c1", "created", kiosk_id="k1")
        await batches.wait_for_events(1)
        for agent in ("a", "b"):
            await add(redis, keys, "c1", "reserved", agent=agent)
            await add(redis, keys, "c1", "released", agent=agent)

        await writer.drain(timeout=WAIT_S)  # long before the writer's interval is over

    assert batches.sizes == [1, 4]
    record = await get_call(db, "c1")
    assert record is not None
    assert [e.kind for e in record.events] == ["created", "reserved", "released", "reserved", "released"]


async def test_a_backlog_is_stored_one_full_batch_after_another_without_waiting(
    redis: Redis, keys: Keys, db: Database, batches: Batches
) -> None:
    for n in range(5):
        await add(redis, keys, f"c{n}", "created", kiosk_id="k1")
    writer = HistoryWriter(redis, keys, db, batch=2, interval_s=LONG_INTERVAL_S)

    async with running(writer):
        await batches.wait_for_events(5)

    assert batches.sizes == [2, 2, 1]


async def test_an_invalid_event_is_skipped_and_the_rest_of_its_batch_is_stored(
    redis: Redis, keys: Keys, db: Database
) -> None:
    await add(redis, keys, "c1", "created", kiosk_id="k1")
    await add(redis, keys, "c1", "ended", state="connecting", reason="agent_hangup")  # not a terminal state
    await add(redis, keys, "c1", "reserved", agent="alice")
    writer = HistoryWriter(redis, keys, db)

    async with running(writer):
        await writer.drain(timeout=WAIT_S)

    record = await get_call(db, "c1")
    assert record is not None
    assert (record.state, record.agent) == (CallState.RESERVED, "alice")
    assert [e.kind for e in record.events] == ["created", "reserved"]
