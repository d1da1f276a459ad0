"""Starting the whole product for a test, the way `make run` does: migrate, seed, then
`python -m bot.cli run` (bot/supervisor.py running the Procfile) on free ports, with the
databases given; and :class:`AssistantClient`, how the tests talk to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.serve import Settings, settings_from, wait_until_ready

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "lorex.tar.gz"


@dataclass
class AssistantClient:
    """A running product's Rasa server, as a REST chat user and through its HTTP API."""

    rasa_url: str
    api_token: str

    def say(self, sender: str, message: str) -> list[dict[str, Any]]:
        reply = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=60,
        )
        reply.raise_for_status()
        messages: list[dict[str, Any]] = reply.json()
        return messages

    def texts(self, sender: str, message: str) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, message))

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        reply = requests.get(
            f"{self.rasa_url}/conversations/{conversation_id}/tracker",
            params={"token": self.api_token},
            timeout=30,
        )
        reply.raise_for_status()
        tracker: dict[str, Any] = reply.json()
        return tracker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` different free ports: held together while picked (one at a time, the system can
    hand out the same port twice; CI saw the console take the Rasa server's port)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def running_product(
    folder: Path,
    *,
    database_url: str,
    tracker_store_url: str,
    extra_env: dict[str, str] | None = None,
    setup: Sequence[tuple[Sequence[str], str | None]] = (),
) -> Iterator[tuple[Settings, Path]]:
    """The running product's settings and the file its servers log to.

    ``setup``: more ``bot.cli`` commands (arguments, standard input) run after migrate and seed,
    before the servers start.
    """
    if not MODEL.is_file():
        pytest.fail("models/lorex.tar.gz is missing: run `make train` (make test does)")
    rasa_port, actions_port, console_port = free_ports(3)
    settings = settings_from(
        {
            "RASA_PORT": str(rasa_port),
            "ACTIONS_PORT": str(actions_port),
            "CONSOLE_PORT": str(console_port),
            "RASA_API_TOKEN": uuid.uuid4().hex,
            "DATABASE_URL": database_url,
            "TRACKER_STORE_URL": tracker_store_url,
        }
    )
    env = {**os.environ, **settings.environment(), **(extra_env or {})}
    for command, stdin in [(["migrate"], None), (["seed"], None), *setup]:
        subprocess.run(
            [sys.executable, "-m", "bot.cli", *command],
            input=stdin,
            text=True,
            env=env,
            cwd=REPO,
            check=True,
        )
    log_path = folder / "servers.log"
    with supervised("run", env, log_path):
        if not wait_until_ready(settings, timeout=300):
            pytest.fail("the servers did not start:\n" + log_path.read_text()[-4000:])
        yield settings, log_path


@contextmanager
def supervised(
    command: str, env: Mapping[str, str], log_path: Path, stop_seconds: float = 40
) -> Iterator[None]:
    """``python -m bot.cli <command>`` (`run` or `cluster`: the supervisor and its servers) in a
    process group of its own, logging to ``log_path``; stopped as Ctrl-C stops it, killed if it
    takes longer than ``stop_seconds``."""
    with open(log_path, "w") as log:
        servers = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", command],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so teardown stops every server
        )
    try:
        yield
    finally:
        with suppress(ProcessLookupError):  # a test may have stopped them already
            os.killpg(servers.pid, signal.SIGINT)
        try:
            servers.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(servers.pid, signal.SIGKILL)
            servers.wait()
