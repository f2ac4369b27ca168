"""The store's handle on its database: engine, sessions, health check, migrations."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from signaling.store import schema
from signaling.store.engine import READONLY, make_engine

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 2.0
CLOSE_TIMEOUT_S = 10.0


class Database:
    """An async engine plus session factories; create with :meth:`connect`, end with :meth:`close`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        reader = engine.execution_options(**{READONLY: True, "postgresql_readonly": True})
        self._readonly_sessions = async_sessionmaker(reader, expire_on_commit=False)
        self._closed = False

    @classmethod
    async def connect(cls, url: str) -> Database:
        """A handle on ``url``; connections are opened lazily, so a database that is down fails later."""
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Bring the schema up to date (idempotent; safe when several processes start together)."""
        await schema.upgrade(self.engine)

    async def ping(self) -> bool:
        """Whether the database answers ``SELECT 1`` within ``PING_TIMEOUT_S`` seconds."""
        try:
            async with asyncio.timeout(PING_TIMEOUT_S), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (TimeoutError, OSError, SQLAlchemyError) as exc:
            log.warning("database ping failed: %r", exc)
            return False
        return True

    @asynccontextmanager
    async def session(self, *, readonly: bool = False) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed when the block ends, rolled back if it raises.

        ``readonly=True`` for transactions that only read: they run beside writers instead of queuing
        for SQLite's write lock (and PostgreSQL enforces it with ``READ ONLY``).
        """
        factory = self._readonly_sessions if readonly else self._sessions
        async with factory() as session, session.begin():
            yield session

    async def close(self) -> None:
        """Close every pooled connection; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await self.engine.dispose()
