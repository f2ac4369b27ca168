"""Call history, written from the stream of routing events and read back for the console and reports.

``apply_events`` is idempotent: every event is stored once under its Redis stream id, so a consumer may
re-deliver a batch (after a crash, a reconnect, a claim from a dead consumer) without changing anything.

Accepts and transfers also go to the audit log, in the same transaction (see ``audit.entries_from_events``).

A batch costs the same five statements whatever its size: a select of the ids already stored, a select
(locking) of the calls it touches, then one executemany each to insert the new calls, update the changed
ones and insert the events. Rows are written with Core, not through the ORM's unit of work, which would
insert events one statement at a time on SQLite (to read back each new key) and update calls in several
groups; the transitions still apply to ``Call`` objects, detached from any session.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signaling.protocol import CallState
from signaling.store import audit, transitions
from signaling.store.database import Database
from signaling.store.errors import InvalidEvent, InvalidValue
from signaling.store.models import Call, CallEvent

log = logging.getLogger(__name__)

_ATTEMPTS = 3  # a concurrent writer of the same events makes a batch fail once; the retry skips them
MAX_LIST_LIMIT = 1000
_EVENTS: Table = CallEvent.metadata.tables[CallEvent.__tablename__]
_CALLS: Table = Call.metadata.tables[Call.__tablename__]
_CALL_COLUMNS = tuple(column.name for column in _CALLS.columns if column.name != "id")
_UPDATE_CALL = update(_CALLS).where(_CALLS.c.id == bindparam("call_id"))
"""Executed with every column of the row (by name) and its ``call_id``."""


@dataclass(frozen=True)
class RoutingEvent:
    """One entry of the routing engine's event stream, as read from Redis (every field a string)."""

    event_id: str
    call_id: str
    kind: str
    at_ms: int
    fields: dict[str, str] = field(default_factory=dict)


class CallEventRecord(NamedTuple):
    kind: str
    at: datetime
    agent: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class CallSummary:
    """A call as the history knows it (timestamps are UTC)."""

    id: str
    kiosk_id: str
    topic: str
    language: str
    priority: int
    context: dict[str, Any]
    state: CallState
    end_reason: str | None
    agent: str | None
    created_at: datetime
    queued_at: datetime | None
    offered_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wrapped_up_at: datetime | None
    disposition: str | None
    notes: str | None


@dataclass(frozen=True)
class CallRecord(CallSummary):
    """A call with every event that shaped it, oldest first."""

    events: list[CallEventRecord]


async def apply_events(db: Database, events: Sequence[RoutingEvent]) -> int:
    """Store ``events`` and update their calls, all in one transaction; returns how many were new.

    Raises InvalidEvent (and stores nothing of the batch) when an event cannot be applied. If another
    writer stores some of the same events at the same moment, the batch is retried and skips them.
    """
    for event in events:
        _check(event)
    if not events:
        return 0
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with db.session() as session:
                return await _apply(session, events)
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
            log.info("history batch raced another writer; retrying (attempt %d)", attempt)
    raise AssertionError("unreachable")


async def get_call(db: Database, call_id: str) -> CallRecord | None:
    """The call ``call_id`` with its events in the order they happened, or None if history has no such call.

    That order is the order of the routing event stream (the ids Redis gave the events), which is exact;
    the events' clock times come from the servers and may be a little out of step with each other.
    """
    async with db.session(readonly=True) as session:
        call = await session.get(Call, call_id)
        if call is None:
            return None
        rows = list(await session.scalars(select(CallEvent).where(CallEvent.call_id == call_id)))
        rows.sort(key=_stream_order)
        events = [CallEventRecord(e.kind, e.at, e.agent, dict(e.detail)) for e in rows]
    return CallRecord(**_summary_values(call), events=events)


async def list_calls(db: Database, *, limit: int = 100, since: datetime | None = None) -> list[CallSummary]:
    """The most recent calls first, at most ``limit``; with ``since``, only calls created at or after it."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidValue(f"invalid limit {limit!r}: expected 1-{MAX_LIST_LIMIT}")
    query = select(Call).order_by(Call.created_at.desc(), Call.id).limit(limit)
    if since is not None:
        query = query.where(Call.created_at >= since)
    async with db.session(readonly=True) as session:
        return [CallSummary(**_summary_values(call)) for call in await session.scalars(query)]


async def _apply(session: AsyncSession, events: Sequence[RoutingEvent]) -> int:
    fresh = await _unseen(session, events)
    if not fresh:
        return 0
    touched = await _calls_for(session, fresh)
    rows = [_applied(touched.calls[event.call_id], event) for event in fresh]
    await _save_calls(session, touched)
    await session.execute(insert(_EVENTS), rows)
    await audit.append_in(session, audit.entries_from_events(fresh, touched.calls))
    return len(fresh)


def _applied(call: Call, event: RoutingEvent) -> dict[str, Any]:
    """Apply ``event`` to its ``call``; the event's row for the ``call_events`` table."""
    at = transitions.at_from_ms(event.at_ms)
    if update := transitions.TRANSITIONS.get(event.kind):
        update(call, event.event_id, event.fields, at)
    agent = transitions.optional(event.event_id, event.fields, "agent", 64)
    return {
        "event_id": event.event_id,
        "call_id": call.id,
        "at": at,
        "kind": event.kind,
        "agent": agent,
        "detail": dict(event.fields),
    }


async def _unseen(session: AsyncSession, events: Sequence[RoutingEvent]) -> list[RoutingEvent]:
    """The events not stored yet, in order, each once even if the batch repeats it."""
    ids = {event.event_id for event in events}
    seen = set(await session.scalars(select(_EVENTS.c.event_id).where(_EVENTS.c.event_id.in_(ids))))
    fresh = []
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            fresh.append(event)
    return fresh


@dataclass(frozen=True)
class _Touched:
    """The calls a batch touches (detached ``Call`` objects, by id) and, for those already stored, their
    column values as loaded, to tell which ones the batch changed."""

    calls: dict[str, Call]
    stored: dict[str, tuple[Any, ...]]


async def _calls_for(session: AsyncSession, events: Sequence[RoutingEvent]) -> _Touched:
    """The call rows the events touch, locked; a placeholder for each call history has not seen."""
    ids = {event.call_id for event in events}
    # Lock the rows: writers in several processes may hold events of one call at once, and a stale copy
    # must not overwrite a newer state (a terminal one above all). Ordered by id, so two writers lock in
    # the same order. (SQLite serialises writers already; it ignores FOR UPDATE.)
    query = select(_CALLS).where(_CALLS.c.id.in_(ids)).order_by(_CALLS.c.id).with_for_update()
    calls = {row["id"]: Call(**row) for row in (await session.execute(query)).mappings()}
    stored = {call_id: _column_values(call) for call_id, call in calls.items()}
    for event in events:
        if event.call_id not in calls:
            calls[event.call_id] = transitions.new_call(event.call_id, transitions.at_from_ms(event.at_ms))
    return _Touched(calls, stored)


async def _save_calls(session: AsyncSession, touched: _Touched) -> None:
    """Insert the new calls and update the changed ones: one executemany each."""
    new, changed = [], []
    for call_id, call in sorted(touched.calls.items()):  # in id order, as the locks are taken
        values = _column_values(call)
        if call_id not in touched.stored:
            new.append(dict(zip(_CALL_COLUMNS, values, strict=True)) | {"id": call_id})
        elif values != touched.stored[call_id]:
            changed.append(dict(zip(_CALL_COLUMNS, values, strict=True)) | {"call_id": call_id})
    if new:
        await session.execute(insert(_CALLS), new)
    if changed:
        await session.execute(_UPDATE_CALL, changed)


def _column_values(call: Call) -> tuple[Any, ...]:
    return tuple(getattr(call, name) for name in _CALL_COLUMNS)


def _stream_order(event: CallEvent) -> tuple[int, int, float, int]:
    """Redis stream ids ("<ms>-<seq>") in numeric order; anything else after them, by time."""
    ms, sep, seq = event.event_id.partition("-")
    if sep and ms.isdigit() and seq.isdigit():
        return (0, int(ms), int(seq), event.id or 0)
    return (1, 0, event.at.timestamp(), event.id or 0)


def _summary_values(call: Call) -> dict[str, Any]:
    values = {f.name: getattr(call, f.name) for f in fields(CallSummary)}
    return values | {"state": CallState(call.state), "context": dict(call.context)}


def _check(event: RoutingEvent) -> None:
    for name, value, max_length in (
        ("event_id", event.event_id, 64),
        ("call_id", event.call_id, 64),
        ("kind", event.kind, 32),
    ):
        if not isinstance(value, str) or not 1 <= len(value) <= max_length:
            raise InvalidEvent(str(event.event_id), f"{name} must be 1-{max_length} characters")
    if isinstance(event.at_ms, bool) or not isinstance(event.at_ms, int) or event.at_ms < 0:
        raise InvalidEvent(event.event_id, f"at_ms {event.at_ms!r} is not a time in milliseconds")
