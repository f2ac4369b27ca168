"""Calls with their outcomes, waits and quality, for exports (``kiosk-assist report calls``).

Rows are streamed from the database (a server-side cursor on PostgreSQL), never all held in memory. The
customer's context and the agent's notes are left out: they may hold personal data, and a report of
outcomes and waits needs neither. The post-call survey is in: its ``rating`` and its ``comment``, which
history holds only where customer context is kept (``store_context="all"``; see ``store/minimise.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import aliased

from signaling.store.database import Database
from signaling.store.models import Call, CallEvent, CallQualityRow

_SURVEY = aliased(CallEvent)

COLUMNS = (
    "call_id",
    "kiosk_id",
    "topic",
    "language",
    "created_at",
    "answered_at",
    "ended_at",
    "state",
    "end_reason",
    "wait_s",
    "talk_s",
    "agent",
    "disposition",
    "quality_samples",
    "mos_mean",
    "mos_min",
    "video_mean",
    "video_min",
    "rating",
    "comment",
)
"""The report's columns, in order. ``state`` is the call's terminal state (or where it stands, for a call
not ended yet); ``wait_s`` runs from the help request to the answer (or, unanswered, to the end);
``talk_s`` from the answer to the end. Quality columns are empty for a call without stats samples;
``rating`` (1-5) and ``comment`` for a call without a survey."""
BATCH = 500


def _query(since: datetime, until: datetime) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Call.id,
            Call.kiosk_id,
            Call.topic,
            Call.language,
            Call.created_at,
            Call.answered_at,
            Call.ended_at,
            Call.state,
            Call.end_reason,
            Call.agent,
            Call.disposition,
            CallQualityRow.samples,
            CallQualityRow.mos_mean,
            CallQualityRow.mos_min,
            CallQualityRow.video_mean,
            CallQualityRow.video_min,
            _SURVEY.detail,
        )
        .outerjoin(CallQualityRow, CallQualityRow.call_id == Call.id)
        .outerjoin(_SURVEY, and_(_SURVEY.call_id == Call.id, _SURVEY.kind == "survey"))
        .where(Call.created_at >= since, Call.created_at < until)
        .order_by(Call.created_at, Call.id)
    )


async def count_calls(db: Database, since: datetime, until: datetime) -> int:
    query = select(func.count()).select_from(Call).where(Call.created_at >= since, Call.created_at < until)
    async with db.session(readonly=True) as session:
        return int(await session.scalar(query) or 0)


async def call_rows(db: Database, since: datetime, until: datetime) -> AsyncIterator[dict[str, Any]]:
    """One dict per call created in [since, until), oldest first, keyed by ``COLUMNS``."""
    query = _query(since, until).execution_options(yield_per=BATCH)
    async with db.session(readonly=True) as session:
        async for row in await session.stream(query):
            yield _row(row)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 1)


def _score(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _row(row: Any) -> dict[str, Any]:
    (call_id, kiosk_id, topic, language, created, answered, ended, state, reason, agent, disposition,
     samples, mos_mean, mos_min, video_mean, video_min, survey) = row  # fmt: skip
    rating, comment = _survey(survey)
    return {
        "call_id": call_id,
        "kiosk_id": kiosk_id,
        "topic": topic,
        "language": language,
        "created_at": created,
        "answered_at": answered,
        "ended_at": ended,
        "state": state,
        "end_reason": reason,
        "wait_s": _seconds(created, answered if answered is not None else ended),
        "talk_s": _seconds(answered, ended),
        "agent": agent,
        "disposition": disposition,
        "quality_samples": samples,
        "mos_mean": _score(mos_mean),
        "mos_min": _score(mos_min),
        "video_mean": _score(video_mean),
        "video_min": _score(video_min),
        "rating": rating,
        "comment": comment,
    }


def _survey(detail: Any) -> tuple[int | None, str | None]:
    """A survey event's rating and comment (None, None: no survey; the comment None if not kept)."""
    if not isinstance(detail, dict):
        return None, None
    rating = str(detail.get("rating", ""))
    comment = detail.get("comment")
    return (int(rating) if rating.isdigit() else None), (comment if isinstance(comment, str) else None)
