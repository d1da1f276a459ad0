# mypy: disable-error-code="import-untyped"
"""One phone call served by two instances of the channel, round-robin, with no stickiness.

Two channels, each on its own Sanic server and its own connection to one real Redis (the call
store of several Rasa instances), on one product database; Twilio is played with signed requests
(tests/test_phone_channel.py's ``Phone``), each request going to the other instance than the one
before. The dialogue is that file's stand-in, shared by both (as Rasa's tracker store is).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.devices.registry import DeviceRegistry
from bot.phone.calls import Seen
from bot.phone.redis_calls import RedisCalls
from tests.conftest import REDIS_URL, WriteCsv
from tests.console_server import free_port
from tests.test_phone_channel import (
    PUBLIC,
    TOKEN,
    FakeDialogue,
    Phone,
    _release,
    provided,
    serving,
    spoken,
)

VAULT_KEY = bytes(range(32))  # (tests/phone_instance.py's too)
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Instance:
    url: str
    calls: RedisCalls
    phone: Phone  # (its channel)


@dataclass
class Cluster:
    instances: list[Instance]
    phone: Phone  # the call, as Twilio makes it

    def on(self, index: int) -> Phone:
        """The call's next request goes to instance ``index``."""
        instance = self.instances[index]
        self.phone.url, self.phone.channel = instance.url, instance.phone.channel
        return self.phone


@pytest.fixture
def cluster(
    database: Any, write_devices_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch, redis_prefix: str
) -> Iterator[Cluster]:
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    dialogue = FakeDialogue(database)
    with ExitStack() as stack:
        instances = []
        for _ in range(2):
            calls = RedisCalls(redis.Redis.from_url(REDIS_URL), VAULT_KEY, prefix=redis_prefix)
            stack.callback(calls.close)
            served = stack.enter_context(serving(database, calls=calls, dialogue=dialogue))
            instances.append(Instance(served.url, calls, served))
        phone = Phone(instances[0].url, instances[0].phone.channel, dialogue)
        yield Cluster(instances, phone)


def _message_id(phone: Phone) -> str:
    """The message id the last request's dialogue turn must carry: Twilio's token."""
    return "client:" + phone.sent[-1].headers["I-Twilio-Idempotency-Token"]


def test_alternate_instances_serve_one_call_from_ring_to_hang_up(cluster: Cluster) -> None:
    phone = cluster.on(0)
    assert "Device ID" in spoken(phone.ring())
    read_back = cluster.on(1).say("N D 4 8 1 0 2 7 3 9 4 5 K X Q")
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(read_back)  # pieces heard on instance 0
    held = cluster.on(0).press("1")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")
    assert phone.dialogue.received[-1].message_id == _message_id(phone)
    assert held.find("Enqueue") is not None
    store = CaseStore(phone.dialogue.database)
    case = store.latest_for_conversation(phone.call_sid)
    assert case is not None and case.status is CaseStatus.QUEUED
    assert cluster.on(1).twiml("/webhooks/phone/wait").find("Leave") is None

    # Released: the message is pushed through instance 0, the caller is on instance 1.
    _release(cluster.on(0), case.code, "K7qX3mNP4a")
    assert cluster.on(1).twiml("/webhooks/phone/wait").find("Leave") is not None
    back = cluster.on(0).twiml("/webhooks/phone/after-queue", QueueResult="leave")
    assert "capital K, as in kilo" in spoken(back)
    # Kept for repeating (sealed on Redis), read back by the other instance.
    assert "capital K, as in kilo" in spoken(cluster.on(1).say("say it again"))
    steps = cluster.on(0).say("ready")
    assert "Step 1 of 10" in spoken(steps)
    answered = cluster.on(1).press("1")
    assert phone.dialogue.received[-1].text == "/step_done"

    # Twilio's retry of that request, on the other instance: the answer given, no second turn.
    turns = len(phone.dialogue.received)
    retried = phone.resend(phone.sent[-1], url=cluster.instances[0].url)
    assert retried.status_code == 200 and spoken(answered) in retried.text
    assert len(phone.dialogue.received) == turns
    # A copy of it (another idempotency token): refused by every instance.
    for instance in cluster.instances:
        copy = phone.resend(phone.sent[-1], url=instance.url, idempotency_token="copy")
        assert copy.status_code == 409
    assert len(phone.dialogue.received) == turns

    assert cluster.on(0).press("1").find("Gather") is not None  # the call goes on
    assert cluster.on(1).hang_up().status_code == 204
    assert cluster.instances[0].calls.get(phone.call_sid) is None
    after = cluster.on(0).post("/webhooks/phone/voice", {"SpeechResult": "hello"})
    assert after.status_code == 200 and "<Hangup" in after.text
    assert len(phone.dialogue.received) == turns + 1


def test_a_replay_sent_to_the_other_instance_is_refused(cluster: Cluster) -> None:
    phone = cluster.on(0)
    phone.ring()
    cluster.on(1).say("help")
    turns = len(phone.dialogue.received)
    for sent in phone.sent:
        for instance in cluster.instances:
            copy = phone.resend(sent, url=instance.url, idempotency_token=str(uuid.uuid4()))
            assert copy.status_code == 409, sent.path
    assert len(phone.dialogue.received) == turns
    assert cluster.instances[1].calls.seen(phone.sent[0].headers["X-Twilio-Signature"], "") is (
        Seen.REPLAY
    )


def test_the_status_callback_racing_a_gather_loses_nothing(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = cluster.on(0)
    phone.ring()
    answering = FakeDialogue.__call__
    started = threading.Event()

    async def slow(self: FakeDialogue, message: Any) -> None:
        started.set()
        await asyncio.sleep(0.5)  # the caller hangs up while the dialogue works
        await answering(self, message)

    monkeypatch.setattr(FakeDialogue, "__call__", slow)
    answers: list[Any] = []
    gather = threading.Thread(target=lambda: answers.append(cluster.on(0).say("my details")))
    gather.start()
    assert started.wait(10)
    hung_up = cluster.on(1).hang_up()
    gather.join()
    assert hung_up.status_code == 204 and answers  # both answered
    for instance in cluster.instances:
        assert instance.calls.has_ended(phone.call_sid)
        assert instance.calls.get(phone.call_sid) is None  # the gather did not bring it back
    case = CaseStore(phone.dialogue.database).latest_for_conversation(phone.call_sid)
    assert case is not None and case.status is CaseStatus.ABANDONED


@contextmanager
def instance_process(
    database_url: str, prefix: str, hang_on: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """tests/phone_instance.py in a process of its own; its URL once it answers, and the
    process."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tests.phone_instance",
            str(port), database_url, REDIS_URL, prefix, hang_on,
        ],
        cwd=ROOT,
        env={**os.environ, "PUBLIC_BASE_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # (importing Rasa takes seconds)
            assert process.poll() is None, "the instance did not start"
            try:
                if requests.get(url + "/webhooks/phone/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_call_goes_on_when_its_instance_is_killed_mid_turn(cluster: Cluster) -> None:
    """Instance 0 is a process of its own; killed (SIGKILL) while it answers a request, before
    saving the call. Twilio's retry of that request reaches instance 1, which waits out the dead
    instance's lock, answers the request (the same message to the dialogue: Twilio's token as its
    message id), and serves the rest of the call."""
    survivor = cluster.instances[1]
    prefix = survivor.calls._prefix
    database_url = survivor.phone.dialogue.database.url
    with instance_process(database_url, prefix, hang_on="help") as (doomed_url, doomed):
        cluster.instances[0] = Instance(doomed_url, survivor.calls, survivor.phone)
        phone = cluster.on(0)
        assert "Device ID" in spoken(phone.ring())
        assert "Settings, then Device Info" in spoken(cluster.on(1).say("where do I find it"))
        turn = phone.channel.calls.get(phone.call_sid)
        assert turn is not None

        cut_off: list[BaseException] = []

        def hanging_request() -> None:
            try:
                cluster.on(0).post("/webhooks/phone/voice", {"SpeechResult": "help"})
            except requests.RequestException as lost:  # the instance died under it
                cut_off.append(lost)

        request = threading.Thread(target=hanging_request)
        request.start()
        client = redis.Redis.from_url(REDIS_URL)
        lock = f"{prefix}call-lock:{phone.call_sid}"
        for _ in range(200):
            if client.exists(lock):
                break
            time.sleep(0.05)
        assert client.exists(lock), "the doomed instance never took the call"
        time.sleep(0.2)  # (into the dialogue turn)
        doomed.send_signal(signal.SIGKILL)
        request.join(30)
        assert cut_off, "the killed instance answered"
        client.close()

    killed = phone.sent[-1]
    turns = len(phone.dialogue.received)
    retried = phone.resend(killed, url=survivor.url)  # Twilio's retry: same token
    assert retried.status_code == 200, retried.text
    assert "label" in retried.text  # the help, answered by the survivor
    assert phone.dialogue.received[-1].text == "help"
    assert phone.dialogue.received[-1].message_id == "client:" + killed.headers[
        "I-Twilio-Idempotency-Token"
    ]
    assert len(phone.dialogue.received) == turns + 1
    phone.follow(ET.fromstring(retried.text))
    copy = phone.resend(killed, url=survivor.url, idempotency_token="copy")
    assert copy.status_code == 409
    read_back = cluster.on(1).press("634810273945597")
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(read_back)
    cluster.on(1).press("1")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")
    assert cluster.on(1).hang_up().status_code == 204
