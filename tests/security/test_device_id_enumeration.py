# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Nobody can walk the device registry for valid Device IDs, nor turn a serial into an ID.

What the product withstands here (finding 5 of issue 13):

- a script typing guess after guess in one conversation: after 10 failed checks in an hour
  (restarting the form changes nothing) the assistant checks no more, says so plainly and
  offers a person;
- a fresh conversation for every guess, and guesses sent as label photos with no conversation
  at all: the client address (30 an hour) and the registry as a whole (100 an hour, OWASP ASVS
  2.2.1) are limited too; the label-photo reader answers 429 with a JSON error;
- parallel requests: every failure is counted atomically before the check (SQLite and
  PostgreSQL), so a burst cannot slip past a limit;
- a registered serial number: the assistant names the model but never the Device ID, in the
  reply, the conversation's events or the label-photo answer.

Against the running product (REST channel, label-photo endpoint) and the real databases.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from bot.db import UTC, Database
from bot.devices.check_limits import (
    OVERALL,
    Limits,
    Scope,
    SqlFailedCheckLimiter,
    Subject,
    subjects_for,
)
from bot.devices.models import DeviceIdCheckFailures
from tests.security.enumeration import guessed_device_id, qr_png
from tests.security.product import Product, started_product

SUPPORTED_ID = "ND4810273945KXQ"
SERIAL = "21LX0483920175"  # the N841's serial number in data/devices.csv
LIMITS = Limits()  # the defaults the product runs with


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    with started_product(tmp_path_factory.mktemp("enumeration")) as running:
        yield running


def new_sender() -> str:
    return f"enum-{uuid.uuid4().hex[:10]}"


def label_photo(product: Product, text: str) -> requests.Response:
    return requests.post(
        f"{product.rasa_url}/webhooks/widget/label-photo", data=qr_png(text), timeout=60
    )


# --- the running product (these run in order: they share its counts) ---------------------------


def test_a_serial_number_never_reveals_its_device_id(product: Product) -> None:
    sender = new_sender()
    product.texts(sender, "I forgot my recorder password")
    reply = product.texts(sender, SERIAL)
    assert "serial number" in reply and "N841" in reply
    grouped = "ND48 1027 3945 KXQ"
    assert SUPPORTED_ID not in reply and grouped not in reply
    events = str(product.tracker(sender)["events"])
    assert SUPPORTED_ID not in events and grouped not in events

    answer = label_photo(product, SERIAL)
    assert answer.status_code == 200
    assert SUPPORTED_ID not in answer.text and grouped not in answer.text
    assert answer.json()["outcome"] == "serial_number"


def test_one_conversation_gets_a_limited_number_of_guesses(product: Product) -> None:
    sender = new_sender()
    product.texts(sender, "I forgot my recorder password")
    rng = random.Random(7)
    checked = 0
    for _ in range(LIMITS.per_conversation + 5):
        reply = product.texts(sender, guessed_device_id(rng))
        if "couldn't find" in reply:
            checked += 1
            continue
        if "too many" in reply:
            break
    # The serial number above was another conversation's; this one had its own ten.
    assert checked == LIMITS.per_conversation
    assert "support agent" in reply, reply
    assert "too many" in reply
    # A real Device ID is not checked either now; a person is offered instead.
    assert "too many" in product.texts(sender, SUPPORTED_ID)
    slots = product.tracker(sender)["slots"]
    assert slots["device_id"] is None
    assert (slots["dialogue_state"], slots["offer_reason"]) == ("offer_agent", "device_id_limited")
    # Taking the offer queues a case for an agent, who can look the recorder up.
    assert "LX-" in product.texts(sender, "yes")


def test_fresh_conversations_share_the_client_and_overall_limits(product: Product) -> None:
    rng = random.Random(8)
    checked = limited = 0
    for _ in range(LIMITS.overall + 5):
        reply = product.texts(new_sender(), f"my device id is {guessed_device_id(rng)}")
        if "couldn't find" in reply:
            checked += 1
        elif "too many" in reply:
            limited += 1
            break
    assert limited == 1
    # All of this client's failures: one serial, the first conversation's ten, and these.
    assert 1 + LIMITS.per_conversation + checked <= LIMITS.overall


def test_label_photos_are_limited_with_a_json_answer(product: Product) -> None:
    rng = random.Random(9)
    answers = [label_photo(product, guessed_device_id(rng)) for _ in range(LIMITS.overall)]
    statuses = [answer.status_code for answer in answers]
    assert 429 in statuses, statuses
    refused = answers[statuses.index(429)]
    assert refused.json()["error"] == "too_many_attempts"
    assert "support agent" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) > 0
    # Once refused, even a registered ID is not checked for this client.
    assert label_photo(product, SUPPORTED_ID).status_code == 429


# --- the count itself, on SQLite and PostgreSQL -------------------------------------------------


@pytest.fixture
def limiter_database(database: Database) -> Database:
    table = DeviceIdCheckFailures.__table__
    with database.session() as session:
        session.execute(table.delete())
    return database


def test_a_burst_of_parallel_failures_never_passes_the_limit(limiter_database: Database) -> None:
    limiter = SqlFailedCheckLimiter(limiter_database, Limits(10, 1000, 1000))
    subjects = subjects_for(conversation="burst", client_address="203.0.113.7")
    granted: list[bool] = []
    start = threading.Barrier(24)

    def attempt() -> None:
        start.wait()
        granted.append(limiter.reserve(subjects) is not None)

    threads = [threading.Thread(target=attempt) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 10
    assert limiter.limit_reached(subjects)


def test_a_check_that_did_not_fail_is_forgiven(limiter_database: Database) -> None:
    limiter = SqlFailedCheckLimiter(limiter_database, Limits(2, 2, 2))
    subjects = subjects_for(conversation="owner")
    for _ in range(5):
        reservation = limiter.reserve(subjects)
        assert reservation is not None
        limiter.forgive(reservation)
    assert not limiter.limit_reached(subjects)


def test_each_scope_is_counted_on_its_own(limiter_database: Database) -> None:
    limiter = SqlFailedCheckLimiter(limiter_database, Limits(2, 3, 100))
    assert limiter.reserve(subjects_for(conversation="a", client_address="198.51.100.1"))
    assert limiter.reserve(subjects_for(conversation="a", client_address="198.51.100.1"))
    # Conversation "a" is done; its address has one failure left for another conversation.
    assert limiter.reserve(subjects_for(conversation="a", client_address="198.51.100.1")) is None
    assert limiter.reserve(subjects_for(conversation="b", client_address="198.51.100.1"))
    assert limiter.reserve(subjects_for(conversation="c", client_address="198.51.100.1")) is None
    # A phone call has no address: its conversation and the registry still count.
    assert subjects_for(conversation="CA123") == tuple(
        sorted([OVERALL, Subject(Scope.CONVERSATION, "CA123")], key=lambda s: s.scope.value)
    )
    assert limiter.reserve(subjects_for(conversation="CA123"))


def test_failures_older_than_an_hour_no_longer_count_and_are_pruned(
    limiter_database: Database,
) -> None:
    now = [datetime(2026, 12, 1, 9, 0, tzinfo=UTC)]
    limiter = SqlFailedCheckLimiter(limiter_database, Limits(3, 3, 3), clock=lambda: now[0])
    subjects = subjects_for(conversation="slow")
    for _ in range(3):
        assert limiter.reserve(subjects)
    assert limiter.reserve(subjects) is None
    now[0] += timedelta(minutes=59)
    assert limiter.reserve(subjects) is None  # still within the hour
    now[0] += timedelta(minutes=12)
    assert limiter.reserve(subjects)
    now[0] += timedelta(hours=3)
    assert limiter.reserve(subjects)
    table = DeviceIdCheckFailures.__table__
    with limiter_database.session() as session:
        buckets = session.execute(select(table.c.bucket_start)).scalars().all()
    assert buckets and all(bucket >= now[0] - timedelta(minutes=10) for bucket in buckets)
