"""Identities: a session generation per staff account, and when each kiosk's secret was last rotated.

Raising ``users.session_generation`` ends every session the account holds (sessions carry the generation
they were made in); ``kiosks.rotated_at`` is shown by ``kiosk-assist kiosks list``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
    with op.batch_alter_table("kiosks") as batch:
        batch.add_column(
            sa.Column(
                "rotated_at",
                sa.DateTime(timezone=True).with_variant(
                    postgresql.TIMESTAMP(timezone=True, precision=3), "postgresql"
                ),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("kiosks") as batch:
        batch.drop_column("rotated_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_generation")
