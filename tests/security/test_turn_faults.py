"""A turn is never lost silently when a part of the product fails.

A chat turn needs the tracker database (Rasa's conversation store), the product database (which
the action server uses) and the action server. When one of them fails in the middle of a turn
(a database locked by another process, an action server that hangs, or one that was restarted),
the product withstands it this way:

- the user is told "Sorry, something went wrong on our side; please send that again in a
  moment" (``data/content/faults.yml``), never an answer that pretends the turn worked, and never
  "Sorry, I didn't catch that";
- the turn is not kept half-done: the user's message is not stored as if it had been answered,
  so sending it again once the part is back is stored once, and a new conversation starts its
  session properly;
- the operator gets one error line naming the part that failed, never the user's text;
- an action server that never answers costs the users waiting on it the action-call timeout
  (10 s), not Rasa's five minutes, and other conversations are answered meanwhile, even when
  those waiting are as many as the turns the server works on at once;
- a kept-open connection to an action server that was restarted is not used for the next call;
- on the phone, where there is nothing to "send again", the caller hears the phone channel's own
  apology (``technical_problem`` in ``data/content/phone.yml``).

How: the whole product runs as ``make run`` starts it (``tests/running_product.py``). A database
is locked by holding ``BEGIN EXCLUSIVE`` on another SQLite connection, as a backup tool or a stuck
process would; the action server is hung with SIGSTOP (the kernel still accepts connections,
nobody answers them). The restart is shown on Rasa's own action-call path, patched as the server
runs it, against rasa_sdk processes killed and started again on one port while the caller's event
loop is busy (so it has not yet seen the old connection close), which is how a busy Rasa server
meets a restarted action server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import patched_rasa
from bot.channels.turns import DEFAULT_TURNS_AT_ONCE
from bot.db import migrate
from bot.serve import Settings
from tests.chat_user import ChatUser
from tests.running_product import REPO, free_port, running_product
from tests.test_patched_rasa import rasa_patched
from tests.test_phone_end_to_end import CONTENT, PUBLIC, TOKEN, Twilio, spoken

TRY_AGAIN: str = yaml.safe_load((REPO / "data" / "content" / "faults.yml").read_text())[
    "turn_failed"
]
FORGOT = "I forgot my recorder's password"
GREETING = "Lorex recorder assistant"  # in the answer to "hi"
ASKS_FOR_DEVICE_ID = "Device ID"
ACTION_CALL_TIMEOUT = 10.0  # the default of ACTION_CALL_TIMEOUT_SECONDS


def listening_process(port: int) -> int:
    """The id of the process listening on 127.0.0.1:``port`` (from /proc: no psutil here)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            if os.readlink(fd) in inodes:
                return int(fd.parts[2])
    pytest.fail(f"nothing listens on port {port}")


@contextmanager
def hung(port: int) -> Iterator[None]:
    """The server on ``port`` stopped (SIGSTOP): the kernel still accepts connections, nobody
    answers them."""
    server = listening_process(port)
    os.kill(server, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server, signal.SIGCONT)


@dataclass
class Product:
    settings: Settings
    log_path: Path
    tracker_db: Path
    product_db: Path

    def texts(self, sender: str, message: str, timeout: float = 60) -> str:
        reply = requests.post(
            f"{self.settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=timeout,
        )
        reply.raise_for_status()
        return "\n".join(m.get("text", "") for m in reply.json())

    def stored_events(self, sender: str) -> list[dict[str, Any]]:
        """The conversation's events as written in the tracker database (read directly: Rasa's
        tracker API would start a session for a conversation it does not know)."""
        import json

        with sqlite3.connect(self.tracker_db, timeout=10) as connection:
            rows = connection.execute(
                "SELECT data FROM events WHERE sender_id = ? ORDER BY id", (sender,)
            ).fetchall()
        return [json.loads(data) for (data,) in rows]

    def user_texts(self, sender: str) -> list[str]:
        return [e["text"] for e in self.stored_events(sender) if e["event"] == "user"]

    def log_since(self, offset: int) -> str:
        return self.log_path.read_text()[offset:]

    def log_size(self) -> int:
        return len(self.log_path.read_text())


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    folder = tmp_path_factory.mktemp("turn-faults")
    product_db, tracker_db = folder / "lorex.db", folder / "tracker.db"
    with running_product(
        folder,
        database_url=f"sqlite:///{product_db}",
        tracker_store_url=f"sqlite:///{tracker_db}",
        extra_env={"PUBLIC_BASE_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN},
    ) as (settings, log_path):
        yield Product(settings, log_path, tracker_db, product_db)


def new_sender() -> str:
    return f"fault-{uuid.uuid4().hex[:10]}"


@contextmanager
def locked(database: Path) -> Iterator[None]:
    """Another connection holds the database's write lock (readers still read: WAL)."""
    connection = sqlite3.connect(database, isolation_level=None, timeout=10)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "ERROR" in line]


def test_a_turn_while_the_tracker_database_is_locked_is_refused_and_can_be_sent_again(
    product: Product,
) -> None:
    sender = new_sender()
    assert GREETING in product.texts(sender, "hi")
    before = product.log_size()

    with locked(product.tracker_db):
        started = time.monotonic()
        reply = product.texts(sender, FORGOT)
        print(f"tracker database locked: {reply!r} after {time.monotonic() - started:.1f} s")
    assert reply == TRY_AGAIN

    # Nothing of the failed turn was kept, in the database or in memory: the conversation reads
    # back as before, and the message sent again is answered and stored once.
    assert product.user_texts(sender) == ["hi"]
    assert ASKS_FOR_DEVICE_ID in product.texts(sender, FORGOT)
    assert product.user_texts(sender) == ["hi", FORGOT]

    log = product.log_since(before)
    assert any("tracker store" in line for line in error_lines(log)), log[-3000:]
    assert FORGOT not in log


async def test_a_web_chat_turn_that_cannot_be_stored_sends_none_of_its_replies(
    product: Product,
) -> None:
    # The turn's answer was worked out in full; only storing it failed. The web chat is sent
    # replies as they are made, so before the turn ended the user had an answer to a turn
    # that is not kept.
    user = ChatUser(product.settings)
    await user.connect()
    try:
        await user.say("hi", until=(GREETING,))
        # The rest of that turn, up to the contract payload that ends it.
        await user.payload(lambda m: m.get("type") == "turn", "the turn payload of hi")
        with locked(product.tracker_db):
            messages = await user.say(FORGOT, until=(TRY_AGAIN,))
        await asyncio.sleep(1.0)  # anything sent after the apology arrives meanwhile
        assert [m.get("text") for m in messages + user.drain()] == [TRY_AGAIN]
        await user.say(FORGOT, until=(ASKS_FOR_DEVICE_ID,))
        assert product.user_texts(user.conversation_id) == ["hi", FORGOT]
    finally:
        await user.leave()


def test_a_new_conversation_while_the_product_database_is_locked_starts_properly_later(
    product: Product,
) -> None:
    sender = new_sender()
    before = product.log_size()

    with locked(product.product_db):
        started = time.monotonic()
        reply = product.texts(sender, FORGOT)
        print(f"product database locked: {reply!r} after {time.monotonic() - started:.1f} s")
    assert "didn't catch that" not in reply
    assert reply == TRY_AGAIN
    assert product.stored_events(sender) == []

    assert ASKS_FOR_DEVICE_ID in product.texts(sender, FORGOT)
    events = product.stored_events(sender)
    assert [e["event"] for e in events].count("session_started") == 1
    assert [e.get("name") for e in events].count("action_session_start") == 1
    assert product.user_texts(sender) == [FORGOT]

    log = product.log_since(before)
    assert any("action_session_start" in line for line in error_lines(log)), log[-3000:]
    assert FORGOT not in log


def test_a_hung_action_server_costs_each_turn_the_timeout_and_queues_no_turn_behind_another(
    product: Product,
) -> None:
    # Every turn runs the conversation controller on the action server (bot/dialogue), so while
    # it hangs no conversation can be answered; what must not happen is a turn waiting for the
    # hung ones to give up before its own call even starts.
    other = new_sender()
    assert GREETING in product.texts(other, "hi")
    # As many new conversations as the server works on at once, each waiting on the action
    # server for its session start.
    senders = [new_sender() for _ in range(DEFAULT_TURNS_AT_ONCE)]
    before = product.log_size()

    with hung(product.settings.actions_port), ThreadPoolExecutor(len(senders)) as pool:
        started = time.monotonic()
        hung_turns = [
            pool.submit(product.texts, sender, FORGOT, 4 * ACTION_CALL_TIMEOUT)
            for sender in senders
        ]
        time.sleep(1.5)
        other_started = time.monotonic()
        other_reply = product.texts(other, "hi", 4 * ACTION_CALL_TIMEOUT)
        other_waited = time.monotonic() - other_started
        replies = [turn.result() for turn in hung_turns]
        failed_after = time.monotonic() - started

    print(f"action server hung: {replies[0]!r} after {failed_after:.1f} s; meanwhile another")
    print(f"conversation's turn failed in {other_waited:.2f} s")
    assert replies == [TRY_AGAIN] * len(senders)
    assert failed_after < ACTION_CALL_TIMEOUT + 5
    assert other_reply == TRY_AGAIN
    # Its own timeout, not the hung turns' as well (which would be twice as long).
    assert other_waited < ACTION_CALL_TIMEOUT + 3
    assert any("action server" in line for line in error_lines(product.log_since(before)))
    # Once it answers again, the conversations go on as if nothing had happened.
    assert GREETING in product.texts(other, "hi")
    for sender in senders:
        assert ASKS_FOR_DEVICE_ID in product.texts(sender, FORGOT)
        assert product.user_texts(sender) == [FORGOT]


def test_a_call_whose_turn_fails_hears_the_phone_channel_s_apology(product: Product) -> None:
    twilio = Twilio(product.settings.rasa_url)
    twilio.post("/webhooks/phone/voice", CallStatus="ringing")  # the language menu
    assert "Device ID" in spoken(twilio.press("1"))
    readback = twilio.say("N as in Nancy, D, four eight, ten twenty seven, 3945, KXQ")
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(readback)

    with hung(product.settings.actions_port):
        answer = twilio.press("1")  # the confirmed ID goes to the dialogue: its first turn

    apology = CONTENT.technical_problem.split("{")[0]
    assert apology in spoken(answer), spoken(answer)
    assert TRY_AGAIN not in spoken(answer)  # "send that again" is the chat's wording


def start_action_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """rasa_sdk's action server with our actions on ``port``, answering; waits without letting
    the test's event loop run (as when the Rasa server is busy with other turns)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    server.kill()
    pytest.fail("the action server did not start")


async def test_a_kept_connection_to_a_restarted_action_server_is_not_used_for_the_next_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Rasa server keeps connections to the action server open between calls. Restarting
    # the action server closes them; a Rasa server busy with other turns has not seen that yet
    # when its next call takes one. Rasa's own call path, patched as the server runs it, against
    # rasa_sdk running our actions, killed and started again on the same port.
    database_url = f"sqlite:///{tmp_path / 'lorex.db'}"
    migrate(database_url)
    env = {**os.environ, "DATABASE_URL": database_url}
    # A restart on this machine can take longer than the 2 s a connection is kept by default.
    monkeypatch.setattr(patched_rasa, "KEEP_IDLE_CONNECTIONS", 60.0)
    port = free_port()
    domain = Domain.load(REPO / "domain")
    action = RemoteAction(
        "action_session_start", EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    )

    async def session_start() -> list[Event]:
        tracker = DialogueStateTracker.from_events("restarted", [], slots=domain.slots)
        nlg = TemplatedNaturalLanguageGenerator(domain.responses)
        return await action.run(CollectingOutputChannel(), nlg, tracker, domain)

    server = start_action_server(port, env)
    with rasa_patched():
        try:
            assert any(isinstance(e, SessionStarted) for e in await session_start())
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            server = start_action_server(port, env)
            assert any(isinstance(e, SessionStarted) for e in await session_start())
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            connector = patched_rasa._connectors.pop(asyncio.get_running_loop(), None)
            if connector is not None:
                await connector.close()
