"""Creating the async engine: URL normalisation and the SQLite settings a server needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from signaling.settings import normalise_database_url

SQLITE_BUSY_TIMEOUT_MS = 5000
READONLY = "ka_readonly"
"""Execution option: the transaction only reads (SQLite ``BEGIN DEFERRED``, PostgreSQL ``READ ONLY``)."""


def make_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (``postgresql://`` and ``sqlite:///`` pick their asyncio drivers).
    Its errors never quote the values of a statement (passwords' hashes, customer context) into logs."""
    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, emit BEGIN (see _sqlite_on_begin); the driver's own handling starts
    # transactions late and commits before DDL, which would make migrations non-transactional.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    # A transaction that reads and then writes cannot wait for the write lock in WAL mode: SQLite fails at
    # once with SQLITE_BUSY when another writer committed meanwhile. Writers therefore take the lock up
    # front (IMMEDIATE, which honours busy_timeout); read-only transactions stay DEFERRED and never block.
    readonly = connection.get_execution_options().get(READONLY, False)
    connection.exec_driver_sql("BEGIN DEFERRED" if readonly else "BEGIN IMMEDIATE")
