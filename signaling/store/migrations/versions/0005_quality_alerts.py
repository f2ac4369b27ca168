"""Alerts raised for IT (kept when raised and when cleared) and each call's quality summary.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(
        postgresql.TIMESTAMP(timezone=True, precision=3), "postgresql"
    )


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("kiosk_id", sa.String(64), nullable=True),
        sa.Column("raised_at", _timestamp(), nullable=False),
        sa.Column("cleared_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    for column in ("key", "call_id", "kiosk_id", "raised_at"):
        op.create_index(f"ix_alerts_{column}", "alerts", [column])
    op.create_table(
        "call_quality",
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("mos_mean", sa.Float(), nullable=True),
        sa.Column("mos_min", sa.Float(), nullable=True),
        sa.Column("video_mean", sa.Float(), nullable=True),
        sa.Column("video_min", sa.Float(), nullable=True),
        sa.Column("rtt_mean_ms", sa.Float(), nullable=True),
        sa.Column("loss_max_pct", sa.Float(), nullable=True),
        sa.Column("candidate_types", _json(), nullable=False),
        sa.Column("first_at", _timestamp(), nullable=True),
        sa.Column("last_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("call_id", name="pk_call_quality"),
    )


def downgrade() -> None:
    op.drop_table("call_quality")
    for column in ("raised_at", "kiosk_id", "call_id", "key"):
        op.drop_index(f"ix_alerts_{column}", table_name="alerts")
    op.drop_table("alerts")
