# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""An audit event's actor holds any agent's name.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

An agent's actor is ``agent:`` and a username of up to 64 characters, 70 in all; the column held
64, so PostgreSQL refused every move by an agent with a long username (SQLite never checks).
Downgrading fails on PostgreSQL while a longer actor is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.alter_column(
            "actor", existing_type=sa.String(length=64), type_=sa.String(length=80),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.alter_column(
            "actor", existing_type=sa.String(length=80), type_=sa.String(length=64),
            existing_nullable=False,
        )
