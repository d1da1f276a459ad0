# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Failed Device ID checks, counted per conversation, client address and overall.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

The action server and the Rasa process (the label-photo reader) both check Device IDs, so the
count that limits registry enumeration lives in the database they share.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_id_check_failures",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "scope", "subject_hash", "bucket_start", name=op.f("pk_device_id_check_failures")
        ),
    )
    op.create_index(
        op.f("ix_device_id_check_failures_bucket_start"),
        "device_id_check_failures",
        ["bucket_start"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_device_id_check_failures_bucket_start"), table_name="device_id_check_failures"
    )
    op.drop_table("device_id_check_failures")
