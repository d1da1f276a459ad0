"""A caller cannot walk the device registry through the phone channel's read-back.

On the phone, a Device ID heard with sounds a recogniser confuses (B/D/P/T, M/N, 5/9 ...) or keyed
on the keypad (6 = M N O) is resolved by the registry, and the registered readings are read back
one at a time ("N D 4 8, ...; say yes or no"). That happens in the channel, before the dialogue's
form (and its failed-check limit) ever sees an ID. What the channel withstands (finding 5 of
issue 13, phone half):

- a caller who keeps saying "no": every registered reading read back and rejected counts as a
  failed Device ID check against the call (its CallSid) and the registry overall, counted before
  it is read; past the limit nothing more is looked up or read back, the caller hears that they
  have tried too many times and is put through to an agent;
- a lookup that finds no registered reading counts as one failure too (keypad misses never reach
  the dialogue);
- an honest caller who confirms the first reading counts nothing (the dialogue's form counts its
  own check of the confirmed ID).

Mostly the channel alone on a real Sanic server (tests/test_phone_channel.py's stand-in dialogue),
signed requests, the real registry and the real failed-check limiter on SQLite and PostgreSQL,
with a small per-conversation limit set the way an operator sets it (``DEVICE_ID_FAILURES_*``);
the last two tests play Twilio against the whole product (real Rasa model and action server).
"""

# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
from __future__ import annotations

import csv
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.db import Database
from bot.devices.check_limits import OVERALL, Scope, Subject, subjects_for
from bot.devices.formats import load_formats
from bot.devices.models import DeviceIdCheckFailures
from bot.devices.registry import DeviceRegistry
from bot.phone.speech import read_back
from bot.serve import Settings
from tests.conftest import SAMPLE_DEVICES, WriteCsv
from tests.running_product import running_product
from tests.security import test_phone_webhook as webhook
from tests.test_phone_channel import CONTENT, PUBLIC, TOKEN, Phone, provided, serving, spoken

PER_CALL = 3
# Six registered IDs a recogniser cannot tell apart when "B" is said on its own (B D P T V E).
LOOK_ALIKES = [f"N{letter}4810273945KXQ" for letter in "BDPTVE"]
SAID = "N B 4810 2739 45 KXQ"


def look_alike_rows() -> list[dict[str, str]]:
    return [
        {**SAMPLE_DEVICES[0], "device_id": device_id, "serial_number": f"21LX04839201{number:02d}"}
        for number, device_id in enumerate(LOOK_ALIKES)
    ]


@pytest.fixture
def phone(
    database: Database, write_devices_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Phone]:
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("DEVICE_ID_FAILURES_PER_CONVERSATION", str(PER_CALL))
    monkeypatch.setenv("DEVICE_ID_FAILURES_OVERALL", "100")
    DeviceRegistry(database).seed_from_csv(write_devices_csv(look_alike_rows()))
    with serving(database) as served:
        yield served


def failures(database: Database, subject: Subject) -> int:
    """Failed checks counted against ``subject`` (any time)."""
    table = DeviceIdCheckFailures.__table__
    with database.session() as session:
        total = session.execute(
            select(func.coalesce(func.sum(table.c.failures), 0)).where(
                table.c.scope == subject.scope.value,
                table.c.subject_hash == subject.key_hash,
            )
        ).scalar_one()
    return int(total)


def call_subject(phone: Phone) -> Subject:
    [subject] = [s for s in subjects_for(conversation=phone.call_sid) if s != OVERALL]
    return subject


def read_backs(text: str) -> list[str]:
    """The registered IDs ``text`` reads back."""
    formats = load_formats()
    return [i for i in LOOK_ALIKES if read_back(i, formats, CONTENT) in text]


def test_a_caller_who_keeps_saying_no_hears_no_more_ids_past_the_limit(phone: Phone) -> None:
    database = phone.dialogue.database
    phone.ring()
    heard = read_backs(spoken(phone.say(SAID)))
    for _ in range(PER_CALL - 1):
        heard += read_backs(spoken(phone.say("no")))
    assert len(heard) == len(set(heard)) == PER_CALL  # one registered reading at a time

    limited = phone.say("no")
    text = spoken(limited)
    assert read_backs(text) == [], text  # no further registered ID is read back
    assert CONTENT.device_id.too_many in text
    # Put through to an agent the way repeated failures are: the dialogue is asked for a person.
    assert phone.dialogue.received[-1].text == "/request_human"
    assert limited.find("Enqueue") is not None
    passed_on = [provided(i) for i in LOOK_ALIKES] + LOOK_ALIKES
    assert all(m.text not in passed_on for m in phone.dialogue.received)  # nothing passed on
    # Each reading was counted as it was read (a confirmation takes it back), none after.
    assert failures(database, call_subject(phone)) == PER_CALL
    assert failures(database, OVERALL) == PER_CALL


def test_past_the_limit_nothing_is_looked_up_or_read_back_for_that_call(phone: Phone) -> None:
    database = phone.dialogue.database
    phone.ring()
    for _ in range(PER_CALL):  # keypad entries the registry does not hold: a failure each
        phone.press("699999999999999")
    assert failures(database, call_subject(phone)) == PER_CALL

    keys = "634810273945597"  # N D 4 8 ... K X Q on the keypad: registered
    text = spoken(phone.press(keys))
    assert read_backs(text) == [], text
    assert CONTENT.device_id.too_many in text
    assert phone.dialogue.received[-1].text == "/request_human"
    assert failures(database, call_subject(phone)) == PER_CALL  # nothing more was checked


def test_an_honest_call_confirming_the_first_reading_counts_nothing(phone: Phone) -> None:
    database = phone.dialogue.database
    phone.ring()
    text = spoken(phone.say("N as in Nancy, D, four eight, ten twenty seven, 3945, KXQ"))
    assert read_backs(text) == ["ND4810273945KXQ"]
    confirmed = phone.press("1")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")
    assert confirmed.find("Enqueue") is not None  # the stand-in dialogue queued the case
    assert failures(database, call_subject(phone)) == 0
    assert failures(database, OVERALL) == 0


def test_a_reading_confirmed_after_a_no_counts_only_the_no(phone: Phone) -> None:
    database = phone.dialogue.database
    phone.ring()
    first = read_backs(spoken(phone.say(SAID)))
    second = read_backs(spoken(phone.say("no")))
    assert len(first) == len(second) == 1 and first != second
    phone.say("yes")
    assert phone.dialogue.received[-1].text == provided(second[0])
    assert failures(database, call_subject(phone)) == 1
    assert failures(database, OVERALL) == 1


def test_each_call_has_its_own_count_and_the_registry_one_for_all(phone: Phone) -> None:
    database = phone.dialogue.database
    for _ in range(2):
        phone.new_call()
        phone.ring()
        phone.say(SAID)  # the first reading, counted as it is read
        phone.say("no")  # rejected: stays counted; the second reading is read
        assert failures(database, call_subject(phone)) == 2
    assert failures(database, OVERALL) == 4


# --- the whole product ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Database]]:
    """The product as ``make run`` starts it (real Rasa model and action server), with the look-
    alike IDs added to its registry and a per-call limit of :data:`PER_CALL`."""
    folder = tmp_path_factory.mktemp("phone-read-back")
    csv_path = folder / "look-alikes.csv"
    with open(csv_path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(look_alike_rows()[0]))
        writer.writeheader()
        writer.writerows(look_alike_rows())
    database_url = f"sqlite:///{folder / 'lorex.db'}"
    with running_product(
        folder,
        database_url=database_url,
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        extra_env={
            "PUBLIC_BASE_URL": webhook.PUBLIC,
            "TWILIO_AUTH_TOKEN": webhook.TOKEN,
            "DEVICE_ID_FAILURES_PER_CONVERSATION": str(PER_CALL),
        },
        setup=[(["seed", "--csv", str(csv_path)], None)],
    ) as (settings, _):
        yield settings, Database(database_url)


def test_on_the_real_product_a_caller_who_keeps_saying_no_is_put_through_to_an_agent(
    product: tuple[Settings, Database],
) -> None:
    settings, database = product
    twilio = webhook.Twilio(settings.rasa_url)
    assert "Device ID" in webhook.spoken(twilio.ring())
    heard = read_backs(webhook.spoken(twilio.say(SAID)))
    for _ in range(PER_CALL - 1):
        heard += read_backs(webhook.spoken(twilio.press("2")))
    assert len(set(heard)) == PER_CALL

    limited = twilio.say("no")
    text = webhook.spoken(limited)
    assert read_backs(text) == [], text
    assert CONTENT.device_id.too_many in text
    assert limited.find("Enqueue") is not None, text
    subject = Subject(Scope.CONVERSATION, twilio.call_sid)
    assert failures(database, subject) == PER_CALL
    twilio.hang_up()


def test_on_the_real_product_an_honest_call_counts_nothing(
    product: tuple[Settings, Database],
) -> None:
    settings, database = product
    twilio = webhook.Twilio(settings.rasa_url)
    twilio.ring()
    text = webhook.spoken(twilio.say(webhook.DEVICE_ID_SPOKEN))
    assert read_backs(text) == ["ND4810273945KXQ"]
    confirmed = webhook.spoken(twilio.press("1"))
    assert "N841" in confirmed or "N 8 4 1" in confirmed
    assert failures(database, Subject(Scope.CONVERSATION, twilio.call_sid)) == 0
    twilio.hang_up()
