"""Device ID entry by ear and keypad (bot/phone/device_id_entry.py), on the real registry and the
real failed-check limiter: what each turn decides, and that only a confirmed ID is passed on,
as the provide_device_id intent. Entry's commands (lookups, counting) are carried out as the
call flow's shell does (bot/phone/lookup.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.db import Database
from bot.devices.check_limits import SqlFailedCheckLimiter
from bot.devices.formats import load_formats
from bot.devices.registry import DeviceRegistry
from bot.phone.calls import Call
from bot.phone.content import load_phone_content
from bot.phone.device_id_entry import Ask, DeviceIdEntry, Failed, Outcome, Pass
from bot.phone.lookup import DeviceIdLookups, RegistryIds
from tests.conftest import WriteCsv

CONTENT = load_phone_content()


@dataclass(frozen=True)
class Entering:
    """Entry's transitions, each settled by carrying out its commands."""

    entry: DeviceIdEntry
    lookups: DeviceIdLookups

    def turn(self, call: Call, speech: str, digits: str) -> Outcome:
        return self.lookups.settle(self.entry, call, self.entry.turn(call, speech, digits))

    def confirm(self, call: Call, answer: bool | None) -> Outcome:
        return self.lookups.settle(self.entry, call, self.entry.confirm(call, answer))


@pytest.fixture
def entry(database: Database, write_devices_csv: WriteCsv) -> Entering:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    formats = load_formats()
    limiter = SqlFailedCheckLimiter(database)
    lookups = DeviceIdLookups(RegistryIds(DeviceRegistry(database)), limiter, formats, CONTENT)
    return Entering(DeviceIdEntry(CONTENT, formats), lookups)


def new_call() -> Call:
    return Call("CA" + "0" * 32, None)


def test_a_confirmed_reading_is_passed_on_as_the_intent(entry: Entering) -> None:
    call = new_call()
    asked = entry.turn(call, "N as in Nancy D four eight ten twenty seven 3945 K X Q", "")
    assert isinstance(asked, Ask) and asked.kind == "confirm"
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in asked.sayings[0]
    passed = entry.confirm(call, True)
    assert passed == Pass('/provide_device_id{"device_id": "ND4810273945KXQ"}')
    assert call.candidates == ()


def test_no_to_the_only_reading_asks_again_and_passes_nothing(entry: Entering) -> None:
    call = new_call()
    entry.turn(call, "N D 4 8 1 0 2 7 3 9 4 5 K X Q", "")
    assert entry.confirm(call, False) == Ask((CONTENT.device_id.retry,), "device_id")


def test_pieces_wait_for_the_rest_and_start_again_clears_them(entry: Entering) -> None:
    call = new_call()
    piece = entry.turn(call, "L R X", "")
    assert isinstance(piece, Ask) and piece.kind == "device_id" and call.id_pieces
    assert entry.turn(call, "scratch that", "") == Ask(
        (CONTENT.device_id.start_again,), "device_id"
    )
    assert call.id_pieces == ()


def test_a_question_goes_to_the_dialogue_as_said(entry: Entering) -> None:
    assert entry.turn(new_call(), "where do I find it", "") == Pass("where do I find it")


def test_keys_no_registered_recorder_holds_are_a_failed_turn(entry: Entering) -> None:
    failed = entry.turn(new_call(), "", "699999999999999")
    assert isinstance(failed, Failed) and failed.saying is not None
    assert CONTENT.keypad.help in failed.saying


def test_a_serial_number_read_out_goes_to_the_dialogue_to_be_explained(
    entry: Entering,
) -> None:
    call = new_call()
    said = entry.turn(call, "two one L X zero four eight three nine two zero one seven five", "")
    assert said == Pass("21LX0483920175")
    assert call.id_pieces == ()


@pytest.mark.parametrize(
    "speech",
    ["hi i already have a case, the code is LX-YEZJXM", "my case is L X Y E Z J X M"],
)
def test_a_case_code_goes_to_the_dialogue_written_as_typed(
    entry: Entering, speech: str
) -> None:
    assert entry.turn(new_call(), speech, "") == Pass("LX-YEZJXM")


def test_a_device_id_is_not_taken_for_a_case_code(entry: Entering) -> None:
    asked = entry.turn(new_call(), "L R X one oh four five nine two eight three seven", "")
    assert isinstance(asked, Ask) and asked.kind == "confirm"
