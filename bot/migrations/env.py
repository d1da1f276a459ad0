# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Alembic's entry point: which database, and which models the migrations describe.

Run through :func:`bot.db.migrate` (``python -m bot.cli migrate``) or the ``alembic`` command from
the repo root. The URL comes from :func:`bot.db.migrate`'s argument, else ``$DATABASE_URL``.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

# Imported for their side effect: each registers its tables on Base.metadata, which autogenerate
# compares the database with.
import bot.agents.models
import bot.cases.models
import bot.devices.models
import bot.handoff.delivery
import bot.handoff.models  # noqa: F401
from bot.db import Base, create_database_engine, database_url

config = context.config

# Only the alembic command line sets up logging from alembic.ini; bot.db.migrate() runs inside a
# host process (the CLI, Rasa, pytest) whose logging must be left alone.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else database_url()


def run_migrations_offline() -> None:
    """Print the SQL (``alembic upgrade head --sql``) instead of running it."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; in batch mode autogenerate writes table rebuilds.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_database_engine(_url())
    try:
        with engine.connect() as connection:
            _run_on(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
