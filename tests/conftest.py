"""Real services for the tests: Redis (the local server, or an embedded one) and a server per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis as redis_sync

from signaling.settings import Settings
from tests.media.media_test_support import AlsaSandbox
from tests.support import RunningServer, forget_prefix, free_port, running_server, scratch_postgres_database

LOCAL_REDIS = "redis://127.0.0.1:6379/13"


def _redis_answers(url: str) -> bool:
    try:
        client = redis_sync.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis_sync.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The local Redis when one answers, else a real redis-server started for the session."""
    if _redis_answers(LOCAL_REDIS):
        yield LOCAL_REDIS
        return
    import asyncio

    from signaling.embedded_redis import EmbeddedRedis

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(EmbeddedRedis.start(tmp_path_factory.mktemp("redis")))
    try:
        yield server.url
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own (so runs can share a Redis); its keys are deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    forget_prefix(redis_url, prefix)


@pytest.fixture
def redis_env(redis_url: str, redis_prefix: str) -> dict[str, str]:
    """Environment for a server process on the test's Redis and prefix."""
    return {"KIOSK_ASSIST_REDIS_URL": redis_url, "KIOSK_ASSIST_REDIS_PREFIX": redis_prefix}


@pytest.fixture
def settings(redis_url: str, redis_prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        port=free_port(), data_dir=tmp_path / "data", redis_url=redis_url, redis_prefix=redis_prefix
    )


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[RunningServer]:
    async with running_server(settings) as running:
        yield running


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database of this test's own (the test is skipped when none answers)."""
    async with scratch_postgres_database() as url:
        yield url


@pytest.fixture
def alsa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlsaSandbox:
    """File-backed ALSA devices for this test only (PyAV's bundled alsa-lib reads ALSA_CONFIG_PATH on
    every open and reloads when it names other files)."""
    sandbox = AlsaSandbox.create(tmp_path / "alsa")
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(sandbox.config))
    return sandbox
