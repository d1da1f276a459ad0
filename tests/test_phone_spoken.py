"""The spoken Device ID table: transcripts as Twilio delivers them, and the ID each must resolve to.

The table itself (generated forms for every registered ID, and the hand-written tricky ones) is
in ``bench/spoken_table.py``, shared with the benchmark. Resolution goes through the real
registry on a SQLite database seeded from the demo CSV; the ambiguity tests run on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.spoken_table import (
    DEVICE_IDS,
    FORMATS,
    GENERATED,
    HAND_WRITTEN,
    TABLE,
    generated_table,
)
from bot.content import DATA_DIR
from bot.db import Database, migrate
from bot.devices.registry import DeviceRegistry
from bot.phone.content import load_phone_content
from bot.phone.lookup import RegistryIds
from bot.phone.spoken import Piece, Resolution, hear, join_pieces, resolve
from tests.conftest import WriteCsv

CONTENT = load_phone_content()


@pytest.fixture(scope="module")
def registry_ids(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryIds]:
    """The demo registry in a real (SQLite) database, seeded once for the module."""
    path = tmp_path_factory.mktemp("spoken") / "lorex.db"
    migrate(f"sqlite:///{path}")
    database = Database(f"sqlite:///{path}")
    registry = DeviceRegistry(database)
    registry.seed_from_csv(DATA_DIR / "devices.csv")
    yield RegistryIds(registry)
    database.dispose()


def _resolve(pieces: tuple[Piece, ...], registry_ids: RegistryIds) -> Resolution:
    return resolve(pieces, FORMATS, registry_ids, max_swaps=CONTENT.max_confusable_swaps)


def test_the_table_is_big_enough_and_covers_every_family() -> None:
    assert len(TABLE) >= 200
    assert len(HAND_WRITTEN) >= 40
    lengths = {len(expected) for _, expected in TABLE}
    assert lengths == set(FORMATS.device_id_lengths())
    assert all(expected in DEVICE_IDS for _, expected in TABLE)


@pytest.mark.parametrize(("transcript", "expected"), TABLE)
def test_spoken_device_id(transcript: str, expected: str, registry_ids: RegistryIds) -> None:
    heard = hear(transcript, CONTENT)
    resolution = _resolve(heard.pieces, registry_ids)
    assert resolution.complete
    assert resolution.found, f"nothing registered for {heard.text!r}"
    assert resolution.found[0] == expected


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        (
            ["N D four eight", "one oh two seven", "three nine four five", "K X Q"],
            "ND4810273945KXQ",
        ),
        (["um L R X", "one oh four five nine two", "eight three seven"], "LRX104592837"),
        (["lima hotel alpha papa 2048", "1937 5502"], "LHAP204819375502"),
    ],
)
def test_pieces_across_turns(turns: list[str], expected: str, registry_ids: RegistryIds) -> None:
    pieces: tuple[Piece, ...] = ()
    for turn in turns[:-1]:
        pieces = join_pieces(pieces, hear(turn, CONTENT).pieces)
        partial = _resolve(pieces, registry_ids)
        assert partial.could_continue and not partial.found
    pieces = join_pieces(pieces, hear(turns[-1], CONTENT).pieces)
    assert _resolve(pieces, registry_ids).found[0] == expected


@pytest.mark.parametrize(
    "transcript",
    [
        "I forgot my recorder password",
        "yes",
        "where do I find it",
        "I think so",
        "can I talk to a person",
        "",
    ],
)
def test_sentences_hold_no_device_id(transcript: str) -> None:
    assert hear(transcript, CONTENT).pieces == ()


def test_filler_around_an_id_is_counted_but_not_read(registry_ids: RegistryIds) -> None:
    heard = hear("hmm let me look, it's L R X 104592837 I think", CONTENT)
    assert heard.other_words >= 3  # "let", "me", "look", "think"
    assert _resolve(heard.pieces, registry_ids).found == ("LRX104592837",)


def test_an_unregistered_id_is_never_guessed(registry_ids: RegistryIds) -> None:
    resolution = _resolve(hear("X X 1 2 3 4 5 6 7 8 9 0 X X X", CONTENT).pieces, registry_ids)
    assert resolution.complete and resolution.found == ()
    assert resolution.heard == "XX1234567890XXX"


def test_the_serial_number_is_not_a_device_id(registry_ids: RegistryIds) -> None:
    resolution = _resolve(hear("21LX 0483 9201 75", CONTENT).pieces, registry_ids)
    assert resolution.found == ()


def test_look_alikes_the_pattern_decides_are_fixed_in_what_was_heard(
    registry_ids: RegistryIds,
) -> None:
    resolution = _resolve(hear("N C 3 3 oh 7 8 1 5 5 6 2 R T A", CONTENT).pieces, registry_ids)
    assert resolution.heard == "NC3307815562RTA"


def test_swaps_are_bounded(registry_ids: RegistryIds) -> None:
    # Three confusions at once is more than max_confusable_swaps (2): not found, not guessed.
    transcript = "M B 4 8 1 0 2 7 3 9 4 9 K X Q"
    assert _resolve(hear(transcript, CONTENT).pieces, registry_ids).found == ()


def test_every_registered_reading_is_offered_closest_first(
    database: Database, write_devices_csv: WriteCsv
) -> None:
    """B/D/P/T: two registered recorders differ only in a confusable letter; both are offered,
    what was heard first, so the caller confirms one by the read-back."""
    rows = []
    for number, device_id in enumerate(("ND4810273945KXQ", "NB4810273945KXQ", "NT4810273945KXQ")):
        rows.append(
            {
                "device_id": device_id,
                "model": "N841",
                "serial_number": f"21LX04839201{number:02d}",
                "owner_name": "Dana Whitfield",
                "owner_email": "dana@example.com",
                "owner_phone": "+1 416 555 0101",
                "warranty_registered": "yes",
            }
        )
    DeviceRegistry(database).seed_from_csv(write_devices_csv(rows))
    ids = RegistryIds(DeviceRegistry(database))
    resolution = resolve(
        hear("N B 4810 2739 45 KXQ", CONTENT).pieces, FORMATS, ids, max_swaps=2
    )
    assert resolution.found[0] == "NB4810273945KXQ"
    assert set(resolution.found) == {"ND4810273945KXQ", "NB4810273945KXQ", "NT4810273945KXQ"}
    certain = resolve(
        hear("N D as in David 4810 2739 45 KXQ", CONTENT).pieces, FORMATS, ids, max_swaps=2
    )
    assert certain.found == ("ND4810273945KXQ",)


def test_generated_forms_are_stable() -> None:
    # The seed fixes the table: the same forms on every run and every machine.
    assert generated_table() == GENERATED
    assert GENERATED[0] == (GENERATED[0][0], DEVICE_IDS[0])


def test_keypad_letters_file_is_complete() -> None:
    assert "".join(sorted("".join(CONTENT.keypad.groups.values()))) == (
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    )
