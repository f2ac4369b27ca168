"""Alerts for IT: raised by whatever watches the service (call quality, the kiosk fleet), cleared when the
condition ends.

An alert is identified by a key its raiser chooses (``quality:<call_id>``, ``kiosk_offline:<kiosk_id>``):
raising an open key again changes nothing, so every server may raise and clear freely. Open alerts live in
Redis (one hash, shared by all servers); each is also written to the database when raised and when
cleared (``signaling/store/quality.py``), so the history keeps them after they close.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Literal

from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from signaling.metrics import Metrics
from signaling.routing.keys import Keys
from signaling.store.database import Database
from signaling.store.quality import AlertRecord, record_alert_cleared, record_alert_raised

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]


def _script(name: str) -> str:
    return (resources.files("signaling") / "lua" / f"{name}.lua").read_text()


class Alerts:
    """The open alerts of the whole service (any server may raise, clear and list them)."""

    def __init__(self, redis: Redis, keys: Keys, db: Database, metrics: Metrics | None = None) -> None:
        self._redis = redis
        self._key = keys.alerts
        self._db = db
        self._metrics = metrics
        self._clear = redis.register_script(_script("alert_clear"))

    async def raise_(
        self,
        key: str,
        kind: str,
        severity: Severity | str,
        message: str,
        call_id: str | None = None,
        kiosk_id: str | None = None,
    ) -> bool:
        """Open the alert ``key`` unless it is open already; True when this call opened it."""
        now_ms = int(time.time() * 1000)
        alert = {
            "alert_id": uuid.uuid4().hex,
            "key": key,
            "kind": kind,
            "severity": severity,
            "call_id": call_id,
            "kiosk_id": kiosk_id,
            "since_ms": now_ms,
            "message": message,
        }
        if not await self._redis.hsetnx(self._key, key, json.dumps(alert)):
            return False
        log.warning("alert raised: %s (%s) %s", key, severity, message)
        await self._store(record_alert_raised(self._db, _record(alert)), key)
        await self._count()
        return True

    async def clear(self, key: str) -> bool:
        """Close the alert ``key``; True when it was open (and this call closed it)."""
        raw = await self._clear(keys=[self._key], args=[key])
        if raw is None:
            return False
        alert = json.loads(raw)
        log.info("alert cleared: %s", key)
        await self._store(record_alert_cleared(self._db, alert["alert_id"], datetime.now(UTC)), key)
        await self._count()
        return True

    async def open(self) -> list[dict[str, Any]]:
        """The open alerts, oldest first: {alert_id, kind, severity, call_id, kiosk_id, since_ms, message}."""
        raw = await self._redis.hvals(self._key)
        alerts = [json.loads(value) for value in raw]
        alerts.sort(key=lambda alert: (alert["since_ms"], alert["alert_id"]))
        return alerts

    async def is_open(self, key: str) -> bool:
        return bool(await self._redis.hexists(self._key, key))

    async def _store(self, write: Awaitable[None], key: str) -> None:
        """The database write of a raise or a clear; the open alert in Redis stands even if it fails."""
        try:
            await write
        except (SQLAlchemyError, OSError):
            log.exception("alert %s could not be written to the history", key)

    async def _count(self) -> None:
        if self._metrics is None:
            return
        by_kind: dict[str, int] = {}
        for alert in await self.open():
            by_kind[alert["kind"]] = by_kind.get(alert["kind"], 0) + 1
        gauge = self._metrics.alerts_open
        gauge.clear()
        for kind, count in by_kind.items():
            gauge.labels(kind=kind).set(count)


def _record(alert: dict[str, Any]) -> AlertRecord:
    return AlertRecord(
        alert_id=alert["alert_id"],
        key=alert["key"],
        kind=alert["kind"],
        severity=alert["severity"],
        message=alert["message"],
        call_id=alert["call_id"],
        kiosk_id=alert["kiosk_id"],
        raised_at=datetime.fromtimestamp(alert["since_ms"] / 1000, UTC),
    )
