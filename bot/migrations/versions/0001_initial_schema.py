# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Initial schema: the device registry, support cases and their audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Written from autogenerate's output and reviewed by hand: timestamps use plain
``DateTime(timezone=True)`` (the models' ``UTCDateTime`` wraps exactly that), and the status list
is frozen here rather than imported, so this migration keeps meaning the same thing when
``bot.cases.status`` grows. ``op.f()`` marks names as final, so the naming convention does not
apply to them a second time.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "collecting",
    "queued",
    "assigned",
    "released",
    "rejected",
    "abandoned",
    "guiding",
    "completed",
)


def _status_check(column: str) -> str:
    return f"{column} IN ({', '.join(repr(status) for status in STATUSES)})"


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("family", sa.String(length=32), nullable=False),
        sa.Column("serial_number", sa.String(length=32), nullable=False),
        sa.Column("owner_name", sa.String(length=200), nullable=False),
        sa.Column("owner_email", sa.String(length=254), nullable=False),
        sa.Column("owner_phone", sa.String(length=32), nullable=False),
        sa.Column("warranty_registered", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        # Also the indexes the Device ID and serial-number lookups use.
        sa.UniqueConstraint("device_id", name=op.f("uq_devices_device_id")),
        sa.UniqueConstraint("serial_number", name=op.f("uq_devices_serial_number")),
    )

    op.create_table(
        "support_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=True),
        sa.Column("caller_phone", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_status_check("status"), name=op.f("ck_support_cases_status")),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.device_id"],
            name=op.f("fk_support_cases_device_id_devices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_cases")),
        sa.UniqueConstraint("code", name=op.f("uq_support_cases_code")),
    )
    # latest_for_conversation(), cases of a device, and the queue (status = 'queued').
    op.create_index(
        op.f("ix_support_cases_conversation_id"), "support_cases", ["conversation_id"]
    )
    op.create_index(op.f("ix_support_cases_device_id"), "support_cases", ["device_id"])
    op.create_index(op.f("ix_support_cases_status"), "support_cases", ["status"])

    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.CheckConstraint(
            _status_check("from_status"), name=op.f("ck_case_events_from_status")
        ),
        sa.CheckConstraint(_status_check("to_status"), name=op.f("ck_case_events_to_status")),
        # No ON DELETE: a case that has an audit trail cannot be deleted.
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["support_cases.id"],
            name=op.f("fk_case_events_case_id_support_cases"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_events")),
    )
    op.create_index(op.f("ix_case_events_case_id"), "case_events", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_events_case_id"), table_name="case_events")
    op.drop_table("case_events")
    op.drop_index(op.f("ix_support_cases_status"), table_name="support_cases")
    op.drop_index(op.f("ix_support_cases_device_id"), table_name="support_cases")
    op.drop_index(op.f("ix_support_cases_conversation_id"), table_name="support_cases")
    op.drop_table("support_cases")
    op.drop_table("devices")
