"""Moves routing events from the Redis stream into the durable call history.

Events are written by the Lua scripts in the same atomic step as the state change they describe, so none
is lost if a server dies right after a transition. Every process runs a consumer in one consumer group;
an event is acknowledged only after its database transaction commits, and storing is idempotent by the
event's stream id, so a redelivery (after a crash) stores nothing twice.

The writer shares the server's event loop, so it stores in batches: after storing some events it waits
``interval_s`` before reading again, and what arrived meanwhile is stored in one transaction. An idle
stream costs nothing (the read blocks in Redis); a full batch is followed at once by the next (a backlog);
``drain`` cuts the wait short.

The same transaction writes the audit entries of accepts and transfers (``store/audit.py``), and the
customer context is cut to what ``Settings.store_context`` allows before anything is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from signaling.routing.keys import Keys
from signaling.store import Database, InvalidEvent, RoutingEvent, apply_events
from signaling.store.minimise import ContextPolicy

log = logging.getLogger(__name__)

GROUP = "history"
CLAIM_IDLE_MS = 30_000


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_entries(entries: list[Any]) -> list[RoutingEvent]:
    events = []
    for entry_id, raw in entries:
        if raw is None:  # trimmed from the stream before it was read
            continue
        fields = {_s(k): _s(v) for k, v in raw.items()}
        events.append(
            RoutingEvent(
                event_id=_s(entry_id),
                call_id=fields.pop("call_id"),
                kind=fields.pop("kind"),
                at_ms=int(fields.pop("at_ms")),
                fields=fields,
            )
        )
    return events


class HistoryWriter:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        db: Database,
        batch: int = 500,
        interval_s: float = 0.1,
        context: ContextPolicy | None = None,
    ) -> None:
        self._redis = redis
        self._context = context or ContextPolicy()
        """How much customer context history keeps (data minimisation)."""
        self._keys = keys
        self._db = db
        self._batch = batch
        self._interval_s = interval_s
        self.consumer = f"history-{uuid.uuid4().hex[:12]}"
        self._stepped = asyncio.Event()
        """Set (and replaced by a fresh one) after every step of ``run``."""
        self._hurry = asyncio.Event()
        """Set while a ``drain`` waits: ``run`` reads again at once instead of waiting out its interval."""
        self._drains = 0

    async def setup(self) -> None:
        try:
            await self._redis.xgroup_create(self._keys.events, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _store(self, entries: list[Any]) -> int:
        events = [self._context.minimise(event) for event in parse_entries(entries)]
        while events:
            try:
                await apply_events(self._db, events)
                break
            except InvalidEvent as exc:
                # one malformed event must not block the stream: log it, store the rest
                log.error("history: skipping event %s: %s", exc.event_id, exc)
                events = [e for e in events if e.event_id != exc.event_id]
        ids = [_s(entry_id) for entry_id, _ in entries]
        if ids:
            await self._redis.xack(self._keys.events, GROUP, *ids)
        return len(ids)

    async def step(self, block_ms: int | None = 1000) -> int:
        """Store one batch of new events (waiting up to ``block_ms`` for some); returns how many."""
        reply: Any = await self._redis.xreadgroup(
            GROUP, self.consumer, {self._keys.events: ">"}, count=self._batch, block=block_ms
        )
        if not reply:
            return 0
        return await self._store(reply[0][1])

    async def reclaim(self) -> int:
        """Take over events a dead consumer read but never acknowledged."""
        _, entries, *_ = await self._redis.xautoclaim(
            self._keys.events, GROUP, self.consumer, CLAIM_IDLE_MS, "0-0", count=self._batch
        )
        return await self._store(entries) if entries else 0

    async def run(self) -> None:
        await self.setup()
        await self.reclaim()
        loops = 0
        while True:
            try:
                _raise_if_cancelled()
                stored = await self.step()
                self._stepped.set()
                self._stepped = asyncio.Event()
                loops += 1
                if loops % 30 == 0:
                    await self.reclaim()
                if 0 < stored < self._batch:
                    await self._gather()
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("history: the consumer group vanished (Redis lost its data); recreating it")
                await self.setup()
            except (RedisError, OSError) as exc:
                log.warning("history: Redis unavailable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(1.0)  # back off while Redis restarts or fails over
            except Exception:
                log.exception("history writer failed; retrying")
                await asyncio.sleep(1.0)  # back off before retrying a failing database or Redis

    async def _gather(self) -> None:
        """Let the next batch gather: ``interval_s``, or until a ``drain`` asks (pacing, not syncing)."""
        _raise_if_cancelled()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), self._interval_s)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every event written so far is stored (for tests and orderly shutdown)."""
        self._drains += 1
        self._hurry.set()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    stepped = self._stepped  # taken before the check, so a step during it is not missed
                    if await self._caught_up():
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stepped.wait(), 1.0)
        finally:
            self._drains -= 1
            if not self._drains:
                self._hurry.clear()

    async def _caught_up(self) -> bool:
        stream = await self._redis.xinfo_stream(self._keys.events)
        groups = await self._redis.xinfo_groups(self._keys.events)
        group = next((g for g in groups if _s(g["name"]) == GROUP), None)
        if group is None:
            return False
        last = _stream_id(_s(stream["last-generated-id"]))
        return int(group["pending"]) == 0 and _stream_id(_s(group["last-delivered-id"])) >= last


def _raise_if_cancelled() -> None:
    """Raise the cancellation redis-py may have lost: a task cancelled in the middle of a command (seen
    with redis-py 8.1) can go on with ``cancelling()`` set and no CancelledError, and the writer would then
    outlive the shutdown that cancelled it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)
