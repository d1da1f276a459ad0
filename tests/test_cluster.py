"""`make cluster` holds its conversations when an instance dies: two Rasa instances behind HAProxy
on PostgreSQL and Redis, one killed with SIGKILL in the middle of the owners' conversations.

The owners' clients behave as real ones do: each message carries a key (``Idempotency-Key``) and
is sent again, with the same key, when no answer came back. What must hold: every message answered
once (one answer, no "try again"), every conversation's history complete and in order (each
message kept once), and the killed instance started again by the supervisor.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from bot.cluster.deployment import balancer_files
from bot.content import CONTENT_DIR, load_mapping
from tests.conftest import PostgresServer
from tests.running_cluster import RunningCluster, running_cluster
from tests.running_product import REPO

pytestmark = pytest.mark.postgres

CONVERSATIONS = 20
GIVE_UP_AFTER = 90.0  # seconds a client keeps sending a message again
TRY_AGAIN = load_mapping(CONTENT_DIR / "faults.yml").require("turn_failed", str)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[RunningCluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster"),
        database_url=postgres_server.create_database(),
        tracker_store_url=postgres_server.create_database(),
    ) as running:
        yield running


def registered_devices() -> list[dict[str, str]]:
    with open(REPO / "data" / "devices.csv", newline="") as rows:
        return list(csv.DictReader(rows))


def owner_script(device: dict[str, str]) -> list[str]:
    """How an owner with this recorder might talk (not the training data's sentences)."""
    return [
        "hey so i cant get into my lorex box, forgot the pw",
        "where am i supposed to find that id thing",
        f"ok found it {device['device_id'].lower()}",
        device["owner_name"].lower(),
        device["owner_email"],
        device["owner_phone"],
    ]


@dataclass
class Owner:
    """A REST chat client that sends a message again (same key) until it gets an answer."""

    base_url: str
    sender: str = field(default_factory=lambda: f"cluster-{uuid.uuid4().hex[:10]}")
    answers: list[list[dict[str, Any]]] = field(default_factory=list)
    resent: int = 0

    def say(self, text: str) -> list[dict[str, Any]]:
        key = str(uuid.uuid4())
        deadline = time.monotonic() + GIVE_UP_AFTER
        while True:
            try:
                reply = requests.post(
                    f"{self.base_url}/webhooks/rest/webhook",
                    json={"sender": self.sender, "message": text},
                    headers={"Idempotency-Key": key},
                    timeout=30,
                )
                if reply.status_code == 200:
                    answer: list[dict[str, Any]] = reply.json()
                    self.answers.append(answer)
                    return answer
                problem = f"HTTP {reply.status_code}: {reply.text[:200]}"
            except requests.RequestException as error:
                problem = repr(error)
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer to {text!r} in {GIVE_UP_AFTER} s: {problem}")
            self.resent += 1
            time.sleep(0.5)


def history(cluster: RunningCluster, sender: str) -> list[dict[str, Any]]:
    reply = requests.get(
        f"{cluster.settings.rasa_url}/conversations/{sender}/tracker",
        params={"token": cluster.settings.rasa_api_token},
        timeout=30,
    )
    reply.raise_for_status()
    events: list[dict[str, Any]] = reply.json()["events"]
    return events


def balancer_stats(cluster: RunningCluster) -> dict[str, dict[str, str]]:
    """HAProxy's counters per server (``show stat`` on its admin socket)."""
    _, admin_socket = balancer_files(cluster.settings)
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


def converse_in_rounds(
    cluster: RunningCluster, interrupt: Callable[[], None], at_round: int = 2
) -> list[tuple[Owner, list[str]]]:
    """CONVERSATIONS owners, each round every owner sending their next message at the same
    moment (so the instances have turns in progress), and ``interrupt`` called 0.15 s into round
    ``at_round`` (by default the third message: the Device ID, whose turn calls the action
    server). Checks that every message was answered once and kept once, in order."""
    devices = registered_devices()[:CONVERSATIONS]
    owners = [Owner(cluster.settings.rasa_url) for _ in devices]
    scripts = [owner_script(device) for device in devices]
    failures: list[BaseException] = []
    start_round = threading.Barrier(CONVERSATIONS + 1)

    def converse(owner: Owner, script: list[str]) -> None:
        try:
            for text in script:
                start_round.wait(timeout=GIVE_UP_AFTER * 2)
                owner.say(text)
        except BaseException as error:  # reported below
            failures.append(error)
            start_round.abort()

    threads = [
        threading.Thread(target=converse, args=(owner, script))
        for owner, script in zip(owners, scripts, strict=True)
    ]
    for thread in threads:
        thread.start()
    for round_number in range(len(scripts[0])):
        start_round.wait(timeout=GIVE_UP_AFTER * 2)
        if round_number == at_round:
            time.sleep(0.15)  # the round's turns are under way on both instances
            interrupt()
        else:
            time.sleep(0.5)
    for thread in threads:
        thread.join(timeout=GIVE_UP_AFTER * 2)
    assert not failures, failures

    for owner, script in zip(owners, scripts, strict=True):
        assert len(owner.answers) == len(script)
        for answer in owner.answers:
            assert answer, f"{owner.sender}: an empty answer"
            assert all(TRY_AGAIN not in (m.get("text") or "") for m in answer), owner.sender
        events = history(cluster, owner.sender)
        said = [e["text"] for e in events if e["event"] == "user"]
        assert said == script, f"{owner.sender}: the history holds {said}"
        # Every message kept was answered: a bot message before the next user message.
        turns = "".join(
            "u" if e["event"] == "user" else "b" for e in events if e["event"] in ("user", "bot")
        )
        assert "uu" not in turns and turns.endswith("b"), f"{owner.sender}: {turns}"
    return list(zip(owners, scripts, strict=True))


def retried(cluster: RunningCluster) -> int:
    backend = balancer_stats(cluster)["BACKEND"]
    return int(backend["wretr"]) + int(backend["wredis"])


def unfinished_copies(cluster: RunningCluster) -> int:
    return cluster.log().count("whose first copy did not finish")


def test_an_instance_killed_mid_conversation_loses_and_repeats_nothing(
    cluster: RunningCluster,
) -> None:
    killed: list[int] = []
    retried_before, unfinished_before = retried(cluster), unfinished_copies(cluster)
    converse_in_rounds(cluster, lambda: killed.append(cluster.kill("rasa-1")))

    # The kill met turns in progress: HAProxy sent them again to the other instance, which
    # found their first copies unfinished.
    assert retried(cluster) > retried_before
    assert unfinished_copies(cluster) > unfinished_before

    cluster.wait_until_restarted("rasa-1", killed[0])
    assert "rasa-1 exited (rc=-9)" in cluster.log()
    # Both instances serve again, round-robin.
    late = Owner(cluster.settings.rasa_url)
    for text in ["hello?", "i forgot my recorder password", "what's the device id"]:
        assert late.say(text)
    stats = balancer_stats(cluster)
    assert stats["rasa-1"]["status"] == "UP" and stats["rasa-2"]["status"] == "UP"


def test_an_instance_being_stopped_finishes_its_turns_first(cluster: RunningCluster) -> None:
    stopped: list[int] = []
    unfinished_before = unfinished_copies(cluster)

    def stop_rasa_2() -> None:
        pid = cluster.pid_of("rasa-2")
        os.kill(pid, signal.SIGTERM)
        stopped.append(pid)

    converse_in_rounds(cluster, stop_rasa_2)
    # Drained: no turn was left half-done for another instance to pick up.
    assert unfinished_copies(cluster) == unfinished_before
    cluster.wait_until_restarted("rasa-2", stopped[0])
    assert "rasa-2 exited (rc=0)" in cluster.log()
