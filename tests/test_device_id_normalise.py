"""Device ID formats (the data file and its loader), normalisation and extraction, as properties.

The table of concrete messages is ``test_device_id_table.py``; here hypothesis varies separators,
case, look-alikes, surrounding words and plain junk around the real registry's IDs.
"""

from __future__ import annotations

import csv
import re
import string
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.content import DATA_DIR, ContentError
from bot.devices.checks import check_device_id
from bot.devices.extraction import DeviceIdExtractor
from bot.devices.formats import (
    DEFAULT_FORMATS_PATH,
    DIGIT,
    LETTER,
    UnknownFamilyError,
    UnknownModelError,
    load_formats,
    matches_pattern,
)
from bot.devices.normalise import (
    SEPARATOR_CHARACTERS,
    compact,
    normalise_device_id,
    resolve_lookalikes,
)
from bot.devices.record import DeviceRecord

FORMATS = load_formats()
EXTRACTOR = DeviceIdExtractor(FORMATS)

with open(DATA_DIR / "devices.csv", encoding="utf-8", newline="") as _stream:
    REGISTERED = [(row["device_id"], row["model"]) for row in csv.DictReader(_stream)]
DEVICE_IDS = [device_id for device_id, _ in REGISTERED]


class NoDevices:
    def find_by_device_id(self, device_id: str) -> DeviceRecord | None:
        return None

    def find_by_serial(self, serial_number: str) -> DeviceRecord | None:
        return None


# --- the formats file and its loader


def test_default_formats_are_loaded_once() -> None:
    assert load_formats() is load_formats()
    assert load_formats(DEFAULT_FORMATS_PATH) == load_formats()
    assert load_formats(DEFAULT_FORMATS_PATH) is not load_formats()


def test_formats_content() -> None:
    assert FORMATS.device_id_lengths() == [12, 15, 16]
    assert FORMATS.family_for_model("N843").name == "n_series"
    assert FORMATS.family_for_model(" n831 ").route == "n831"
    assert FORMATS.family("legacy").models[0] == "LHV1000"
    assert FORMATS.max_attempts == 3
    for family in FORMATS.families:
        assert matches_pattern(family.example, family.pattern)


def test_unknown_model_and_family_are_key_errors_that_say_what_is_known() -> None:
    with pytest.raises(KeyError) as model_error:
        FORMATS.family_for_model("N999")
    assert isinstance(model_error.value, UnknownModelError)
    assert "unknown recorder model 'N999'" in str(model_error.value)
    assert "N843" in str(model_error.value)
    with pytest.raises(UnknownFamilyError, match="known families: n_series"):
        FORMATS.family("nope")


@pytest.mark.parametrize(
    ("device_id", "grouped"),
    [
        ("ND4810273945KXQ", "ND48 1027 3945 KXQ"),
        ("LRX104592837", "LRX 104 592 837"),
        ("LHAP204819375502", "LHAP 2048 1937 5502"),
        ("ND4810", "ND4810"),  # no family of that length: unchanged
        ("", ""),
    ],
)
def test_group(device_id: str, grouped: str) -> None:
    assert FORMATS.group(device_id) == grouped


ORIGINAL = DEFAULT_FORMATS_PATH.read_text(encoding="utf-8")


def _line_of(fragment: str) -> int:
    return ORIGINAL[: ORIGINAL.index(fragment)].count("\n") + 1


@pytest.mark.parametrize(
    ("old", "new", "line_of", "message"),
    [
        (
            "pattern: AAA999999999, groups",
            "pattern: AAB999999999, groups",
            "pattern: AAA999999999",
            "may only use A (a letter) and 9 (a digit)",
        ),
        (
            "groups: [3, 3, 3, 3]",
            "groups: [3, 3, 3]",
            "groups: [3, 3, 3, 3]",
            "must be positive and add up to the pattern length 12",
        ),
        (
            "example: LRX104592837",
            "example: LRX10459283X",
            "example: LRX104592837",
            "does not fit pattern",
        ),
        (
            "models: [N831]",
            "models: [N831, N843]",
            "name: n831",
            "model N843 is in both 'n_series' and 'n831'",
        ),
        ('S: "5"', 'S: "55"', "to_digit:", "must map one capital letter to a digit"),
        ("max_attempts: 3", "max_attempts: 0", "lookalikes:", "'max_attempts' must be at least 1"),
        ("min_length: 6", "min_length: six", "min_length: 6", "'min_length' must be a int"),
        ("    route: home_app\n", "", "name: home_app", "missing required key 'route'"),
    ],
)
def test_a_broken_formats_file_names_file_and_line(
    tmp_path: Path, old: str, new: str, line_of: str, message: str
) -> None:
    assert old in ORIGINAL
    broken = tmp_path / "device_id_formats.yml"
    broken.write_text(ORIGINAL.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ContentError) as error:
        load_formats(broken)
    # The line of the mapping at fault: where its first key (or its "{") is.
    assert str(error.value).startswith(f"{broken}:{_line_of(line_of)}: ")
    assert message in str(error.value)


def test_a_family_may_not_share_the_serial_number_shape(tmp_path: Path) -> None:
    broken = tmp_path / "formats.yml"
    broken.write_text(
        ORIGINAL.replace("pattern: 99AA9999999999", "pattern: AAA999999999"), encoding="utf-8"
    )
    with pytest.raises(ContentError, match="family 'legacy' has the serial number's pattern"):
        load_formats(broken)


# --- compact and look-alikes

SEPARATORS = [" ", "  ", "-", ".", "_", "/", ":", "\t", "\u2013", " - "]


@given(st.text())
def test_compact_leaves_no_separators_and_no_lower_case_ascii(text: str) -> None:
    value = compact(text)
    assert not any(c.isspace() or c in SEPARATOR_CHARACTERS for c in value)
    assert not any(c in string.ascii_lowercase for c in value)
    assert compact(value) == value


ID_ISH = st.text(alphabet=string.ascii_letters + string.digits + " -.#", max_size=24)


@given(st.one_of(st.text(), ID_ISH, st.sampled_from(DEVICE_IDS)))
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalise_device_id(text, FORMATS)
    assert normalise_device_id(once, FORMATS) == once


@st.composite
def decorated_anywhere(draw: st.DrawFn) -> tuple[str, str]:
    """A registered ID with random case and separators at random places."""
    device_id = draw(st.sampled_from(DEVICE_IDS))
    pieces = []
    for char in device_id:
        pieces.append(char.lower() if draw(st.booleans()) else char)
        if draw(st.integers(0, 3)) == 0:
            pieces.append(draw(st.sampled_from(SEPARATORS)))
    return device_id, draw(st.sampled_from(["", " ", "  "])) + "".join(pieces)


@given(decorated_anywhere())
def test_separators_and_case_do_not_change_the_normalised_id(case: tuple[str, str]) -> None:
    device_id, typed = case
    assert normalise_device_id(typed, FORMATS) == device_id


def _lookalike_positions(device_id: str) -> list[tuple[int, str]]:
    """(position, what a person might type there instead) where the pattern decides."""
    pattern = next(p for p in FORMATS.patterns if matches_pattern(device_id, p))
    options = []
    for position, (char, wanted) in enumerate(zip(device_id, pattern, strict=True)):
        if wanted == DIGIT:
            # Any letter that reads as this digit.
            options += [(position, a) for a, d in FORMATS.to_digit.items() if d == char]
        elif wanted == LETTER and FORMATS.to_letter.get(FORMATS.to_digit.get(char, "")) == char:
            # A digit typed for this letter, where the digit reads back as the same letter.
            options.append((position, FORMATS.to_digit[char]))
    return options


IDS_WITH_LOOKALIKES = [d for d in DEVICE_IDS if _lookalike_positions(d)]


@st.composite
def with_one_lookalike(draw: st.DrawFn) -> tuple[str, str]:
    device_id = draw(st.sampled_from(IDS_WITH_LOOKALIKES))
    position, typed_char = draw(st.sampled_from(_lookalike_positions(device_id)))
    typed = device_id[:position] + typed_char + device_id[position + 1 :]
    return device_id, typed


def test_there_are_ids_with_lookalike_positions_to_test() -> None:
    assert len(IDS_WITH_LOOKALIKES) > 100


@given(with_one_lookalike())
def test_a_lookalike_where_the_pattern_decides_is_corrected(case: tuple[str, str]) -> None:
    device_id, typed = case
    assert typed != device_id
    assert normalise_device_id(typed, FORMATS) == device_id
    assert normalise_device_id(typed.lower(), FORMATS) == device_id


def test_lookalikes_are_not_guessed_where_no_pattern_decides() -> None:
    # 13 characters: no family has that length, so the O stays an O.
    assert normalise_device_id("LRXO045928371", FORMATS) == "LRXO045928371"
    # Right length, but X has no digit look-alike: the value comes back as typed.
    assert normalise_device_id("lrx1o459283x", FORMATS) == "LRX1O459283X"
    assert resolve_lookalikes("LRX1O459283X", "AAA999999999", FORMATS) is None
    assert resolve_lookalikes("LRX", "AAA999999999", FORMATS) is None


# --- extraction

PREFIXES = [
    "",
    "my device id is",
    "ID:",
    "Device ID =",
    "it's",
    "the id is",
    "here you go:",
    "ok so the ID on the sticker reads",
    "go",
    "N843 id",
    "🙂",
]
SUFFIXES = ["", "thanks", "ok", ".", "!", "🙂", "please", ", is that right?", "thx!!"]
GROUP_SEPARATORS = [" ", "", "-", ".", " - ", "_", "/", ":", "  "]


@st.composite
def message_with_id(draw: st.DrawFn) -> tuple[str, str, str]:
    """(registered ID, the ID as typed, a message containing it)."""
    device_id, model = draw(st.sampled_from(REGISTERED))
    family = FORMATS.family_for_model(model)
    groups, position = [], 0
    for size in family.groups:
        groups.append(device_id[position : position + size])
        position += size
    typed = groups[0]
    for group in groups[1:]:
        typed += draw(st.sampled_from(GROUP_SEPARATORS)) + group
    case = draw(st.sampled_from([str.upper, str.lower, str.title]))
    typed = case(typed)
    message = " ".join(
        part
        for part in (draw(st.sampled_from(PREFIXES)), typed, draw(st.sampled_from(SUFFIXES)))
        if part
    )
    # "KXQ." and "KXQ!" are sentence punctuation after the ID.
    message = re.sub(r" ([.!,])", r"\1", message)
    return device_id, typed, message


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(message_with_id())
def test_the_id_is_found_whatever_surrounds_it(case: tuple[str, str, str]) -> None:
    device_id, typed, message = case
    found = EXTRACTOR.find(message)
    assert found is not None, message
    assert found.value == device_id
    assert found.raw_text == typed
    assert message[found.start_char : found.end_char] == typed


@given(with_one_lookalike(), st.sampled_from(PREFIXES), st.sampled_from(SUFFIXES))
def test_extraction_corrects_lookalikes(case: tuple[str, str], prefix: str, suffix: str) -> None:
    device_id, typed = case
    found = EXTRACTOR.find(f"{prefix} {typed} {suffix}")
    assert found is not None
    assert found.value == device_id


@pytest.mark.parametrize(
    "message, device_id",
    [
        # Found by hypothesis: "thx" was taken as the last group of a 15-character ID.
        ("XV2737167484 thx!!", "XVZ737167484"),
        ("XVZ737167484 pls", "XVZ737167484"),
        ("LRX104592837 tmb", "LRX104592837"),
        ("ND48 1027 3945 KXQ svp", "ND4810273945KXQ"),
        # A small word typed as a group of its own, where the ID is typed in its groups, is one.
        ("the ID is AB12 3456 7890 THE thanks", "AB1234567890THE"),
    ],
)
def test_a_small_word_joins_an_id_only_as_one_of_its_typed_groups(
    message: str, device_id: str
) -> None:
    found = EXTRACTOR.find(message)
    assert found is not None
    assert found.value == device_id


@pytest.mark.parametrize(
    "message, device_id, raw_text",
    [
        ("mi número es nd48 1027 3945 kxq", "ND4810273945KXQ", "nd48 1027 3945 kxq"),
        ("el id es nd48 1027 3945 kxq", "ND4810273945KXQ", "nd48 1027 3945 kxq"),
        ("el id: LRX-104-592-837 gracias", "LRX104592837", "LRX-104-592-837"),
        ("es el LRX104592837 q me pediste", "LRX104592837", "LRX104592837"),
        (
            "mi id es lrx 104 592 837 y mi correo es ana@gmail.com",
            "LRX104592837",
            "lrx 104 592 837",
        ),
        ("c'est le ND4810273945KXQ merci", "ND4810273945KXQ", "ND4810273945KXQ"),
        ("l'ID c'est ND48 1027 3945 KXQ svp", "ND4810273945KXQ", "ND48 1027 3945 KXQ"),
        ("mon numéro est le nd48-1027-3945-kxq", "ND4810273945KXQ", "nd48-1027-3945-kxq"),
        # Attempts (too short): the small words before them are not part of them.
        ("mi numero es nd4810 gracias", "ND4810", "nd4810"),
        ("el numero de mi dvr es nd48102 xfa", "ND48102", "nd48102"),
        ("mon id est nd48102 merci", "ND48102", "nd48102"),
        ("c'est ND4810 pis apres je sais pas", "ND4810", "ND4810"),
        ("le code sur l'etiquette est nd48 1027 39 oui", "ND48102739", "nd48 1027 39"),
    ],
)
def test_ids_in_spanish_and_french_sentences(message: str, device_id: str, raw_text: str) -> None:
    found = EXTRACTOR.find(message)
    assert found is not None
    assert (found.value, found.raw_text) == (device_id, raw_text)
    assert message[found.start_char : found.end_char] == raw_text


@settings(max_examples=300)
@given(st.one_of(st.text(), ID_ISH, st.text(alphabet="ND48#@-. 🙂\n", max_size=60)))
def test_junk_never_raises_and_what_is_found_is_where_it_says(text: str) -> None:
    found = EXTRACTOR.find(text)
    if found is not None:
        assert text[found.start_char : found.end_char] == found.raw_text
        assert found.value == normalise_device_id(found.raw_text, FORMATS)
        assert found.raw_text == found.raw_text.strip()
    check_device_id(text, NoDevices(), FORMATS)


@given(st.text().filter(lambda t: not any(c in string.digits for c in t)))
def test_nothing_is_extracted_from_text_without_digits(text: str) -> None:
    assert EXTRACTOR.find(text) is None


@given(st.from_regex(r"[0-9 ()+.\-/:]{0,40}", fullmatch=True))
def test_numbers_alone_are_never_taken_for_an_id(text: str) -> None:
    # Phone numbers, dates, times: every ID family has letters.
    assert EXTRACTOR.find(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,
        "1 " * 5_000,
        "A1 " * 3_333,
        "#" * 10_000,
        "🙂" * 10_000,
        ("my device id is ND48-1027-3945-KXQ " * 300)[:10_000],
    ],
)
def test_long_messages_are_handled(text: str) -> None:
    started = time.perf_counter()
    found = EXTRACTOR.find(text)
    # Linear work takes well under half a second; quadratic matching took a minute or ran out
    # of memory on these.
    assert time.perf_counter() - started < 2.0
    if found is not None:
        assert text[found.start_char : found.end_char] == found.raw_text


def test_a_long_message_finds_its_first_id() -> None:
    text = ("lorem ipsum dolor sit amet " * 370) + "ND48 1027 3945 KXQ"
    assert len(text) > 10_000
    found = EXTRACTOR.find(text)
    assert found is not None and found.value == "ND4810273945KXQ"


def test_find_is_fast_on_short_messages() -> None:
    messages = [
        "my device id is nd48-1027-3945-kxq",
        "ID: ND48 1027 3945 KXQ thanks",
        "it's LRX 104 592 837.",
        "where is the device id?",
    ]
    for message in messages:
        EXTRACTOR.find(message)  # warm the vocabulary
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        for message in messages:
            EXTRACTOR.find(message)
    per_call = (time.perf_counter() - started) / (rounds * len(messages))
    # The budget is 1 ms; a generous margin for slow CI machines still catches a regression
    # to quadratic matching, which costs tens of milliseconds here.
    assert per_call < 0.001
