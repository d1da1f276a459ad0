"""Device IDs typed on the keypad: digits as they are, letters as the key that carries them."""

from __future__ import annotations

import csv

from bot.content import DATA_DIR
from bot.db import Database
from bot.devices.formats import load_formats
from bot.devices.registry import DeviceRegistry
from bot.phone.content import load_phone_content
from bot.phone.keypad import keypad_readings, resolve_keys
from bot.phone.lookup import RegistryIds
from tests.conftest import SAMPLE_DEVICES, WriteCsv

FORMATS = load_formats()
SCHEME = load_phone_content().keypad
with open(DATA_DIR / "devices.csv", encoding="utf-8", newline="") as _stream:
    DEVICE_IDS = [row["device_id"] for row in csv.DictReader(_stream)]
KEY_OF = {letter: key for key, letters in SCHEME.groups.items() for letter in letters}


def keys_for(device_id: str) -> str:
    return "".join(KEY_OF.get(char, char) for char in device_id)


def test_the_scheme_is_the_phone_keypad() -> None:
    assert keys_for("ND4810273945KXQ") == "634810273945597"
    assert keys_for("LRX104592837") == "579104592837"


def test_readings_keep_digits_and_try_each_letter_on_a_key() -> None:
    readings = keypad_readings("579104592837", FORMATS, SCHEME)
    # legacy pattern AAA999999999: 3 x 4 x 4 letters, the digits fixed
    assert len(readings) == 3 * 4 * 4
    assert "LRX104592837" in readings
    assert all(reading.endswith("104592837") for reading in readings)


def test_a_key_without_letters_cannot_be_a_letter() -> None:
    assert keypad_readings("1" * 15, FORMATS, SCHEME) == []


def test_keys_resolve_to_the_registered_id(database: Database) -> None:
    """Every recorder in the demo registry, typed on the keypad, is found, and only it."""
    registry = DeviceRegistry(database)
    registry.seed_from_csv(DATA_DIR / "devices.csv")
    ids = RegistryIds(registry)
    for device_id in DEVICE_IDS[::10]:
        resolution = resolve_keys(keys_for(device_id), FORMATS, SCHEME, ids)
        assert resolution.found == (device_id,), device_id
        assert resolution.complete


def test_partial_keys_can_continue(database: Database, write_devices_csv: WriteCsv) -> None:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    ids = RegistryIds(DeviceRegistry(database))
    partial = resolve_keys("6348", FORMATS, SCHEME, ids)
    assert partial.could_continue and not partial.complete and partial.found == ()
    wrong = resolve_keys("634810273945598", FORMATS, SCHEME, ids)  # last letter T/U/V, not Q
    assert wrong.complete and wrong.found == ()


def test_two_registered_ids_on_the_same_keys_are_both_offered(
    database: Database, write_devices_csv: WriteCsv
) -> None:
    rows = [
        {**SAMPLE_DEVICES[0]},
        {**SAMPLE_DEVICES[0], "device_id": "NE4810273945KXQ", "serial_number": "21LX0483920199"},
    ]
    DeviceRegistry(database).seed_from_csv(write_devices_csv(rows))
    resolution = resolve_keys(
        "634810273945597", FORMATS, SCHEME, RegistryIds(DeviceRegistry(database))
    )
    assert set(resolution.found) == {"ND4810273945KXQ", "NE4810273945KXQ"}
