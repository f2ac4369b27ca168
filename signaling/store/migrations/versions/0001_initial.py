"""Initial schema: users, kiosks, calls, call_events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    # timestamptz(3) on PostgreSQL; SQLite keeps UTC text (the models' UtcDateTime does the conversion).
    return sa.DateTime(timezone=True).with_variant(
        postgresql.TIMESTAMP(timezone=True, precision=3), "postgresql"
    )


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("skills", _json(), nullable=False),
        sa.Column("languages", _json(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="ck_users_role"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "kiosks",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_kiosks"),
    )
    _create_calls()
    _create_call_events()


def _create_calls() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kiosk_id", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("context", _json(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(64), nullable=True),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("queued_at", _timestamp(), nullable=True),
        sa.Column("offered_at", _timestamp(), nullable=True),
        sa.Column("answered_at", _timestamp(), nullable=True),
        sa.Column("ended_at", _timestamp(), nullable=True),
        sa.Column("wrapped_up_at", _timestamp(), nullable=True),
        sa.Column("disposition", sa.String(64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_kiosk_id", "calls", ["kiosk_id"])
    op.create_index("ix_calls_agent", "calls", ["agent"])
    op.create_index("ix_calls_created_at", "calls", ["created_at"])


def _create_call_events() -> None:
    op.create_table(
        "call_events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("agent", sa.String(64), nullable=True),
        sa.Column("detail", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name="fk_call_events_call_id_calls", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_call_events"),
        sa.UniqueConstraint("event_id", name="uq_call_events_event_id"),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])


def downgrade() -> None:
    op.drop_table("call_events")
    op.drop_table("calls")
    op.drop_table("kiosks")
    op.drop_table("users")
