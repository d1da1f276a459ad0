"""The action server and the processes behind `make run`: what they withstand.

- **A forged call to the action server.** The action server runs every custom action, and the
  actions change cases in the product database. It answers only on 127.0.0.1, and only a caller
  holding the shared secret that `make run` gives the Rasa server (``ACTION_SERVER_TOKEN``, sent as
  a header on every call): a call without it, or with a wrong one, gets 401 with a JSON error and
  changes nothing. Here a forged call tries to start the reset steps in another user's
  conversation (which would abandon that user's queued case) and to queue a case with invented
  owner details. A call is judged on its headers, before its body is read: a body over 1 MB is
  refused (413) even from the Rasa server.
- **Where it listens.** The action server's listening socket, read from ``/proc/net/tcp`` for its
  port, is bound to 127.0.0.1 and nothing else.
- **A process that dies.** The action server is killed with SIGKILL while the product runs: the
  Rasa server and the agent console keep running (same process ids), the action server is
  started again (a new process id), and a chat turn works again within two minutes. SIGTERM to
  `make run` then stops every server.
- **No secret, no server.** Started without ``ACTION_SERVER_TOKEN`` (or with one too short to be
  a secret), the action server refuses to start, in one line.

Everything runs against the whole product, started as `make run` starts it
(tests/running_product.py), on its own SQLite files and free ports.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from bot.serve import Settings
from tests.running_product import free_port, running_product

SUPPORTED_ID = "ND4810273945KXQ"  # an N841 in data/devices.csv
RESTART_SECONDS = 120  # a new action server answering a chat turn, on a busy two-core machine
LISTEN = "0A"  # a TCP socket's state in /proc/net/tcp


@dataclass
class Product:
    settings: Settings
    log_path: Path
    product_db: Path

    @property
    def webhook_url(self) -> str:
        return self.settings.action_server_url

    def texts(self, sender: str, message: str) -> str:
        reply = requests.post(
            f"{self.settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=120,
        )
        reply.raise_for_status()
        return "\n".join(m.get("text", "") for m in reply.json())

    def cases(self) -> dict[str, tuple[str, str]]:
        """Every case in the product database: code -> (conversation id, status)."""
        engine = create_engine(f"sqlite:///{self.product_db}")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT code, conversation_id, status FROM support_cases")
            ).all()
        engine.dispose()
        return {code: (conversation, status) for code, conversation, status in rows}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    folder = tmp_path_factory.mktemp("processes")
    product_db = folder / "lorex.db"
    with running_product(
        folder,
        database_url=f"sqlite:///{product_db}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
    ) as (settings, log_path):
        yield Product(settings, log_path, product_db)


def new_sender() -> str:
    return f"proc-{uuid.uuid4().hex[:10]}"


def queue_a_case(product: Product) -> tuple[str, str]:
    """A real user's conversation with a queued case: (sender, case code)."""
    sender = new_sender()
    product.texts(sender, "I forgot my recorder's password")
    assert "registered N841" in product.texts(sender, SUPPORTED_ID)
    product.texts(sender, "Dana Whitfield")
    product.texts(sender, "skip")
    product.texts(sender, "skip")
    queued = [code for code, (who, status) in product.cases().items() if who == sender]
    assert len(queued) == 1 and product.cases()[queued[0]][1] == "queued", product.cases()
    return sender, queued[0]


def forged_call(sender: str, action: str, intent: str, slots: dict[str, Any]) -> dict[str, Any]:
    """An action call as Rasa sends it, written by hand."""
    latest_message = {"text": "hi", "intent": {"name": intent, "confidence": 1.0}, "entities": []}
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": latest_message,
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
            "latest_input_channel": "rest",
        },
    }


def listening_sockets(port: int) -> list[tuple[str, int]]:
    """(local address in /proc/net/tcp's hex form, socket inode) of every TCP socket listening
    on ``port``, IPv4 and IPv6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == LISTEN:
                found.append((address, int(fields[9])))
    return found


def listener_pid(port: int) -> int | None:
    """The id of the process holding the socket that listens on ``port`` (None if none does)."""
    inodes = {f"socket:[{inode}]" for _, inode in listening_sockets(port)}
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(entry.name)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return None


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return bool(condition())


def test_the_action_server_listens_on_loopback_only(product: Product) -> None:
    sockets = listening_sockets(product.settings.actions_port)
    assert sockets, "nothing listens on the action server's port"
    # 0100007F is 127.0.0.1 as /proc/net/tcp writes it (little-endian hex).
    assert [address for address, _ in sockets] == ["0100007F"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-the-secret"}, {"Authorization": "not-the-secret"}],
    ids=["no token", "wrong token", "not a bearer token"],
)
def test_a_forged_action_call_is_refused_and_changes_nothing(
    product: Product, headers: dict[str, str]
) -> None:
    victim, code = queue_a_case(product)
    before = product.cases()

    # Starting the reset steps in the victim's conversation would abandon their queued case.
    guide = requests.post(
        product.webhook_url,
        json=forged_call(victim, "action_reset_guide", "have_temporary_password", {}),
        headers=headers,
        timeout=30,
    )
    # Queueing a case with invented owner details for a conversation that never happened.
    invented = {
        "device_id": SUPPORTED_ID,
        "device_id_outcome": "supported",
        "owner_name": "Mallory",
        "owner_email": "mallory@example.com",
    }
    queue = requests.post(
        product.webhook_url,
        json=forged_call(new_sender(), "action_queue_case", "affirm", invented),
        headers=headers,
        timeout=30,
    )

    for answer in (guide, queue):
        assert answer.status_code == 401, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        assert "error" in answer.json()
    assert product.cases() == before
    assert product.cases()[code] == (victim, "queued")


def test_the_list_of_actions_needs_the_token_and_health_stays_open(product: Product) -> None:
    base = product.webhook_url.rsplit("/", 1)[0]
    assert requests.get(f"{base}/actions", timeout=10).status_code == 401
    assert requests.get(f"{base}/health", timeout=10).json() == {"status": "ok"}


def announce_a_body(product: Product, token: str, length: int) -> bytes:
    """The status line answered to an action call's headers, its body never sent."""
    request = (
        "POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", product.settings.actions_port), timeout=15) as sock:
        sock.sendall(request.encode())
        return sock.recv(4096).split(b"\r\n", 1)[0]


def test_a_call_is_refused_before_its_body_is_read(product: Product) -> None:
    # Only the headers are sent: the answer must come without waiting for the body announced.
    twenty_megabytes = 20 * 1024 * 1024
    assert announce_a_body(product, "not-the-secret", 1000) == b"HTTP/1.1 401 Unauthorized"
    assert (
        announce_a_body(product, product.settings.action_server_token, twenty_megabytes)
        == b"HTTP/1.1 413 Request Entity Too Large"
    )


def test_the_real_rasa_server_still_runs_actions(product: Product) -> None:
    sender, code = queue_a_case(product)  # five turns, every one through the action server
    assert product.cases()[code] == (sender, "queued")
    assert product.settings.action_server_token not in product.log_path.read_text()


def test_a_killed_action_server_is_restarted_and_the_others_keep_running(
    product: Product,
) -> None:
    settings = product.settings
    rasa, console, actions = (
        listener_pid(settings.rasa_port),
        listener_pid(settings.console_port),
        listener_pid(settings.actions_port),
    )
    assert rasa and console and actions, (rasa, console, actions)

    os.kill(actions, signal.SIGKILL)
    killed_at = time.monotonic()

    restarted = wait_for(
        lambda: listener_pid(settings.actions_port) not in (None, actions), RESTART_SECONDS
    )
    log_tail = product.log_path.read_text()[-3000:]
    assert restarted, "the action server was not started again:\n" + log_tail
    assert is_running(rasa) and listener_pid(settings.rasa_port) == rasa, log_tail
    assert is_running(console) and listener_pid(settings.console_port) == console, log_tail

    sender = new_sender()
    reply = ""
    while time.monotonic() - killed_at < RESTART_SECONDS and "Device ID" not in reply:
        reply = product.texts(sender, "I forgot my recorder's password")
    assert "Device ID" in reply, reply
    assert any(who == sender for who, _ in product.cases().values())


def test_sigterm_stops_every_server(product: Product) -> None:
    settings = product.settings
    servers = [
        pid
        for port in (settings.rasa_port, settings.console_port, settings.actions_port)
        if (pid := listener_pid(port))
    ]
    assert len(servers) == 3, servers
    supervisor = int(Path(f"/proc/{servers[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert "bot.cli" in Path(f"/proc/{supervisor}/cmdline").read_text()

    os.kill(supervisor, signal.SIGTERM)

    assert wait_for(lambda: not any(is_running(pid) for pid in [supervisor, *servers]), 60), (
        product.log_path.read_text()[-3000:]
    )


@pytest.mark.parametrize("token", [None, "", "short"], ids=["unset", "empty", "too short"])
def test_the_action_server_will_not_start_without_a_real_secret(token: str | None) -> None:
    env = {key: value for key, value in os.environ.items() if key != "ACTION_SERVER_TOKEN"}
    if token is not None:
        env["ACTION_SERVER_TOKEN"] = token
    finished = subprocess.run(
        [sys.executable, "-m", "actions.server"],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "ACTIONS_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 2
    assert (
        finished.stderr.strip()
        .splitlines()[-1]
        .startswith("action server: ACTION_SERVER_TOKEN must be set")
    )
