"""``/healthz`` (process alive), ``/readyz`` (Redis and the database answer, messages from other processes
arrive, and the process is not shutting down), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

from signaling import metrics_sources
from signaling.services import SERVICES

PROBE_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _redis_ok(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            return bool(await request.app[SERVICES].redis.ping())
    except (OSError, RedisError, TimeoutError):
        return False


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    redis_ok = await _redis_ok(request)
    db_ok = await services.db.ping()
    delivery_ok = services.delivery.subscribed
    ready = redis_ok and db_ok and delivery_ok and not services.draining
    body = {
        "status": "ready" if ready else "draining" if services.draining else "not_ready",
        "redis": redis_ok,
        "database": db_ok,
        "delivery": delivery_ok,
    }
    return web.json_response(body, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    await metrics_sources.refresh(services)  # the fleet-wide gauges, read from Redis now
    body = services.metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
