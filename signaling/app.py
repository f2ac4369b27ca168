"""The application factory and the process's resource lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web
from redis.asyncio import Redis

from signaling.background import start_background
from signaling.embedded_redis import EmbeddedRedis
from signaling.handlers.problems import problem_middleware
from signaling.routes import setup_routes
from signaling.services import SERVICES, Services
from signaling.settings import Settings
from signaling.store import Database

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SHUTDOWN_GRACE_S = 5.0


@contextlib.asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Redis]:
    embedded = None
    url = settings.redis_url
    if url is None:
        embedded = await EmbeddedRedis.start(settings.data_dir / "redis")
        url = embedded.url
    redis: Redis = Redis.from_url(url, health_check_interval=10, socket_keepalive=True)
    try:
        await redis.ping()
        yield redis
    finally:
        await redis.aclose()
        if embedded is not None:
            await embedded.stop()


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with _redis(settings) as redis:
        db = await Database.connect(settings.effective_database_url)
        try:
            await db.migrate()
            services = Services.build(settings, redis, db)
            app[SERVICES] = services
            await services.delivery.start()
            tasks: set[asyncio.Task[None]] = set()
            start_background(services, tasks)
            log.info("server ready (database: %s)", db.dialect)
            yield
            services.connections.close_all(WSCloseCode.GOING_AWAY, "server shutting down")
            for task in list(tasks):
                task.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_GRACE_S):
                    await asyncio.gather(*tasks, return_exceptions=True)
            await services.delivery.stop()
        finally:
            await db.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[problem_middleware], client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(services_ctx)
    setup_routes(app)
    return app
