"""Real databases for the store tests: a fresh SQLite file per test, and PostgreSQL.

PostgreSQL databases take a few hundred milliseconds to create, so tests share one migrated database
(emptied before each test), and only the tests that need a brand-new one (``empty_database_url``) get it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import text

from signaling.store import Database, migrate
from tests.support import scratch_postgres_database

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
TABLES = ("call_events", "calls", "kiosks", "users", "audit_log", "audit_anchor", "alerts", "call_quality")


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
