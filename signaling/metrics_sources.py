"""Where the metrics' values come from, beyond the counters and histograms handlers update as things happen.

Two kinds of gauge, told apart by their help text:

- **Fleet-wide** (agents by state, kiosks by status, open alerts, queue depth): read from Redis (through
  the routing engine and the fleet and alert services; the fleet adds the enrolled kiosks from the
  database) when ``/metrics`` is scraped. Every server process reports the same whole-fleet value, so a
  dashboard aggregates them across instances with ``max`` — never ``sum``, which would count the fleet
  once per process. A per-process gauge updated as events pass would be wrong for these: each process
  sees only its own sockets.
- **Per process** (WebSocket connections, Redis latency): this process's own; ``sum`` across instances.

The Redis latency histogram is fed by a periodic PING (:func:`probe_redis`, a background loop), so it
moves even when no traffic flows. If Redis or the database does not answer at scrape time, the
fleet-wide gauges keep their last values and ``/metrics`` still answers (``/readyz`` reports the outage).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import Gauge
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from signaling.protocol import AgentState

if TYPE_CHECKING:
    from signaling.services import Services

log = logging.getLogger(__name__)

AGENT_STATES = tuple(state.value for state in AgentState)
KIOSK_STATUSES = ("online", "offline", "degraded")
CONNECTION_KINDS = ("kiosk", "agent")
MAX_ALERT_KINDS = 32
"""Alert kinds are a fixed vocabulary of the code; past this many, the rest count as ``other``."""
SCRAPE_TIMEOUT_S = 2.0
PROBE_TIMEOUT_S = 2.0


async def refresh(services: Services) -> None:
    """Bring the scrape-time gauges up to date (called by the ``/metrics`` handler before rendering)."""
    metrics = services.metrics
    for kind in CONNECTION_KINDS:
        metrics.websocket_connections.labels(kind).set(services.connections.count(kind))
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT_S):
            await _refresh_fleet_wide(services)
    except (RedisError, SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("metrics: fleet-wide gauges not refreshed (%s)", type(exc).__name__)


async def _refresh_fleet_wide(services: Services) -> None:
    metrics = services.metrics
    for topic, depth in (await services.engine.queue_depths(services.settings.topics)).items():
        metrics.queue_depth.labels(topic).set(depth)
    _set_all(metrics.agents_by_state, AGENT_STATES, await services.engine.agents_by_state())
    kiosks = await services.fleet.kiosks()
    _set_all(metrics.kiosks_by_status, KIOSK_STATUSES, _count(k.get("status", "offline") for k in kiosks))
    counts = _bounded(_count(a.get("kind", "other") for a in await services.alerts.open()))
    metrics.alert_kinds_seen.update(counts)
    _set_all(metrics.alerts_open, sorted(metrics.alert_kinds_seen), counts)


async def probe_redis(services: Services) -> None:
    """Time one PING; a PING that times out counts with the time waited (the slow tail shows outages)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            await services.redis.ping()
    except TimeoutError:
        services.metrics.redis_latency_seconds.observe(time.perf_counter() - started)
        raise
    services.metrics.redis_latency_seconds.observe(time.perf_counter() - started)


def _set_all(gauge: Gauge, labels: Iterable[str], counts: dict[str, int]) -> None:
    """Every label of the fixed set gets a value (0 when absent), so a series never just vanishes."""
    for label in labels:
        gauge.labels(label).set(counts.get(label, 0))


def _count(values: Iterable[object]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


def _bounded(counts: dict[str, int]) -> dict[str, int]:
    if len(counts) <= MAX_ALERT_KINDS:
        return counts
    kept = dict(sorted(counts.items())[: MAX_ALERT_KINDS - 1])
    kept["other"] = sum(counts.values()) - sum(kept.values())
    return kept
