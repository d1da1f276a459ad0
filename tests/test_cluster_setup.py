"""`make cluster`'s parts, each on its own: its settings, HAProxy's file (checked by HAProxy
itself), the databases it creates, and the supervisor's per-program environment and stop signal.
The whole cluster runs in tests/test_cluster.py."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.cluster.deployment import (
    HAPROXY,
    cluster_environment,
    cluster_programs,
    create_database_if_missing,
    instances,
)
from bot.cluster.haproxy import Backend, haproxy_config
from bot.settings import settings_from
from bot.supervisor import Program, Supervisor
from tests.conftest import PostgresServer


def test_cluster_ports_default_and_refuse_nonsense() -> None:
    assert settings_from({}).cluster_rasa_ports == (5011, 5012)
    assert settings_from({"CLUSTER_RASA_PORTS": " 6001, 6002 ,6003"}).cluster_rasa_ports == (
        6001,
        6002,
        6003,
    )
    for bad in ["5011,5011", "abc", "5011,,5012", "70000", "5011;5012"]:
        with pytest.raises(ValueError, match="CLUSTER_RASA_PORTS"):
            settings_from({"CLUSTER_RASA_PORTS": bad})


def test_each_instance_gets_its_ports_and_one_vault_key_is_shared() -> None:
    environment = cluster_environment({"CLUSTER_RASA_PORTS": "6001,6002", "ACTIONS_PORT": "6100"})
    settings = settings_from(environment)
    assert [(i.name, i.rasa_port, i.actions_port) for i in instances(settings)] == [
        ("rasa-1", 6001, 6100),
        ("rasa-2", 6002, 6101),
    ]
    assert environment["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert environment["DATABASE_URL"].startswith("postgresql://")
    assert settings.vault_key  # drawn once, handed to every process
    # What the environment gives is kept.
    assert cluster_environment({"REDIS_URL": "redis://cache:6379/2"})["REDIS_URL"] == (
        "redis://cache:6379/2"
    )

    programs = {p.name: p for p in cluster_programs(settings, Path("/tmp/haproxy.cfg"))}
    assert sorted(programs) == ["actions-1", "actions-2", "console", "haproxy", "rasa-1", "rasa-2"]
    assert programs["rasa-2"].env["RASA_PORT"] == "6002"
    assert programs["rasa-2"].env["ACTION_SERVER_URL"] == "http://127.0.0.1:6101/webhook"
    assert programs["actions-2"].env == {"ACTIONS_PORT": "6101"}
    assert programs["haproxy"].stop_signal == signal.SIGUSR1
    # Each server is watched: one that stops answering is started again.
    assert programs["rasa-2"].health_url == "http://127.0.0.1:6002/"
    assert programs["actions-1"].health_url == "http://127.0.0.1:6100/health"
    assert programs["console"].health_url == f"{settings.console_url}/health"


def test_haproxy_accepts_the_configuration(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        haproxy_config(
            listen_port=5005,
            backends=[Backend("rasa-1", 5011), Backend("rasa-2", 5012)],
            admin_socket=tmp_path / "haproxy.sock",
        )
    )
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.postgres
def test_the_databases_are_created_once_if_missing(postgres_server: PostgresServer) -> None:
    url = postgres_server.create_database()
    base, _, _ = url.rpartition("/")
    missing = f"{url}_made_by_cluster"
    try:
        assert create_database_if_missing(missing) is True
        assert create_database_if_missing(missing) is False
        engine = create_engine(missing)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
        engine.dispose()
    finally:
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = missing.rpartition("/")[2]
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    assert create_database_if_missing("sqlite:///var/whatever.db") is False


def test_a_program_gets_its_own_variables_and_stop_signal(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    programs = [
        Program(
            "graceful",
            f"sh -c 'echo $OWN > {seen}; trap \"echo usr1 >> {seen}; exit 0\" USR1; "
            "while true; do sleep 0.1; done'",
            env={"OWN": "mine"},
            stop_signal=signal.SIGUSR1,
        )
    ]

    async def main() -> int:
        supervisor = Supervisor(programs, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
        running = asyncio.create_task(supervisor.run())
        for _ in range(100):
            if seen.exists():
                break
            await asyncio.sleep(0.05)
        supervisor.stop()
        return await asyncio.wait_for(running, 30)

    asyncio.run(main())
    assert seen.read_text().split() == ["mine", "usr1"]
