"""Starting `make cluster` for a test: `python -m bot.cli cluster` on free ports, on throw-away
PostgreSQL databases and a Redis database of the tests' own, with a handle to kill one of its
processes the way a crash would."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis

from bot.cluster.deployment import balancer_files, health_checks, instances
from bot.serve import Settings, settings_from, wait_until_ready
from tests.conftest import REDIS_URL
from tests.running_product import MODEL, free_port, supervised

# The cluster tests' own database on the test Redis (TEST_REDIS_URL): emptied before and after
# each cluster.
CLUSTER_REDIS_DB = 3


def free_port_pair() -> int:
    """A port p with p + 1 free too (the action servers take ACTIONS_PORT and the next ones)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two free ports in a row")


@dataclass
class RunningCluster:
    settings: Settings
    environment: dict[str, str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pid_of(self, program: str) -> int:
        """The pid of ``program``'s latest start (the supervisor logs each)."""
        started = re.findall(rf"{re.escape(program)} started \(pid=(\d+)\)", self.log())
        if not started:
            raise LookupError(f"{program} has not started")
        return int(started[-1])

    def balancer_stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's counters per server of the Rasa backend (``show stat`` on its admin
        socket)."""
        _, admin_socket = balancer_files(self.settings)
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(admin_socket))
            connection.sendall(b"show stat\n")
            raw = b""
            while chunk := connection.recv(65536):
                raw += chunk
        header, *rows = raw.decode().lstrip("# ").splitlines()
        names = header.split(",")
        table = [dict(zip(names, row.split(","), strict=False)) for row in rows if row]
        return {row["svname"]: row for row in table if row.get("pxname") == "rasa_instances"}

    def wait_until_balanced(self, timeout: float = 60) -> None:
        """Until HAProxy sends turns to every instance (its checks lag the servers by a
        second or two: before, every turn would go to the one it saw first)."""
        names = [i.name for i in instances(self.settings)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stats = self.balancer_stats()
            if all(stats.get(name, {}).get("status") == "UP" for name in names):
                return
            time.sleep(0.2)
        pytest.fail("HAProxy did not see every instance up:\n" + self.log()[-3000:])

    def turns_in_progress(self, program: str) -> int:
        """Turns ``program`` (a Rasa instance) is working on now: the claims on Redis that name
        it as their holder (bot/cluster/turn_records.py)."""
        [instance] = [i for i in instances(self.settings) if i.name == program]
        holder = f"{socket.gethostname()}:{instance.rasa_port}:".encode()
        client = redis.Redis.from_url(self.environment["REDIS_URL"])
        try:
            claims = list(client.scan_iter(match="lorex:turn:*:claim", count=1000))
            return sum(1 for value in client.mget(claims) if value and value.startswith(holder))
        finally:
            client.close()

    def kill(self, program: str) -> int:
        """SIGKILL ``program`` (no chance to finish anything); its pid."""
        pid = self.pid_of(program)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_until_restarted(self, program: str, old_pid: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with suppress(LookupError):
                if self.pid_of(program) != old_pid and wait_until_ready(
                    self.settings, timeout=5, checks=health_checks(self.settings)
                ):
                    self.wait_until_balanced()
                    return
            time.sleep(0.5)
        pytest.fail(f"{program} was not started again:\n" + self.log()[-3000:])


@contextmanager
def running_cluster(
    folder: Path,
    *,
    database_url: str,
    tracker_store_url: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[RunningCluster]:
    if not MODEL.is_file():
        pytest.fail("models/lorex.tar.gz is missing: run `make train` (make test does)")
    if not Path("/usr/sbin/haproxy").is_file():
        pytest.fail("HAProxy is missing: `make test` installs it (Debian's haproxy package)")
    redis_url = urlunsplit(urlsplit(REDIS_URL)._replace(path=f"/{CLUSTER_REDIS_DB}"))
    redis.Redis.from_url(redis_url).flushdb()
    base = {
        "RASA_PORT": str(free_port()),
        "CLUSTER_RASA_PORTS": f"{free_port()},{free_port()}",
        "ACTIONS_PORT": str(free_port_pair()),
        "CONSOLE_PORT": str(free_port()),
        "RASA_API_TOKEN": uuid.uuid4().hex,
        "DATABASE_URL": database_url,
        "TRACKER_STORE_URL": tracker_store_url,
        "REDIS_URL": redis_url,
        **(extra_env or {}),
    }
    environment = {**os.environ, **base}
    settings = settings_from(environment)
    log_path = folder / "cluster.log"
    try:
        with supervised("cluster", environment, log_path):
            if not wait_until_ready(settings, timeout=300, checks=health_checks(settings)):
                pytest.fail("the cluster did not start:\n" + log_path.read_text()[-4000:])
            assert len(instances(settings)) == 2
            running = RunningCluster(settings, environment, log_path)
            running.wait_until_balanced()
            yield running
    finally:
        redis.Redis.from_url(redis_url).flushdb()
