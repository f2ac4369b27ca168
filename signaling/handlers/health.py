"""``/healthz`` (process alive), ``/readyz`` (Redis and the database answer), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError

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
    redis_ok = await _redis_ok(request)
    db_ok = await request.app[SERVICES].db.ping()
    ready = redis_ok and db_ok
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "redis": redis_ok, "database": db_ok},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    depths = await services.engine.queue_depths(services.settings.topics)
    for topic, depth in depths.items():
        services.metrics.queue_depth.labels(topic).set(depth)
    body = services.metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
