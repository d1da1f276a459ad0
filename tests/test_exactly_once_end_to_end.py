"""A REST message sent again with its ``Idempotency-Key`` is processed once, against the real
servers started as `make run` starts them (one instance, memory records). The cluster's test
(tests/test_cluster.py) does the same across instances, one of them killed mid-turn."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.running_product import AssistantClient, running_product

SUPPORTED_ID = "ND4810273945KXQ"  # an N841 in data/devices.csv


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssistantClient]:
    folder: Path = tmp_path_factory.mktemp("product")
    with running_product(
        folder,
        database_url=f"sqlite:///{folder / 'lorex.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
    ) as (settings, _log):
        yield AssistantClient(settings.rasa_url, settings.rasa_api_token)


def post(assistant: AssistantClient, sender: str, text: str, key: str | None) -> Any:
    reply = requests.post(
        f"{assistant.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        headers={"Idempotency-Key": key} if key is not None else {},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def times_heard(assistant: AssistantClient, sender: str, text: str) -> int:
    events = assistant.tracker(sender)["events"]
    return sum(1 for e in events if e["event"] == "user" and e.get("text") == text)


def test_a_message_sent_again_with_its_key_gets_the_same_answer_and_is_processed_once(
    assistant: AssistantClient,
) -> None:
    sender, key = f"once-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    post(assistant, sender, "hi, I forgot the password of my recorder", None)
    text = f"the device id is {SUPPORTED_ID}"
    first = post(assistant, sender, text, key)
    again = post(assistant, sender, text, key)
    assert first and again == first
    assert times_heard(assistant, sender, text) == 1


def test_copies_sent_at_the_same_moment_are_processed_once(assistant: AssistantClient) -> None:
    sender, key = f"once-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    post(assistant, sender, "hello", None)
    text = "where do I find the device id?"
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(assistant, sender, text, key), range(4)))
    assert answers[0] and all(answer == answers[0] for answer in answers)
    assert times_heard(assistant, sender, text) == 1


def test_without_a_key_each_copy_is_a_new_message(assistant: AssistantClient) -> None:
    sender = f"once-{uuid.uuid4().hex[:8]}"
    post(assistant, sender, "hello", None)
    post(assistant, sender, "where do I find the device id?", None)
    post(assistant, sender, "where do I find the device id?", None)
    assert times_heard(assistant, sender, "where do I find the device id?") == 2


def test_a_malformed_key_is_ignored_not_refused(assistant: AssistantClient) -> None:
    sender = f"once-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        assert post(assistant, sender, "hello", "no good")
    assert times_heard(assistant, sender, "hello") == 2
