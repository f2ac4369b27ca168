"""Durable records for IT: alerts as raised and cleared, and each call's quality aggregated when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from signaling.store.database import Database
from signaling.store.models import AlertRow, CallQualityRow


@dataclass(frozen=True)
class AlertRecord:
    alert_id: str
    key: str
    kind: str
    severity: str
    message: str
    call_id: str | None
    kiosk_id: str | None
    raised_at: datetime
    cleared_at: datetime | None = None


@dataclass(frozen=True)
class CallQualitySummary:
    """One call's quality over all its samples (None where no sample carried the figure)."""

    call_id: str
    samples: int
    mos_mean: float | None
    mos_min: float | None
    video_mean: float | None
    video_min: float | None
    rtt_mean_ms: float | None
    loss_max_pct: float | None
    candidate_types: list[str]
    first_at: datetime | None
    last_at: datetime | None


async def record_alert_raised(db: Database, alert: AlertRecord) -> None:
    async with db.session() as session:
        session.add(
            AlertRow(
                id=alert.alert_id,
                key=alert.key,
                kind=alert.kind,
                severity=alert.severity,
                message=alert.message,
                call_id=alert.call_id,
                kiosk_id=alert.kiosk_id,
                raised_at=alert.raised_at,
            )
        )


async def record_alert_cleared(db: Database, alert_id: str, at: datetime) -> None:
    async with db.session() as session:
        await session.execute(update(AlertRow).where(AlertRow.id == alert_id).values(cleared_at=at))


async def alerts_for_call(db: Database, call_id: str) -> list[AlertRecord]:
    """Every alert raised for ``call_id``, oldest first."""
    query = select(AlertRow).where(AlertRow.call_id == call_id).order_by(AlertRow.raised_at, AlertRow.id)
    async with db.session(readonly=True) as session:
        return [_alert(row) for row in await session.scalars(query)]


async def save_call_quality(db: Database, summary: CallQualitySummary) -> None:
    """Store (or replace: a call's end may be reported by both parties) one call's quality summary."""
    async with db.session() as session:
        await session.merge(CallQualityRow(**_values(summary)))


async def get_call_quality(db: Database, call_id: str) -> CallQualitySummary | None:
    async with db.session(readonly=True) as session:
        row = await session.get(CallQualityRow, call_id)
        if row is None:
            return None
        return CallQualitySummary(**{name: getattr(row, name) for name in _values_names()})


def _alert(row: AlertRow) -> AlertRecord:
    return AlertRecord(
        alert_id=row.id,
        key=row.key,
        kind=row.kind,
        severity=row.severity,
        message=row.message,
        call_id=row.call_id,
        kiosk_id=row.kiosk_id,
        raised_at=row.raised_at,
        cleared_at=row.cleared_at,
    )


def _values_names() -> tuple[str, ...]:
    return tuple(CallQualitySummary.__dataclass_fields__)


def _values(summary: CallQualitySummary) -> dict[str, Any]:
    return {name: getattr(summary, name) for name in _values_names()}
