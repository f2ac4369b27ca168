"""The dashboard's live picture: the fleet, the live calls with their quality, the queue board, the
service level and the open alerts, composed into one snapshot.

Every stream on this server shares one snapshot: it is composed at most once per ``fresh_s`` however many
dashboards are open, and encoded once, as the Server-Sent Event each stream writes
(``signaling/handlers/dashboard_api.py``). The parts come from their owners: ``services.fleet``,
``services.quality``, ``services.alerts``, ``services.service_level`` and the queue board
(``signaling/queue_board.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from signaling.alerts import Alerts
from signaling.fleet import Fleet
from signaling.quality import CallQuality
from signaling.queue_board import queue_board
from signaling.routing.engine import RoutingEngine, now_ms
from signaling.service_level import ServiceLevels
from signaling.settings import Settings

log = logging.getLogger(__name__)

SNAPSHOT_EVERY_S = 1.5
"""How often each stream sends a snapshot."""
SERVICE_LEVEL_WINDOW_S = 3600
"""The dashboard's service level covers the calls of the last hour."""
UNAVAILABLE = b'event: unavailable\ndata: {"message": "the service cannot read its live state just now"}\n\n'
"""Sent instead of a snapshot while Redis or the database does not answer (the page shows its data as
stale; the stream goes on)."""


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent Event: its name and its data as one line of JSON (which escapes every newline)."""
    return b"event: " + event.encode() + b"\ndata: " + msgspec.json.encode(data) + b"\n\n"


class DashboardFeed:
    """``services.dashboard``: the latest snapshot, shared by every dashboard stream of this process."""

    def __init__(
        self,
        engine: RoutingEngine,
        settings: Settings,
        fleet: Fleet,
        quality: CallQuality,
        alerts: Alerts,
        service_level: ServiceLevels,
        fresh_s: float = SNAPSHOT_EVERY_S / 2,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._fleet = fleet
        self._quality = quality
        self._alerts = alerts
        self._service_level = service_level
        self._fresh_s = fresh_s
        self._lock = asyncio.Lock()
        self._latest: tuple[float, bytes] | None = None

    async def event(self) -> bytes:
        """The current snapshot as an SSE ``snapshot`` event (or ``unavailable``), composed at most once
        per ``fresh_s`` for all streams."""
        async with self._lock:
            if self._latest is not None and time.monotonic() - self._latest[0] < self._fresh_s:
                return self._latest[1]
            try:
                encoded = sse("snapshot", await self.snapshot())
            except (RedisError, SQLAlchemyError, OSError) as exc:
                log.warning("dashboard snapshot unavailable: %s", exc)
                encoded = UNAVAILABLE
            self._latest = (time.monotonic(), encoded)
            return encoded

    async def snapshot(self) -> dict[str, Any]:
        """{at_ms, fleet, calls, queues, service_level, alerts, limits}."""
        # one part after another: each is a read or two, and a failing one leaves nothing running behind
        fleet = await self._fleet.kiosks()
        calls = await self._quality.live_calls()
        queues = await queue_board(self._engine, self._settings)
        level = await self._service_level.current(SERVICE_LEVEL_WINDOW_S)
        alerts = await self._alerts.open()
        return {
            "at_ms": now_ms(),
            "fleet": fleet,
            "calls": calls,
            "queues": queues,
            "service_level": level,
            "alerts": alerts,
            "limits": self.limits(),
        }

    def limits(self) -> dict[str, float]:
        """The thresholds the page draws its bands and colours from (the same the server alerts on)."""
        s = self._settings
        return {
            "poor_mos": s.quality_poor_mos,
            "poor_video": s.quality_poor_video,
            "offline_after_s": s.kiosk_presence_ttl_s,
            "service_level_target_s": s.service_level_target_s,
        }
