"""Every outcome of ``check_device_id`` and the details a message about it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.devices.checks import CheckResult, Outcome, check_device_id, expected_lengths
from bot.devices.formats import DeviceIdFormats, load_formats
from bot.devices.record import DeviceRecord

FORMATS = load_formats()


def _record(device_id: str, model: str, serial_number: str, family: str) -> DeviceRecord:
    return DeviceRecord(
        device_id=device_id,
        model=model,
        family=family,
        serial_number=serial_number,
        owner_name="Test Owner",
        owner_email="owner@example.com",
        owner_phone="+1 202-555-0100",
        warranty_registered=True,
    )


N_SERIES = _record("ND4810273945KXQ", "N843", "21LX0483920175", "n_series")
N831 = _record("NC3307815562RTA", "N831", "22LX1122334455", "n831")
LEGACY = _record("LRX104592837", "LNR400", "19LX5566778899", "legacy")
HOME_APP = _record("LHAP204819375502", "D881", "20HA0000000001", "home_app")


class DictLookup:
    """An in-memory registry: the checks are under test here, not the database."""

    def __init__(self, *records: DeviceRecord) -> None:
        self.by_id = {r.device_id: r for r in records}
        self.by_serial = {r.serial_number: r for r in records}
        self.id_queries: list[str] = []

    def find_by_device_id(self, device_id: str) -> DeviceRecord | None:
        self.id_queries.append(device_id)
        return self.by_id.get(device_id)

    def find_by_serial(self, serial_number: str) -> DeviceRecord | None:
        return self.by_serial.get(serial_number)


@pytest.fixture
def lookup() -> DictLookup:
    return DictLookup(N_SERIES, N831, LEGACY, HOME_APP)


def check(text: str, lookup: DictLookup) -> CheckResult:
    return check_device_id(text, lookup, FORMATS)


def test_ok_gives_device_family_and_read_back(lookup: DictLookup) -> None:
    result = check("nd48-1027-3945-kxq", lookup)
    assert result.outcome is Outcome.OK
    assert result.ok
    assert result.value == "ND4810273945KXQ"
    assert result.device == N_SERIES
    assert result.family is not None and result.family.name == "n_series"
    assert result.details == {
        "length": 15,
        "expected": "12, 15 or 16",
        "grouped": "ND48 1027 3945 KXQ",
        "model": "N843",
        "route": "procedure",
        "family_label": "Lorex N-series NVR",
    }


def test_lookalikes_are_resolved_before_the_registry_is_asked(lookup: DictLookup) -> None:
    result = check("LRX 1O4 S92 B37", lookup)
    assert result.outcome is Outcome.OK
    assert result.value == "LRX104592837"
    assert lookup.id_queries == ["LRX104592837"]
    assert result.details["grouped"] == "LRX 104 592 837"


@pytest.mark.parametrize("text", ["", "   ", " - . / _ : ", "\n\t"])
def test_empty(text: str, lookup: DictLookup) -> None:
    result = check(text, lookup)
    assert result.outcome is Outcome.EMPTY
    assert result.value == ""
    assert result.details == {"expected": "12, 15 or 16"}
    assert lookup.id_queries == []


def test_bad_characters_are_listed_once_each_in_order(lookup: DictLookup) -> None:
    result = check("ND48#1027@3945#KXQ", lookup)
    assert result.outcome is Outcome.BAD_CHARACTERS
    assert result.value == "ND48#1027@3945#KXQ"
    assert result.details["bad_characters"] == "#, @"
    assert result.details["length"] == 18
    assert result.device is None
    assert lookup.id_queries == []


def test_bad_characters_win_over_length_and_serial_checks(lookup: DictLookup) -> None:
    # Also too short, but the stray character is the more useful thing to point out.
    assert check("ND4*", lookup).outcome is Outcome.BAD_CHARACTERS
    assert check("21LX04839201é5", lookup).outcome is Outcome.BAD_CHARACTERS


def test_registered_serial_number_names_its_model_but_not_its_device_id(
    lookup: DictLookup,
) -> None:
    result = check("21LX 0483 9201 75", lookup)
    assert result.outcome is Outcome.SERIAL_NUMBER
    assert result.value == "21LX0483920175"
    assert result.device == N_SERIES
    assert result.family is not None and result.family.name == "n_series"
    assert result.details == {
        "length": 14,
        "expected": "12, 15 or 16",
        "serial_number": "21LX0483920175",
        "model": "N843",
        "route": "procedure",
        "family_label": "Lorex N-series NVR",
    }
    assert lookup.id_queries == []


def test_unregistered_serial_shape_is_still_a_serial_number(lookup: DictLookup) -> None:
    result = check("23AB9876543210", lookup)
    assert result.outcome is Outcome.SERIAL_NUMBER
    assert result.device is None and result.family is None
    assert result.details == {
        "length": 14,
        "expected": "12, 15 or 16",
        "serial_number": "23AB9876543210",
    }


def test_serial_number_with_lookalikes_is_resolved(lookup: DictLookup) -> None:
    result = check("2ILX O483 92O1 7S", lookup)
    assert result.outcome is Outcome.SERIAL_NUMBER
    assert result.value == "21LX0483920175"
    assert result.device == N_SERIES


def test_a_registered_serial_outside_the_pattern_is_found_by_exact_match() -> None:
    odd = _record("ND4810273945KXQ", "N843", "ABC123", "n_series")
    result = check("abc-123", DictLookup(odd))
    assert result.outcome is Outcome.SERIAL_NUMBER
    assert result.value == "ABC123"
    assert result.device == odd


def test_too_short(lookup: DictLookup) -> None:
    result = check("ND4810", lookup)
    assert result.outcome is Outcome.TOO_SHORT
    assert result.value == "ND4810"
    assert result.details == {"length": 6, "expected": "12, 15 or 16", "nearest_length": 12}
    assert lookup.id_queries == []


def test_too_long(lookup: DictLookup) -> None:
    result = check("ND4810273945KXQ1234", lookup)
    assert result.outcome is Outcome.TOO_LONG
    assert result.details == {"length": 19, "expected": "12, 15 or 16", "nearest_length": 16}


@pytest.mark.parametrize(
    ("text", "outcome", "nearest"),
    [
        ("ND4810273945KX", Outcome.TOO_SHORT, 15),  # 14: one character short of 15
        ("LRX1045928371", Outcome.TOO_LONG, 12),  # 13: one over 12
    ],
)
def test_between_two_lengths_the_nearer_decides(
    text: str, outcome: Outcome, nearest: int, lookup: DictLookup
) -> None:
    result = check(text, lookup)
    assert result.outcome is outcome
    assert result.details["nearest_length"] == nearest
    assert result.details["length"] == len(text)


def test_wrong_pattern_points_at_the_first_misfit(lookup: DictLookup) -> None:
    # 15 characters like an N-series ID, but a 7 where the last letters belong (7 has no
    # letter look-alike) and an X where a digit belongs.
    result = check("ND48 1027 3X45 KX7", lookup)
    assert result.outcome is Outcome.WRONG_PATTERN
    assert result.value == "ND4810273X45KX7"
    assert result.device is None
    assert result.family is not None and result.family.pattern == "AA9999999999AAA"
    assert result.details["position"] == 10
    assert result.details["character"] == "X"
    assert result.details["expected_kind"] == "digit"
    assert result.details["mismatch_count"] == 2
    assert result.details["pattern"] == "AA9999999999AAA"
    assert result.details["example_grouped"] in {"ND48 1027 3945 KXQ", "NC33 0781 5562 RTA"}
    assert result.details["length"] == 15
    assert lookup.id_queries == []


def test_wrong_pattern_letter_expected(lookup: DictLookup) -> None:
    result = check("L7X104592837", lookup)
    assert result.outcome is Outcome.WRONG_PATTERN
    assert result.details["position"] == 2
    assert result.details["character"] == "7"
    assert result.details["expected_kind"] == "letter"
    assert result.details["family_label"] == "older Lorex recorder"
    assert result.details["example_grouped"] == "LRX 104 592 837"


def test_not_found(lookup: DictLookup) -> None:
    result = check("LRX 104 592 830", lookup)
    assert result.outcome is Outcome.NOT_FOUND
    assert result.value == "LRX104592830"
    assert result.device is None
    assert result.details == {
        "length": 12,
        "expected": "12, 15 or 16",
        "grouped": "LRX 104 592 830",
        # Only one family has this shape, so the message can name it.
        "family_label": "older Lorex recorder",
    }
    assert lookup.id_queries == ["LRX104592830"]


def test_not_found_does_not_name_a_family_when_two_share_the_shape(lookup: DictLookup) -> None:
    result = check("ND4810273945KXZ", lookup)
    assert result.outcome is Outcome.NOT_FOUND
    assert "family_label" not in result.details
    assert result.details["grouped"] == "ND48 1027 3945 KXZ"


@pytest.mark.parametrize(("record", "route"), [(N831, "n831"), (HOME_APP, "home_app")])
def test_other_route(record: DeviceRecord, route: str, lookup: DictLookup) -> None:
    result = check(record.device_id.lower(), lookup)
    assert result.outcome is Outcome.OTHER_ROUTE
    assert not result.ok
    assert result.device == record
    assert result.family is not None and result.family.route == route
    assert result.details["route"] == route
    assert result.details["model"] == record.model
    assert result.details["grouped"] == FORMATS.group(record.device_id)


def test_family_comes_from_the_model_when_the_registry_family_is_unknown() -> None:
    stale = _record("NC3307815562RTA", "N831", "22LX1122334455", "renamed_family")
    result = check("NC3307815562RTA", DictLookup(stale))
    assert result.outcome is Outcome.OTHER_ROUTE
    assert result.family is not None and result.family.name == "n831"


# One input per outcome: a new Outcome fails the completeness test until it is given one here
# (and a response in the domain).
ONE_INPUT_PER_OUTCOME = {
    Outcome.OK: "ND48 1027 3945 KXQ",
    Outcome.EMPTY: " - ",
    Outcome.BAD_CHARACTERS: "ND48#1027",
    Outcome.TOO_SHORT: "ND4810",
    Outcome.TOO_LONG: "ND4810273945KXQ1234",
    Outcome.WRONG_PATTERN: "ND4810273945KX7",
    Outcome.SERIAL_NUMBER: "21LX0483920175",
    Outcome.NOT_FOUND: "ND4810273945KXZ",
    Outcome.OTHER_ROUTE: "NC3307815562RTA",
}


def test_every_outcome_has_an_input() -> None:
    assert set(ONE_INPUT_PER_OUTCOME) == set(Outcome)


@pytest.mark.parametrize(("outcome", "text"), ONE_INPUT_PER_OUTCOME.items())
def test_one_input_per_outcome(outcome: Outcome, text: str, lookup: DictLookup) -> None:
    result = check(text, lookup)
    assert result.outcome is outcome
    # Details are message variables: plain strings and numbers only.
    assert all(isinstance(v, (str, int)) for v in result.details.values())
    assert result.details["expected"] == "12, 15 or 16"


def _formats_with_lengths(tmp_path: Path, patterns: list[str]) -> DeviceIdFormats:
    families = "\n".join(
        f"  - {{name: f{i}, label: F{i}, models: [M{i}], route: procedure,\n"
        f"     device_id: {{pattern: {p}, groups: [{len(p)}], example: {'A' * p.count('A')}"
        f"{'1' * p.count('9')}}}}}"
        for i, p in enumerate(patterns)
    )
    path = tmp_path / "formats.yml"
    path.write_text(
        "lookalikes: {to_digit: {O: '0'}, to_letter: {'0': O}}\n"
        f"families:\n{families}\n"
        "serial_number: {pattern: '99999', example: '12345'}\n"
        "max_attempts: 3\n",
        encoding="utf-8",
    )
    return load_formats(path)


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [(["AA99"], "4"), (["AA99", "A9999"], "4 or 5"), (["A9", "AA99", "A9999"], "2, 4 or 5")],
)
def test_expected_lengths_wording(tmp_path: Path, patterns: list[str], expected: str) -> None:
    assert expected_lengths(_formats_with_lengths(tmp_path, patterns)) == expected
