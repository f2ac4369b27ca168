"""Alembic environment for the Kiosk Assist store.

``signaling.store.schema`` runs the migrations with its own connection (``config.attributes["connection"]``,
already inside a transaction). Run from the ``alembic`` command line, this file makes an async engine from
``sqlalchemy.url`` and drives the same code through ``connection.run_sync``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from signaling.store.engine import make_engine
from signaling.store.models import Base

target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_with)
    finally:
        await engine.dispose()


def run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given = context.config.attributes.get("connection")
    url = context.config.get_main_option("sqlalchemy.url") or ""
    if context.is_offline_mode():
        run_offline(url)
    elif isinstance(given, Connection):
        run_with(given)
    else:
        asyncio.run(run_async(url))


main()
