# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Messages kept for users who could not be reached, and how each released password got there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

A REST client cannot be pushed to: what the console makes the assistant say to it waits in
``pending_messages`` for the client's next request. ``release_deliveries`` tells the console
whether a released temporary password reached the user (see bot/handoff/delivery.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_messages")),
    )
    op.create_index(
        op.f("ix_pending_messages_conversation_id"), "pending_messages", ["conversation_id"]
    )
    op.create_table(
        "release_deliveries",
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_release_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("release_deliveries")
    op.drop_index(op.f("ix_pending_messages_conversation_id"), table_name="pending_messages")
    op.drop_table("pending_messages")
