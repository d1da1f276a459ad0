# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Agents, their login sessions, temporary-password releases, and who works each case.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

``support_cases`` gains the agent who claimed it, whether that agent is chatting live, and what
the user said about the owner (for the agent's verification card). SQLite cannot add a foreign
key to an existing table, hence batch mode (Alembic copies the table).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("username", name=op.f("uq_agents_username")),
    )
    op.create_table(
        "agent_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_sessions_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agent_sessions_token_hash")),
    )
    op.create_index(op.f("ix_agent_sessions_agent_id"), "agent_sessions", ["agent_id"])

    with op.batch_alter_table("support_cases") as batch:
        batch.add_column(sa.Column("stated_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("stated_email", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("stated_phone", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("live_chat", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            op.f("fk_support_cases_agent_id_agents"), "agents", ["agent_id"], ["id"]
        )
        batch.create_index(op.f("ix_support_cases_agent_id"), ["agent_id"])

    op.create_table(
        "password_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["support_cases.id"],
            name=op.f("fk_password_releases_case_id_support_cases"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_password_releases_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_releases")),
        sa.UniqueConstraint("reference", name=op.f("uq_password_releases_reference")),
    )
    op.create_index(op.f("ix_password_releases_case_id"), "password_releases", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_password_releases_case_id"), table_name="password_releases")
    op.drop_table("password_releases")
    with op.batch_alter_table("support_cases") as batch:
        batch.drop_index(op.f("ix_support_cases_agent_id"))
        batch.drop_constraint(op.f("fk_support_cases_agent_id_agents"), type_="foreignkey")
        for column in ("live_chat", "agent_id", "stated_phone", "stated_email", "stated_name"):
            batch.drop_column(column)
    op.drop_index(op.f("ix_agent_sessions_agent_id"), table_name="agent_sessions")
    op.drop_table("agent_sessions")
    op.drop_table("agents")
