# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
# mypy: disable-error-code="import-untyped"
"""Shared fixtures: real databases (SQLite and PostgreSQL) built by the real Alembic migration.

``database`` runs each test once on a fresh SQLite file and once on PostgreSQL. PostgreSQL comes
from ``$TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``): the session
creates its own uniquely named databases on that server and drops them at the end, so parallel
runs never meet. Without a reachable server the PostgreSQL tests fail, saying how to start one;
``SKIP_POSTGRES=1`` skips them instead.
"""

from __future__ import annotations

import csv
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

from bot.bootstrap import forget_action_server, forget_rasa_process
from bot.db import Database, display_url, migrate
from bot.devices.registry import CSV_COLUMNS

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
SKIP_POSTGRES = os.environ.get("SKIP_POSTGRES") == "1"

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]

# Every table the migrations create, children first; emptied before each PostgreSQL test.
TABLES = (
    "pending_messages",
    "release_deliveries",
    "device_id_check_failures",
    "password_releases",
    "case_events",
    "support_cases",
    "agent_sessions",
    "agents",
    "devices",
)

# One registered recorder per family, in the shapes data/content/device_id_formats.yml describes.
SAMPLE_DEVICES: tuple[dict[str, str], ...] = (
    {
        "device_id": "ND4810273945KXQ",
        "model": "N841",
        "serial_number": "21LX0483920175",
        "owner_name": "Dana Whitfield",
        "owner_email": "dana@example.com",
        "owner_phone": "+1 416 555 0101",
        "warranty_registered": "yes",
    },
    {
        "device_id": "NC3307815562RTA",
        "model": "N831",
        "serial_number": "22LX1122334455",
        "owner_name": "Omar Haddad",
        "owner_email": "omar@example.org",
        "owner_phone": "(905) 555-0144",
        "warranty_registered": "no",
    },
    {
        "device_id": "LRX104592837",
        "model": "LNR400",
        "serial_number": "19LX5566778899",
        "owner_name": "Grace Liu",
        "owner_email": "grace.liu@example.net",
        "owner_phone": "6475550199",
        "warranty_registered": "yes",
    },
)

WriteCsv = Callable[..., Path]


class PostgresServer:
    """Creates throw-away databases on the test server and drops them all at the end."""

    def __init__(self, url: str) -> None:
        self._admin: Engine = create_engine(url, future=True, isolation_level="AUTOCOMMIT")
        self._url = make_url(url)
        self._prefix = f"lorex_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._created: list[str] = []

    def check_reachable(self) -> None:
        try:
            with self._admin.connect() as connection:
                connection.execute(text("SELECT 1"))
            return
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0]
        # Outside the except block, so pytest shows this message and not two tracebacks.
        pytest.fail(
            f"PostgreSQL is not reachable at {display_url(str(self._url))} ({reason}). "
            "Start it (e.g. `sudo service postgresql start`, or "
            "`docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres:15`), "
            "point TEST_POSTGRES_URL at another server, or set SKIP_POSTGRES=1 to run only "
            "the SQLite tests.",
            pytrace=False,
        )

    def create_database(self) -> str:
        name = f"{self._prefix}_{len(self._created)}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        self._created.append(name)
        rendered: str = self._url.set(database=name).render_as_string(hide_password=False)
        return rendered

    def drop_all(self) -> None:
        with self._admin.connect() as connection:
            for name in self._created:
                # FORCE: a test that failed may have left a connection behind.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(autouse=True)
def fresh_process_settings() -> Iterator[None]:
    """Each test's processes read the environment as the test sets it: the settings and services
    a process keeps (bot.settings.process_settings, bot.bootstrap) are dropped around it."""
    forget_rasa_process()
    forget_action_server()
    yield
    forget_rasa_process()
    forget_action_server()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if SKIP_POSTGRES:
        pytest.skip("SKIP_POSTGRES=1: PostgreSQL tests skipped")
    server = PostgresServer(POSTGRES_URL)
    server.check_reachable()
    try:
        yield server
    finally:
        server.drop_all()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database migrated once for the whole session (tables emptied per test)."""
    url = postgres_server.create_database()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test: cheaper than migrating every time."""
    path = tmp_path_factory.mktemp("sqlite-template") / "lorex.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated database: a fresh SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        path = tmp_path / "lorex.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_url"))
        with db.engine.begin() as connection:
            # DELETE, not TRUNCATE: on tables this small it is many times faster.
            for table in TABLES:
                connection.execute(text(f"DELETE FROM {table}"))
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture(params=DATABASES)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database without any schema, for tests of the migrations themselves."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture
def write_devices_csv(tmp_path: Path) -> WriteCsv:
    """Writes a devices CSV: ``write(rows, name=..., header=...)``; rows are dicts or lists."""

    def write(
        rows: Sequence[Mapping[str, str] | Sequence[str]] = SAMPLE_DEVICES,
        *,
        name: str = "devices.csv",
        header: Sequence[str] = CSV_COLUMNS,
    ) -> Path:
        path = tmp_path / name
        with open(path, "w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            for row in rows:
                if isinstance(row, Mapping):
                    writer.writerow([row.get(column, "") for column in header])
                else:
                    writer.writerow(row)
        return path

    return write


# A real Redis for the shared-state tests (what several instances share).
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the test Redis; its keys are removed afterwards."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(
            f"no Redis at {REDIS_URL} (TEST_REDIS_URL): start one, e.g. "
            "`apt-get install redis-server && redis-server --save '' --daemonize yes`"
        )
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture(autouse=True)
def fresh_vault_key_check() -> Iterator[None]:
    """Each test's Rasa processes may draw their own VAULT_KEY: the mark the previous test's key
    left on the test Redis (bot/handoff/redis_vault.py) is removed around each test."""

    def forget() -> None:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        with suppress(redis.RedisError):
            client.delete("lorex:vault:key-check")
        client.close()

    forget()
    yield
    forget()
