from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from signaling.store import Database, User, add_user, get_user, migrate
from signaling.store.models import Base
from signaling.store.schema import current_revision, head_revision

TABLES = {
    "alembic_version", "users", "kiosks", "calls", "call_events", "audit_log", "audit_anchor", "alerts",
    "call_quality",
}  # fmt: skip


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migrate_creates_the_schema_and_records_the_head_revision(empty_database_url: str) -> None:
    db = await Database.connect(empty_database_url)
    try:
        assert await current_revision(db.engine) is None
        await migrate(empty_database_url)
        assert await _tables(db) == TABLES
        assert await current_revision(db.engine) == head_revision() == "0006"
    finally:
        await db.close()


async def test_migrating_again_changes_nothing_and_keeps_data(db: Database) -> None:
    await add_user(db, "alice", "correct horse", "agent")

    await db.migrate()
    await migrate(db.engine.url.render_as_string(hide_password=False))

    assert await current_revision(db.engine) == head_revision()
    user = await get_user(db, "alice")
    assert user is not None
    assert user.role == "agent"


async def test_two_processes_migrating_at_once_both_succeed(empty_database_url: str) -> None:
    first, second = await Database.connect(empty_database_url), await Database.connect(empty_database_url)
    try:
        await asyncio.wait_for(asyncio.gather(first.migrate(), second.migrate()), 20)
        assert await current_revision(first.engine) == head_revision()
        assert await _tables(second) == TABLES
    finally:
        await first.close()
        await second.close()


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_hand_written_migration_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_timestamps_come_back_as_utc_to_the_millisecond(db: Database) -> None:
    local = timezone(timedelta(hours=2))
    written = datetime(2024, 5, 6, 9, 30, 15, 123456, tzinfo=local)
    async with db.session() as session:
        session.add(User(username="tz", password_hash="x", role="agent", created_at=written))

    async with db.session(readonly=True) as session:
        read = await session.scalar(select(User.created_at).where(User.username == "tz"))

    assert read == datetime(2024, 5, 6, 7, 30, 15, 123000, tzinfo=UTC)
    assert read is not None
    assert read.utcoffset() == timedelta(0)


async def test_ping_answers_true_for_a_live_database(db: Database) -> None:
    assert await db.ping() is True


async def test_ping_answers_false_when_the_server_is_unreachable() -> None:
    db = await Database.connect("postgresql://postgres@127.0.0.1:1/nothing")
    try:
        assert await db.ping() is False
    finally:
        await db.close()


async def test_close_twice_is_harmless(database_url: str) -> None:
    db = await Database.connect(database_url)
    assert await db.ping()
    await db.close()
    await db.close()


async def test_sqlite_makes_its_folder_and_runs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "store.sqlite3"
    db = await Database.connect(f"sqlite:///{path}")
    try:
        await db.migrate()
        async with db.engine.connect() as connection:
            journal = await connection.scalar(text("PRAGMA journal_mode"))
            foreign_keys = await connection.scalar(text("PRAGMA foreign_keys"))
        assert path.exists()
        assert (journal, foreign_keys) == ("wal", 1)
    finally:
        await db.close()


async def test_readers_are_not_held_up_by_an_open_write_transaction(db: Database) -> None:
    await add_user(db, "reader", "pw", "agent")
    async with db.session() as writer:
        writer.add(User(username="pending", password_hash="x", role="agent"))
        await writer.flush()

        user = await asyncio.wait_for(get_user(db, "reader"), 2)

        assert user is not None
        assert await asyncio.wait_for(get_user(db, "pending"), 2) is None
