"""`make cluster`: the product as several Rasa instances behind HAProxy, on PostgreSQL and Redis.

On this machine: one Rasa server per port of ``CLUSTER_RASA_PORTS`` (5011 and 5012 by default),
each with its own action server (``ACTIONS_PORT`` + 0, 1, ...), one agent console, and HAProxy on
``RASA_PORT`` (5005) in front of the Rasa servers. Every process is kept running by
:mod:`bot.supervisor`, as with `make run`: the same Procfile lines, each instance with its own
ports. What the instances share is on ``DATABASE_URL`` and ``TRACKER_STORE_URL`` (PostgreSQL by
default, the databases created if missing) and ``REDIS_URL``: the conversation locks, the turn
records, the vault, the phone calls, the web chat's rooms and the login throttle. They must also
share ``VAULT_KEY`` (drawn here when unset) and the web chat's session secret.

Stopping (Ctrl-C): HAProxy stops taking connections and finishes the requests in progress
(SIGUSR1), each Rasa server finishes its turns in progress (Sanic's graceful stop on SIGTERM).
An instance stopped, killed or hung (no answer to its health check for a minute) is started
again by the supervisor alone; meanwhile HAProxy sends its requests to the others.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.cluster.haproxy import Backend, haproxy_config
from bot.db import display_url
from bot.settings import REPO_ROOT, Settings
from bot.supervisor import Program, Supervisor, programs_from_procfile

HAPROXY = "/usr/sbin/haproxy"
CLUSTERS_FOLDER = REPO_ROOT / "var" / "cluster"
# Where the shared state lives unless the environment says: this machine's own servers.
CLUSTER_DEFAULTS = {
    "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/lorex",
    "TRACKER_STORE_URL": "postgresql://postgres@127.0.0.1:5432/lorex_tracker",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


@dataclass(frozen=True)
class Instance:
    number: int  # from 1
    rasa_port: int
    actions_port: int

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def name(self) -> str:
        return f"rasa-{self.number}"


def balancer_files(settings: Settings) -> tuple[Path, Path]:
    """HAProxy's configuration file and admin socket, in a folder of the cluster's own (named
    by the balancer's port: two clusters on one machine, a test's and yours, do not meet)."""
    folder = CLUSTERS_FOLDER / f"port-{settings.rasa_port}"
    return folder / "haproxy.cfg", folder / "haproxy.sock"


def instances(settings: Settings) -> list[Instance]:
    return [
        Instance(number, port, settings.actions_port + number - 1)
        for number, port in enumerate(settings.cluster_rasa_ports, start=1)
    ]


def cluster_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the cluster's defaults for what it leaves unset or empty, and a
    ``VAULT_KEY`` every instance shares (drawn for this run when unset)."""
    filled = {**environ}
    for name, default in CLUSTER_DEFAULTS.items():
        if not filled.get(name, "").strip():
            filled[name] = default
    if not filled.get("VAULT_KEY", "").strip():
        filled["VAULT_KEY"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return filled


def create_database_if_missing(url: str) -> bool:
    """Create ``url``'s PostgreSQL database if it does not exist (True if it was created);
    anything else is left as it is (SQLite creates its file)."""
    parts = make_url(url)
    if not parts.drivername.startswith("postgresql") or not parts.database:
        return False
    server = create_engine(
        parts.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_pre_ping=False
    )
    try:
        with server.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parts.database}
            ).scalar()
            if exists:
                return False
            quoted = server.dialect.identifier_preparer.quote(parts.database)
            connection.execute(text(f"CREATE DATABASE {quoted}"))
            return True
    finally:
        server.dispose()


def create_tracker_tables(url: str) -> None:
    """Rasa's tracker table, made once before the instances start (each would otherwise try to
    create it at the same moment, and all but one fail to start)."""
    from rasa.core.tracker_store import SQLTrackerStore

    engine = create_engine(url)
    try:
        SQLTrackerStore.Base.metadata.create_all(engine)
    finally:
        engine.dispose()


def cluster_programs(settings: Settings, config_path: Path) -> list[Program]:
    """The Procfile's programs, the action server and the Rasa server once per instance, and
    HAProxy."""
    procfile = {p.name: p for p in programs_from_procfile(REPO_ROOT / "Procfile")}
    programs: list[Program] = []
    for instance in instances(settings):
        programs.append(
            replace(
                procfile["actions"],
                name=f"actions-{instance.number}",
                env={"ACTIONS_PORT": str(instance.actions_port)},
                health_url=f"http://127.0.0.1:{instance.actions_port}/health",
            )
        )
        programs.append(
            replace(
                procfile["rasa"],
                name=instance.name,
                env={
                    "RASA_PORT": str(instance.rasa_port),
                    "ACTION_SERVER_URL": f"http://127.0.0.1:{instance.actions_port}/webhook",
                    # The client's address comes from HAProxy's X-Forwarded-For.
                    "SANIC_PROXIES_COUNT": "1",
                },
                health_url=f"{instance.rasa_url}/",
            )
        )
    programs.append(replace(procfile["console"], health_url=f"{settings.console_url}/health"))
    programs.append(
        Program("haproxy", f"{HAPROXY} -db -f {config_path}", stop_signal=signal.SIGUSR1)
    )
    return programs


def health_checks(settings: Settings) -> list[str]:
    token = settings.rasa_api_token
    return [
        *(f"{i.rasa_url}/status?token={token}" for i in instances(settings)),
        *(f"http://127.0.0.1:{i.actions_port}/health" for i in instances(settings)),
        f"{settings.console_url}/health",
        f"{settings.rasa_url}/status?token={token}",  # through HAProxy
    ]


def cluster_lines(settings: Settings) -> list[str]:
    """What the ready message adds for the cluster: where each instance and store is."""
    config, socket = balancer_files(settings)
    lines = [
        f"  Load balancer:    HAProxy on {settings.rasa_url} (round-robin)",
        f"                    {config}, admin socket {socket}",
    ]
    for instance in instances(settings):
        lines.append(
            f"  Instance {instance.number}:       Rasa {instance.rasa_url}, "
            f"actions http://127.0.0.1:{instance.actions_port}"
        )
    lines.append(f"  Trackers:         {display_url(settings.tracker_store_url)}")
    lines.append(f"  Shared state:     {display_url(settings.redis_url)}")
    return lines


def run(environ: Mapping[str, str]) -> int:
    """Set up the shared stores, then run the cluster until Ctrl-C or SIGTERM."""
    from bot import serve
    from bot.db import Database, migrate
    from bot.devices.registry import DeviceRegistry

    if not Path(HAPROXY).is_file():
        raise ValueError(f"HAProxy is not installed ({HAPROXY}); `make cluster` installs it")
    environment = cluster_environment(environ)
    settings = serve.settings_from(environment)
    if settings.rasa_port in settings.cluster_rasa_ports:
        raise ValueError(
            "CLUSTER_RASA_PORTS must not include RASA_PORT, where the load balancer listens"
        )
    for url in (settings.database_url, settings.tracker_store_url):
        if create_database_if_missing(url):
            print(f"Created the database {display_url(url)}")
    migrate(settings.database_url)
    create_tracker_tables(settings.tracker_store_url)
    database = Database(settings.database_url)
    try:
        DeviceRegistry(database).seed_from_csv(REPO_ROOT / "data" / "devices.csv")
    finally:
        database.dispose()
    config, socket = balancer_files(settings)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        haproxy_config(
            listen_port=settings.rasa_port,
            backends=[Backend(i.name, i.rasa_port) for i in instances(settings)],
            admin_socket=socket,
        )
    )
    supervisor = Supervisor(
        cluster_programs(settings, config),
        env={**environment, **settings.environment()},
        cwd=REPO_ROOT,
        when_started=lambda say: serve.announce_when_ready(
            settings, say, checks=health_checks(settings), more=cluster_lines(settings)
        ),
    )
    return asyncio.run(supervisor.run())
