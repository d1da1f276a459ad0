"""`make cluster` holds its conversations when an instance dies: two Rasa instances behind HAProxy
on PostgreSQL and Redis, one killed with SIGKILL in the middle of the owners' conversations.

Ten REST owners, ten web chat owners and five callers talk through the balancer at once. Their
clients behave as real ones do (tests/cluster_clients.py): each message carries a key and is sent
again, with the same key, when no answer came back. What must hold: every message answered once
(no "try again", the web chat shows each bot message once), every conversation's history
complete and in order (each message kept once), every call continuing to the queue, a password
released while its owner's instance is down delivered once, and the killed instance started
again by the supervisor.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher

from bot.agents.accounts import AgentAccounts
from bot.cases.store import CaseStore
from bot.cluster.deployment import instances
from bot.content import CONTENT_DIR, load_mapping
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from tests.cluster_clients import (
    GIVE_UP_AFTER,
    PUBLIC,
    Caller,
    RestOwner,
    SocketOwner,
    spoken,
)
from tests.conftest import PostgresServer
from tests.running_cluster import RunningCluster, running_cluster
from tests.running_product import REPO

pytestmark = pytest.mark.postgres

REST_OWNERS, SOCKET_OWNERS, CALLERS = 10, 10, 5
TURNS_UNDER_WAY = 3  # turns the instance interrupted is working on at that moment
TWILIO_TOKEN = "cluster-twilio-token-" + uuid.uuid4().hex
TRY_AGAIN = load_mapping(CONTENT_DIR / "faults.yml").require("turn_failed", str)


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> Iterator[RunningCluster]:
    with running_cluster(
        tmp_path_factory.mktemp("cluster"),
        database_url=postgres_server.create_database(),
        tracker_store_url=postgres_server.create_database(),
        extra_env={
            "PUBLIC_BASE_URL": PUBLIC,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        },
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


def history(cluster: RunningCluster, sender: str) -> list[dict[str, Any]]:
    reply = requests.get(
        f"{cluster.settings.rasa_url}/conversations/{sender}/tracker",
        params={"token": cluster.settings.rasa_api_token},
        timeout=30,
    )
    reply.raise_for_status()
    events: list[dict[str, Any]] = reply.json()["events"]
    return events


def call_script(device: dict[str, str]) -> list[str]:
    """A caller with this recorder: Twilio's steps (ring, keys) and what the caller says."""
    email = device["owner_email"].replace(".", " dot ").replace("@", " at ")
    digits = [d for d in device["owner_phone"] if d.isdigit()][1:]  # without the country code
    return [
        "ring",
        "it's " + " ".join(device["device_id"]),
        "press:1",
        device["owner_name"],
        email,
        " ".join(digits),
    ]


Participant = RestOwner | SocketOwner | Caller


def lines(texts: list[str]) -> list[str]:
    """Texts as the lines a person reads (channels split a message into paragraphs)."""
    return [line.strip() for text in texts for line in text.splitlines() if line.strip()]


def converse_in_rounds(
    cluster: RunningCluster, target: str, interrupt: Callable[[], None], at_round: int = 2
) -> list[tuple[Participant, list[str]]]:
    """Ten REST owners, ten web chat owners and five callers, all through the balancer, each
    round every one of them sending their next message at the same moment (so the instances
    have turns in progress), and ``interrupt`` called in round ``at_round`` (by default the
    third: the Device ID, whose turn calls the action server) once the instance ``target`` is
    working on several turns. Checks that every message was answered once and kept once, in
    order."""
    url = cluster.settings.rasa_url
    devices = registered_devices()
    participants: list[tuple[Participant, list[str]]] = [
        *((RestOwner(url), owner_script(d)) for d in devices[:REST_OWNERS]),
        *(
            (SocketOwner(url), owner_script(d))
            for d in devices[REST_OWNERS : REST_OWNERS + SOCKET_OWNERS]
        ),
        *(
            (Caller(url, TWILIO_TOKEN), call_script(d))
            for d in devices[REST_OWNERS + SOCKET_OWNERS :][:CALLERS]
        ),
    ]
    for participant, _ in participants:
        if isinstance(participant, SocketOwner):
            participant.connect()
    failures: list[BaseException] = []
    start_round = threading.Barrier(len(participants) + 1)

    def converse(participant: Participant, script: list[str]) -> None:
        try:
            for text in script:
                start_round.wait(timeout=GIVE_UP_AFTER * 2)
                participant.say(text)
        except BaseException as error:  # reported below
            failures.append(error)
            start_round.abort()

    threads = [threading.Thread(target=converse, args=pair) for pair in participants]
    for thread in threads:
        thread.start()
    for round_number in range(len(participants[0][1])):
        start_round.wait(timeout=GIVE_UP_AFTER * 2)
        if round_number == at_round:
            # Once ``target`` is working on several turns (their claims on Redis name it).
            deadline = time.monotonic() + 5
            while (
                cluster.turns_in_progress(target) < TURNS_UNDER_WAY
                and time.monotonic() < deadline
            ):
                time.sleep(0.002)
            interrupt()
        else:
            time.sleep(0.5)
    for thread in threads:
        thread.join(timeout=GIVE_UP_AFTER * 2)
    assert not failures, failures

    for participant, script in participants:
        events = history(cluster, participant.conversation_id)
        users = [e for e in events if e["event"] == "user"]
        # Every message kept was answered: a bot message before the next user message.
        turns = "".join(
            "u" if e["event"] == "user" else "b" for e in events if e["event"] in ("user", "bot")
        )
        assert "uu" not in turns and turns.endswith("b"), f"{participant}: {turns}"
        said_by_bot = lines([e.get("text") or "" for e in events if e["event"] == "bot"])
        assert all(TRY_AGAIN not in line for line in said_by_bot), participant
        if isinstance(participant, Caller):
            # The phone channel turns words and keys into the dialogue's messages: each
            # request's message is kept once (its idempotency token names it).
            ids = [e.get("message_id") for e in users]
            assert len(ids) == len(set(ids)), f"{participant.call_sid}: {ids}"
            assert len(participant.answers) == len(script)
            assert participant.answers[-1].find(".//Enqueue") is not None, spoken(
                participant.answers[-1]
            )
            continue
        assert [e["text"] for e in users] == script, f"{participant}: {users}"
        if isinstance(participant, RestOwner):
            assert len(participant.answers) == len(script)
            for answer in participant.answers:
                assert answer, f"{participant.sender}: an empty answer"
        else:
            # The web chat got each bot message once: what it shows is what the history holds.
            shown = lines([m.get("text") or "" for m in participant.received])
            assert shown == said_by_bot, participant.conversation_id
            participant.close()
    return participants


def retried(cluster: RunningCluster) -> int:
    backend = cluster.balancer_stats()["BACKEND"]
    return int(backend["wretr"]) + int(backend["wredis"])


def unfinished_copies(cluster: RunningCluster) -> int:
    return cluster.log().count("whose first copy did not finish")


def test_an_instance_killed_mid_conversation_loses_and_repeats_nothing(
    cluster: RunningCluster,
) -> None:
    killed: list[int] = []
    retried_before, unfinished_before = retried(cluster), unfinished_copies(cluster)
    converse_in_rounds(cluster, "rasa-1", lambda: killed.append(cluster.kill("rasa-1")))

    # The kill met turns in progress: HAProxy sent them again to the other instance, which
    # found their first copies unfinished.
    assert retried(cluster) > retried_before
    assert unfinished_copies(cluster) > unfinished_before

    cluster.wait_until_restarted("rasa-1", killed[0])
    assert "rasa-1 exited (rc=-9)" in cluster.log()
    # Both instances serve again, round-robin.
    late = RestOwner(cluster.settings.rasa_url)
    for text in ["hello?", "i forgot my recorder password", "what's the device id"]:
        assert late.say(text)
    stats = cluster.balancer_stats()
    assert stats["rasa-1"]["status"] == "UP" and stats["rasa-2"]["status"] == "UP"


def test_an_instance_being_stopped_finishes_its_turns_first(cluster: RunningCluster) -> None:
    stopped: list[int] = []
    unfinished_before = unfinished_copies(cluster)

    def stop_rasa_2() -> None:
        pid = cluster.pid_of("rasa-2")
        os.kill(pid, signal.SIGTERM)
        stopped.append(pid)

    converse_in_rounds(cluster, "rasa-2", stop_rasa_2)
    # Drained: no turn was left half-done for another instance to pick up.
    assert unfinished_copies(cluster) == unfinished_before
    cluster.wait_until_restarted("rasa-2", stopped[0])
    assert "rasa-2 exited (rc=0)" in cluster.log()


def test_a_password_released_while_its_owners_instance_is_down_is_delivered_once(
    cluster: RunningCluster,
) -> None:
    # The owner's web chat is on rasa-1 (connected to it directly, so the test knows which).
    owners_instance = instances(cluster.settings)[0]
    owner = SocketOwner(owners_instance.rasa_url)
    owner.connect()
    for text in owner_script(registered_devices()[40]):
        owner.say(text)
    database = Database(cluster.environment["DATABASE_URL"])
    case = CaseStore(database).latest_for_conversation(owner.conversation_id)
    assert case is not None and case.status.value == "queued"
    desk = SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())
    agent = AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024)).create(
        "alice", "Alice", "correct horse battery staple"
    )

    killed = cluster.kill(owners_instance.name)

    async def release() -> None:
        # The console's release reaches the surviving instance through the balancer.
        agent_desk = AgentDesk(
            desk, RasaBridge(cluster.settings.rasa_url, cluster.settings.rasa_api_token)
        )
        assert (await agent_desk.claim(case.code, agent)).problem is None
        outcome = await agent_desk.release(case.code, agent, releases_seen=0)
        assert outcome.problem is None, outcome.problem

    asyncio.run(release())
    cluster.wait_until_restarted(owners_instance.name, killed)

    def passwords() -> list[str]:
        return [
            m["temporary_password"]["value"]
            for m in list(owner.received)
            if "temporary_password" in m and "value" in m["temporary_password"]
        ]

    deadline = time.monotonic() + GIVE_UP_AFTER
    while not passwords() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # a second copy would have come by now
    given = passwords()
    assert len(given) == 1, given
    assert desk.verify_secret(case.code, given[0])
    owner.close()
    database.dispose()
