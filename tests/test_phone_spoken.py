"""The spoken Device ID table: transcripts as Twilio delivers them, and the ID each must resolve to.

The generated half covers every registered ID in ``data/devices.csv`` in one of several speaking
styles (chosen by a fixed seed, so the table never changes between runs); the hand-written half
holds the tricky ones. Resolution goes through the real registry on a SQLite database seeded
from the demo CSV; the ambiguity tests run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator

import pytest

from bot.content import DATA_DIR
from bot.db import Database, migrate
from bot.devices.formats import load_formats
from bot.devices.registry import DeviceRegistry
from bot.phone.content import load_phone_content
from bot.phone.lookup import RegistryIds
from bot.phone.spoken import Piece, Resolution, hear, join_pieces, resolve
from tests.conftest import WriteCsv

FORMATS = load_formats()
CONTENT = load_phone_content()
with open(DATA_DIR / "devices.csv", encoding="utf-8", newline="") as _stream:
    DEVICE_IDS = [row["device_id"] for row in csv.DictReader(_stream)]

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NATO_WORDS = {
    "A": "alpha", "B": "bravo", "C": "charlie", "D": "delta", "E": "echo", "F": "foxtrot",
    "G": "golf", "H": "hotel", "I": "india", "J": "juliet", "K": "kilo", "L": "lima",
    "M": "mike", "N": "november", "O": "oscar", "P": "papa", "Q": "quebec", "R": "romeo",
    "S": "sierra", "T": "tango", "U": "uniform", "V": "victor", "W": "whiskey", "X": "x-ray",
    "Y": "yankee", "Z": "zulu",
}
AS_IN_WORDS = {
    "A": "apple", "B": "boy", "C": "cat", "D": "David", "E": "Edward", "F": "Frank",
    "G": "George", "H": "Harry", "I": "igloo", "J": "John", "K": "king", "L": "Larry",
    "M": "Mary", "N": "Nancy", "O": "orange", "P": "Peter", "Q": "queen", "R": "Robert",
    "S": "Sam", "T": "Tom", "U": "umbrella", "V": "Victor", "W": "William", "X": "xylophone",
    "Y": "yellow", "Z": "zebra",
}
TENS_WORDS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty"]
TENS_WORDS.append("ninety")
TEENS_WORDS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"
FILLERS = ["", "um, ", "uh it's ", "okay so my device ID is ", "it is ", "um, the ID is "]


def _digit(char: str, oh: bool) -> str:
    return "oh" if char == "0" and oh else DIGIT_WORDS[int(char)]


def _pair(pair: str) -> str:
    """Two digits as a person says them in pairs: 48 forty eight, 10 ten, 07 oh seven."""
    if len(pair) == 1:
        return DIGIT_WORDS[int(pair)]
    first, second = int(pair[0]), int(pair[1])
    if first == 0:
        return f"oh {DIGIT_WORDS[second]}"
    if first == 1:
        return TEENS_WORDS.split()[second]
    if second == 0:
        return TENS_WORDS[first]
    return f"{TENS_WORDS[first]} {DIGIT_WORDS[second]}"


def _runs(device_id: str) -> Iterator[str]:
    start = 0
    for i in range(1, len(device_id) + 1):
        if i == len(device_id) or device_id[i] != device_id[start]:
            yield device_id[start:i]
            start = i


def _say(device_id: str, style: int, rng: random.Random) -> str:
    letter_styles = {
        0: lambda c: c,
        1: lambda c: NATO_WORDS[c],
        2: lambda c: f"{c} as in {AS_IN_WORDS[c]}",
        3: lambda c: f"{c} for {AS_IN_WORDS[c]}",
    }
    if style == 4:  # as printed on the label, in groups
        return FORMATS.group(device_id)
    if style == 5:  # double / triple for repeated characters
        words = []
        for run in _runs(device_id):
            say = NATO_WORDS[run[0]] if run[0].isalpha() else _digit(run[0], oh=True)
            if len(run) == 1:
                words.append(say)
            elif len(run) == 2:
                words.append(f"double {say}")
            elif len(run) == 3:
                words.append(f"triple {say}")
            else:
                words.extend([say] * len(run))
        return " ".join(words)
    if style == 6:  # digits in pairs, letters NATO
        letters = "".join(c for c in device_id if c.isalpha())
        digits = "".join(c for c in device_id if c.isdigit())
        lead = device_id.index(digits[0])
        head = " ".join(NATO_WORDS[c] for c in letters[:lead])
        pairs = [_pair(digits[i : i + 2]) for i in range(0, len(digits), 2)]
        tail = " ".join(NATO_WORDS[c] for c in letters[lead:])
        return " ".join(part for part in (head, ", ".join(pairs), tail) if part)
    say_letter = letter_styles[style % 4]
    oh = rng.random() < 0.5
    return ", ".join(
        say_letter(c) if c.isalpha() else _digit(c, oh) for c in device_id
    )


def generated_table() -> list[tuple[str, str]]:
    rng = random.Random(20261125)
    table = []
    for index, device_id in enumerate(DEVICE_IDS):
        style = index % 7
        table.append((rng.choice(FILLERS) + _say(device_id, style, rng), device_id))
    return table


GENERATED = generated_table()

# (transcript, expected Device ID) written by hand: what real callers and recognisers do.
HAND_WRITTEN: list[tuple[str, str]] = [
    ("N D 4 8 1 0 2 7 3 9 4 5 K X Q", "ND4810273945KXQ"),
    ("ND48 1027 3945 KXQ", "ND4810273945KXQ"),
    ("nd48 1027 3945 kxq", "ND4810273945KXQ"),
    ("Um, it's N as in Nancy, D as in David, forty eight, ten twenty seven, thirty nine forty "
     "five, K X Q.", "ND4810273945KXQ"),
    ("november delta for eight one oh two seven three nine four five kilo x-ray queue",
     "ND4810273945KXQ"),
    ("N D 48 10 27 39 45 KXQ", "ND4810273945KXQ"),
    ("N. D. 4. 8. 1. 0. 2. 7. 3. 9. 4. 5. K. X. Q.", "ND4810273945KXQ"),
    ("en dee four eight one zero two seven three nine four five kay ex cue", "ND4810273945KXQ"),
    ("N like Nancy D like dog 4810 2739 45 K like king X like x-ray Q like queen",
     "ND4810273945KXQ"),
    # The recogniser wrote B for D: the registry has only the D reading.
    ("N B 4 8 1 0 2 7 3 9 4 5 K X Q", "ND4810273945KXQ"),
    # M for N, and nine for five: two confusions, still one registered reading.
    ("M D 4 8 1 0 2 7 3 9 4 9 K X Q", "ND4810273945KXQ"),
    # The spelling word decides over the letter the recogniser wrote.
    ("N, T as in David, 4810 2739 45 KXQ", "ND4810273945KXQ"),
    ("as in Nancy as in David 4810273945 as in king as in x-ray as in queen", "ND4810273945KXQ"),
    ("L R X one oh four five nine two eight three seven", "LRX104592837"),
    ("LRX 104 592 837", "LRX104592837"),
    ("lima romeo x-ray one zero four, five nine two, eight three seven", "LRX104592837"),
    ("L R X ten four five ninety two eighty three seven", "LRX104592837"),
    ("it's L R X one hundred four, five nine two eight three seven", "LRX104592837"),
    ("NC33 0781 5562 RTA", "NC3307815562RTA"),
    ("november charlie double three oh seven eight one double five six two romeo tango alpha",
     "NC3307815562RTA"),
    ("N C 3 3 O 7 8 1 5 5 6 2 R T A", "NC3307815562RTA"),  # O where a digit belongs is 0
    ("N C thirty three oh seven eighty one fifty five sixty two R T A", "NC3307815562RTA"),
    ("N see 3 3 0 7 8 1 5 5 6 2 are tea a", "NC3307815562RTA"),  # weak letters inside the ID
    ("LHAP 2048 1937 5502", "LHAP204819375502"),
    ("L H A P twenty forty eight nineteen thirty seven fifty five oh two", "LHAP204819375502"),
    ("lima hotel alpha papa two zero four eight one nine three seven double five zero two",
     "LHAP204819375502"),
    ("um uh L, H, A, P, 2 0 4 8, 1 9 3 7, 5 5 0 2", "LHAP204819375502"),
    ("L H A B 2048 1937 5502", "LHAP204819375502"),  # B for P
    ("KR2171497774PNF", "KR2171497774PNF"),
    ("K R 2 1 7 1 4 9 triple seven 4 P N F", "KR2171497774PNF"),
    ("kilo romeo twenty one seventy one forty nine seventy seven seventy four papa november "
     "foxtrot", "KR2171497774PNF"),
    ("K R 2 1 7 1 4 9 7 7 7 4 P N S", "KR2171497774PNF"),  # S for F
    ("B Q 1 5 6 0 2 9 8 0 5 4 G P P", "BQ1560298054GPP"),
    ("bravo quebec fifteen sixty twenty nine eighty fifty four golf double papa",
     "BQ1560298054GPP"),
    ("D Q 1 5 6 0 2 9 8 0 5 4 G P P", "BQ1560298054GPP"),  # D for B
    ("W C 3 1 0 0 4 0 6 6 3 0 X Y Z", "WC3100406630XYZ"),
    ("double you C 3100 4066 30 X Y Z", "WC3100406630XYZ"),
    ("whiskey charlie thirty one double oh forty sixty six thirty x-ray yankee zulu",
     "WC3100406630XYZ"),
    ("W C 3 1 double oh 4 oh double six 3 oh X why zed", "WC3100406630XYZ"),
    ("ZV8973806173MZN", "ZV8973806173MZN"),
    ("Z V 8 9 7 3 8 0 6 1 7 3 M Z M", "ZV8973806173MZN"),  # M for N at the end
    ("so it's zulu victor eight nine seven three eight zero six one seven three mike zulu "
     "november", "ZV8973806173MZN"),
]

TABLE = GENERATED + HAND_WRITTEN


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
