"""The application factory and the process's resource lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from signaling.background import start_background
from signaling.embedded_redis import EmbeddedRedis
from signaling.errors import StartupError
from signaling.handlers.csrf import csrf_protection
from signaling.handlers.forwarded import forwarded_proto_middleware
from signaling.handlers.problems import problem_middleware
from signaling.handlers.security_headers import security_headers
from signaling.redis_connect import RedisURLError, describe, redis_from_url
from signaling.routes import setup_routes
from signaling.services import SERVICES, Services
from signaling.settings import Settings
from signaling.store import Database

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)


def _where(url: str) -> str:
    """host:port of a URL, for messages (never its credentials)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.hostname else parts.scheme


SHUTDOWN_GRACE_S = 5.0


@contextlib.asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[tuple[Redis, str]]:
    embedded = None
    url = settings.redis_url
    if url is None:
        embedded = await EmbeddedRedis.start(settings.data_dir / "redis")
        url = embedded.url
    try:
        try:
            # a blocking pool: a burst of commands waits for a free connection instead of failing at once
            redis = redis_from_url(url)
        except RedisURLError as exc:
            raise StartupError(str(exc)) from None
        try:
            try:
                await redis.ping()
            except (OSError, RedisError) as exc:
                raise StartupError(f"cannot reach Redis ({describe(url)}): {exc}") from None
            yield redis, url
        finally:
            await redis.aclose()
    finally:
        if embedded is not None:
            await embedded.stop()


async def services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with _redis(settings) as (redis, redis_url):
        db = await Database.connect(settings.effective_database_url)
        try:
            if not await db.ping():
                raise StartupError(f"cannot reach the database ({db.dialect}); check --database-url")
            await db.migrate()
            services = Services.build(settings, redis, db, redis_url)
            app[SERVICES] = services
            await services.engine.publish_config()
            # a Redis that came back empty (restarted without persistence) needs the routing rules again
            services.delivery.on_resubscribed.append(services.engine.publish_config)
            await services.delivery.start()
            tasks: set[asyncio.Task[None]] = set()
            start_background(services, tasks)
            # what start-up made lives as long as the process: keep it out of the collector's full scans,
            # which otherwise pause the event loop for milliseconds
            gc.collect()
            gc.freeze()
            log.info("server ready (database: %s)", db.dialect)
            yield
            for task in list(tasks):
                task.cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SHUTDOWN_GRACE_S):
                    await asyncio.gather(*tasks, return_exceptions=True)
            await services.delivery.stop()
            await services.engine.aclose()
        finally:
            await db.close()


async def drain(app: web.Application) -> None:
    """First step of shutdown (before handlers are cancelled): tell clients to reconnect elsewhere, and
    keep their calls, queue places and reservations for them."""
    services = app.get(SERVICES)
    if services is not None:
        services.draining = True
        services.connections.close_all(WSCloseCode.GOING_AWAY, "server restarting; reconnect")


def create_app(settings: Settings) -> web.Application:
    # outermost first: the client's scheme (behind a trusted proxy), errors as problems, then CSRF checks
    middlewares = [problem_middleware, csrf_protection(settings)]
    if settings.trust_forwarded_proto:
        middlewares.insert(0, forwarded_proto_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=256 * 1024)
    app[SETTINGS] = settings
    app.on_response_prepare.append(security_headers(settings))
    app.cleanup_ctx.append(services_ctx)
    app.on_shutdown.append(drain)
    setup_routes(app)
    return app
