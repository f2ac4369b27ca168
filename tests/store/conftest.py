"""Real databases for the store tests: a fresh SQLite file per test, and PostgreSQL.

PostgreSQL databases take a few hundred milliseconds to create, so tests share one migrated database
(emptied before each test), and only the tests that need a brand-new one (``empty_database_url``) get it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.engine import make_url

from signaling.store import Database, migrate

POSTGRES_URL = os.environ.get("KIOSK_ASSIST_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
TABLES = ("call_events", "calls", "kiosks", "users")


@asynccontextmanager
async def scratch_postgres_database(server_url: str = POSTGRES_URL) -> AsyncIterator[str]:
    """A URL to a new, empty database on the server of ``server_url``; dropped afterwards."""
    url = make_url(server_url).set(drivername="postgresql")
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(maintenance, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is unreachable at {url.render_as_string()}: {exc!r}")
    name = f"ka_store_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_postgres_url() -> AsyncIterator[str]:
    async with scratch_postgres_database() as url:
        await migrate(url)
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to a database for this test: a new SQLite file (folder not made yet), or the shared one."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/data/kiosk-assist.sqlite3"
    return str(request.getfixturevalue("shared_postgres_url"))


@pytest.fixture
async def empty_database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to a database nothing has touched yet (no tables, no migration)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/data/kiosk-assist.sqlite3"
        return
    async with scratch_postgres_database() as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database with empty tables, closed after the test."""
    database = await Database.connect(database_url)
    try:
        await database.migrate()
        async with database.session() as session:
            if database.dialect == "postgresql":
                await session.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
            else:
                for table in TABLES:
                    await session.execute(text(f"DELETE FROM {table}"))
        yield database
    finally:
        await database.close()
