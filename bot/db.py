# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""The product's database: where it is, how to open a session, how to bring the schema up to date.

Everything that persists (the device registry, support cases and their audit trail) goes through a
:class:`Database`. The schema is owned by the Alembic migrations in ``bot/migrations``; nothing
calls ``create_all``, so a test database and a production one are built the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event, inspect
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.orm import Session, declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool, StaticPool
from sqlalchemy.types import TypeDecorator

from bot.settings import DEFAULT_DATABASE_PATH as DEFAULT_DATABASE_PATH  # re-exported
from bot.settings import REPO_ROOT, environment_database_url

MIGRATIONS_DIR = REPO_ROOT / "bot" / "migrations"
ALEMBIC_INI = REPO_ROOT / "alembic.ini"

# Named constraints, so that later migrations can drop or alter them by name (SQLite's batch mode
# needs names to find them again).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Base = declarative_base(metadata=MetaData(naming_convention=NAMING_CONVENTION))


# datetime.UTC only exists from Python 3.11; the product runs on 3.10 (Rasa 3.6).
UTC = timezone.utc


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):  # type: ignore[misc]
    """A point in time, always handed back as an aware UTC ``datetime``.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so the value is stored as naive
    UTC there and made aware again on the way out. Naive datetimes are refused on the way in:
    guessing their zone is how audit trails end up an hour off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def database_url() -> str:
    """The database the environment names (``DATABASE_URL``, else ``var/lorex.db``), for the
    command lines that need nothing else (alembic's, ``bot.cli``'s default)."""
    url = environment_database_url()
    if is_sqlite_file(url):
        Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)
    return url


def display_url(url: str) -> str:
    """``url`` fit for a log line or a terminal: the password, if any, is masked."""
    rendered: str = make_url(url).render_as_string(hide_password=True)
    return rendered


def create_database_engine(url: str) -> Engine:
    """An engine for ``url``, set up the way this product relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # pool_pre_ping: a PostgreSQL restart should cost one reconnect, not a failed request.
        return create_engine(url, future=True, pool_pre_ping=True)

    if is_sqlite_file(url):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_sqlite_file_engine(url, future=True)
    else:
        # One shared connection, or every new connection would see its own empty database.
        engine = create_engine(
            url,
            future=True,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def is_sqlite_file(url: str) -> bool:
    """Whether ``url`` is a SQLite database in a file (not in memory, not another server)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


# Seconds a statement waits for another connection's write lock on a SQLite file before it fails
# with "database is locked" (the driver's default, made explicit: the action server's and the
# console's transactions wait for each other this long, never without end).
SQLITE_BUSY_TIMEOUT = 5.0


def create_sqlite_file_engine(
    url: str, busy_timeout: float = SQLITE_BUSY_TIMEOUT, **options: Any
) -> Engine:
    """An engine for a SQLite file with the settings of a server's database.

    - Write-ahead log: readers never wait for the writer (several processes share the file).
    - ``synchronous=NORMAL``: a commit no longer waits for the disk; only a power cut, not a
      crash of the process, can lose the last commits. Each commit's fsync was a tenth of the
      Rasa server's time under load (py-spy, ``make bench``).
    - Pooled connections (SQLAlchemy 1.4 opens a new one per session for a file): closing the
      last connection to a file checkpoints the log, with an fsync, and reopening it costs too.
      A pooled connection is only ever used by one thread at a time, so it may change threads.
    - A lock held by another connection is waited for ``busy_timeout`` seconds, then the
      statement fails ("database is locked"), and the caller says so.
    """
    engine = create_engine(
        url,
        poolclass=QueuePool,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
        **options,
    )
    event.listen(engine, "connect", _use_write_ahead_log)
    return engine


def _use_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # stored in the file: a no-op once set
    cursor.execute("PRAGMA synchronous=NORMAL")  # per connection
    cursor.close()


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # The sqlite3 module opens transactions lazily and mishandles SAVEPOINT; let SQLAlchemy emit
    # BEGIN itself (the recipe from SQLAlchemy's SQLite documentation).
    dbapi_connection.isolation_level = None


def _begin_sqlite_transaction(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: SQLite's stand-in for the row locks PostgreSQL takes
    # with SELECT ... FOR UPDATE. Concurrent writers then wait their turn (up to
    # SQLITE_BUSY_TIMEOUT) and see each other's changes, instead of failing halfway through with
    # "database is locked".
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """An engine and a session factory for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_database_engine(self.url)
        # expire_on_commit=False: values read inside a session stay readable after it closes,
        # which is what turning rows into plain records relies on.
        self._sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({display_url(self.url)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed when the block ends, rolled back if it raises."""
        with self._sessions() as session, session.begin():
            yield session

    def has_table(self, name: str) -> bool:
        with self.engine.connect() as connection:
            found: bool = inspect(connection).has_table(name)
            return found

    def dispose(self) -> None:
        """Close the pooled connections (tests dropping a database need them gone)."""
        self.engine.dispose()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    # Absolute, so that migrating works from any working directory.
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    # The host process (Rasa, the CLI, pytest) owns logging; alembic.ini's logging is for the
    # alembic command line only.
    config.attributes["configure_logging"] = False
    return config


def schema_revision(url: str | None = None) -> str | None:
    """The migration the database at ``url`` is at; None for a database without the schema."""
    from alembic.runtime.migration import MigrationContext

    engine = create_database_engine(url or database_url())
    try:
        with engine.connect() as connection:
            revision: str | None = MigrationContext.configure(connection).get_current_revision()
            return revision
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest migration in ``bot/migrations``."""
    from alembic.script import ScriptDirectory

    head: str | None = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def migrate(url: str | None = None) -> str:
    """Run ``alembic upgrade head`` on ``url`` (default: :func:`database_url`).

    Returns the revision the database is at afterwards.
    """
    from alembic import command

    url = url or database_url()
    command.upgrade(_alembic_config(url), "head")
    revision = schema_revision(url)
    if revision is None:
        raise RuntimeError(f"{display_url(url)}: upgrade finished but no revision is recorded")
    return revision
