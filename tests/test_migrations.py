# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
# mypy: disable-error-code="import-untyped"
"""The Alembic migrations against the models, and the database plumbing in bot.db."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

import bot.cases.models
import bot.devices.models
import bot.handoff.delivery  # noqa: F401 - registers the tables on Base.metadata
from bot.db import (
    DEFAULT_DATABASE_PATH,
    Base,
    Database,
    UTCDateTime,
    _alembic_config,
    create_database_engine,
    database_url,
    head_revision,
    migrate,
    schema_revision,
)
from bot.devices.models import Device
from tests.conftest import SAMPLE_DEVICES

TABLES = {
    "devices",
    "support_cases",
    "case_events",
    "agents",
    "agent_sessions",
    "password_releases",
    "device_id_check_failures",
    "pending_messages",
    "release_deliveries",
}


def _schema_differences(url: str) -> list[object]:
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "target_metadata": Base.metadata},
            )
            differences: list[object] = compare_metadata(context, Base.metadata)
            return differences
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_the_migrated_schema_matches_the_models(empty_database_url: str) -> None:
    migrate(empty_database_url)

    assert _schema_differences(empty_database_url) == []


def test_an_empty_database_differs_from_the_models(empty_database_url: str) -> None:
    # The comparison above is only worth something if it can see a difference.
    assert len(_schema_differences(empty_database_url)) >= len(TABLES)


def test_migrate_is_repeatable_and_reports_the_head(empty_database_url: str) -> None:
    assert schema_revision(empty_database_url) is None

    assert migrate(empty_database_url) == head_revision() == "0006"
    assert migrate(empty_database_url) == "0006"
    assert _tables(empty_database_url) == TABLES


def test_downgrade_removes_everything_and_upgrade_rebuilds_it(empty_database_url: str) -> None:
    migrate(empty_database_url)

    command.downgrade(_alembic_config(empty_database_url), "base")
    assert _tables(empty_database_url) == set()
    assert schema_revision(empty_database_url) is None

    migrate(empty_database_url)
    assert _schema_differences(empty_database_url) == []


def test_cases_opened_before_languages_are_in_english(empty_database_url: str) -> None:
    command.upgrade(_alembic_config(empty_database_url), "0005")
    engine = create_database_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO support_cases (code, channel, conversation_id, live_chat, status,"
                    " created_at, updated_at) VALUES ('LX-OLD123', 'chat', 'c-1', false,"
                    " 'queued', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        migrate(empty_database_url)
        with engine.connect() as connection:
            language = connection.execute(
                text("SELECT language FROM support_cases WHERE code = 'LX-OLD123'")
            ).scalar()
    finally:
        engine.dispose()
    assert language == "en"


def test_migrate_works_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    url = f"sqlite:///{tmp_path / 'lorex.db'}"
    assert migrate(url) == head_revision()
    assert _tables(url) == TABLES


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://lorex@db.internal/lorex")
    assert database_url() == "postgresql://lorex@db.internal/lorex"

    monkeypatch.setenv("DATABASE_URL", "postgres://lorex@db.internal/lorex")
    assert database_url() == "postgresql://lorex@db.internal/lorex"

    monkeypatch.delenv("DATABASE_URL")
    assert database_url() == f"sqlite:///{DEFAULT_DATABASE_PATH}"
    assert DEFAULT_DATABASE_PATH.parent.is_dir()
    assert DEFAULT_DATABASE_PATH.parent.name == "var"


def test_sqlite_connections_enforce_foreign_keys(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        database.dispose()


def test_a_sqlite_file_is_shared_in_write_ahead_log_mode(tmp_path: Path) -> None:
    # Several processes use the file, and a commit does not wait for the disk (see bot/db.py).
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        with database.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert (tmp_path / "wal.db-wal").exists()
    finally:
        database.dispose()


def test_a_session_commits_at_the_end_and_rolls_back_on_error(database: Database) -> None:
    values = {**SAMPLE_DEVICES[0], "family": "n_series", "warranty_registered": True}

    with pytest.raises(RuntimeError), database.session() as session:
        session.add(Device(**values))
        session.flush()
        raise RuntimeError("something went wrong after the insert")
    with database.session() as session:
        assert session.scalars(select(Device)).all() == []

    with database.session() as session:
        session.add(Device(**values))
    with database.session() as session:
        assert [d.device_id for d in session.scalars(select(Device))] == [values["device_id"]]


def test_timestamps_refuse_naive_datetimes(database: Database) -> None:
    values = {**SAMPLE_DEVICES[0], "family": "n_series", "warranty_registered": True}

    with pytest.raises(Exception, match="naive datetime"), database.session() as session:
        session.add(Device(**values, created_at=datetime(2026, 1, 1, 12, 0)))
        session.flush()


def test_utc_datetime_is_the_type_the_migration_creates() -> None:
    # The migration writes DateTime(timezone=True); the models wrap exactly that.
    assert UTCDateTime.impl.timezone is True


def test_an_in_memory_sqlite_database_is_shared_by_its_sessions() -> None:
    database = Database("sqlite://")
    try:
        with database.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        with database.session() as session:
            assert session.execute(text("SELECT x FROM t")).scalar() == 1
    finally:
        database.dispose()


def test_the_database_repr_hides_the_password() -> None:
    database = Database("postgresql://lorex:s3cret@127.0.0.1:1/lorex")
    try:
        assert "s3cret" not in repr(database)
        assert "***" in repr(database)
    finally:
        database.dispose()
