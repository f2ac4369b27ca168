"""The ``it`` staff role: IT staff read the dashboard, the kiosk fleet and the monitoring APIs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROLES_BEFORE = "role IN ('agent', 'supervisor', 'admin')"
_ROLES_AFTER = "role IN ('agent', 'supervisor', 'admin', 'it')"


def upgrade() -> None:
    _replace_role_check(_ROLES_AFTER)


def downgrade() -> None:
    op.execute("UPDATE users SET role = 'supervisor' WHERE role = 'it'")
    _replace_role_check(_ROLES_BEFORE)


def _replace_role_check(condition: str) -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("ck_users_role", type_="check")
        batch.create_check_constraint(op.f("ck_users_role"), condition)
