# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""A case keeps its conversation's language.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``support_cases.language``: the base code of the language the owner is served in ("en", "es",
"fr"), shown in the agent console. Cases opened before this revision were all in English.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("support_cases") as batch:
        batch.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="en")
        )


def downgrade() -> None:
    with op.batch_alter_table("support_cases") as batch:
        batch.drop_column("language")
