"""The shared stores the cluster phase runs on, thrown away after it, and their CPU time.

PostgreSQL is this machine's server (``BENCH_POSTGRES_URL``, default 127.0.0.1:5432, user
postgres): the phase makes databases with names of its own and drops them after. Each connection
to PostgreSQL is a backend process whose title names its database, so the CPU time of a
deployment's backends is its own, whatever else the server does (the server's shared background
processes, WAL writer and checkpointer, are left out: not attributable).

Redis is a server of the phase's own (``redis-server`` on a free port, nothing saved to disk),
not this machine's shared one: its CPU time is then the deployments' alone (only one deployment
is loaded at a time), where the shared server's would also count everyone else's tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from bench import servers
from bench.paths import rasa_env

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


class PostgresDatabases:
    """Throw-away databases on one PostgreSQL server, named ``lorex_bench_<run>_<name>``."""

    def __init__(self, server_url: str = POSTGRES_URL) -> None:
        self._server: URL = make_url(server_url)
        self._prefix = f"lorex_bench_{uuid.uuid4().hex[:8]}_"
        self.names: list[str] = []

    def create(self, name: str) -> str:
        """A new empty database; its URL."""
        database = self._prefix + name
        engine = create_engine(self._server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
        finally:
            engine.dispose()
        self.names.append(database)
        return str(self._server.set(database=database).render_as_string(hide_password=False))

    def drop_all(self) -> None:
        engine = create_engine(self._server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                for database in self.names:
                    # FORCE: a backend a killed server left behind must not keep it.
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        finally:
            engine.dispose()
        self.names.clear()


def backend_cpu_seconds(databases: Iterable[str]) -> dict[int, float]:
    """The CPU seconds (user and system) of each PostgreSQL backend connected to ``databases``,
    by pid (a backend's title: ``postgres: <cluster>: <user> <database> <client> <state>``)."""
    wanted = set(databases)
    found: dict[int, float] = {}
    for process in psutil.process_iter(["cmdline"]):
        try:
            words = " ".join(process.info["cmdline"] or []).split()
            if not words or not words[0].startswith("postgres:") or not wanted & set(words):
                continue
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found[process.pid] = times.user + times.system
    return found


def backends_used(opened: dict[int, float], closed: dict[int, float]) -> float:
    """CPU seconds the backends used between two readings of :func:`backend_cpu_seconds`: each
    one's growth, a backend started in between counted whole (one that ended is lost: the
    deployments keep pooled connections, so few do)."""
    return sum(seconds - opened.get(pid, 0.0) for pid, seconds in closed.items())


class PrivateRedis:
    """A ``redis-server`` of the phase's own on a free port, stopped with the benchmark's other
    servers."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian's redis-server package)")
        folder.mkdir(parents=True, exist_ok=True)
        self.port = servers.free_port()
        self._process = servers._start(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(folder),
                "--databases",
                "4",
            ],
            cwd=folder,
            env=rasa_env(),
            log_path=folder / "redis.log",
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if redis.Redis(port=self.port).ping():
                    break
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not start: {servers.log_tail(folder / 'redis.log')}"
                )
            time.sleep(0.1)

    def url(self, database: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{database}"

    def cpu_seconds(self) -> float:
        try:
            times = psutil.Process(self._process.pid).cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return float(times.user + times.system)

    def commands(self) -> int:
        """Commands the server has processed so far (every database)."""
        stats = redis.Redis(port=self.port).info("stats")
        return int(stats["total_commands_processed"])

    def stop(self) -> None:
        servers._stop(self._process)
