"""Checking a Device ID a person gave us, in the order that gives them the most useful answer.

Pure logic: the outcome says what is wrong, ``details`` carries the values a message needs
(lengths, the expected lengths, the offending characters, the ID grouped for reading back).
The wording lives in the Rasa domain.

Order of the checks (the first that applies wins):

1. empty;
2. characters that never appear in an ID (after separators are removed);
3. a serial number: registered as a serial, or shaped like one (the most common mix-up, so it
   is told apart before any length complaint);
4. too short / too long: a length no family uses;
5. wrong pattern: a length some family uses, but letters where digits belong (or the reverse)
   even after look-alikes are resolved;
6. the registry: not registered; registered but reset another way; or fine.

A registered serial number's result never carries its Device ID: whoever has only the serial
(it is printed on the box and the invoice) must not learn the ID from us.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from bot.devices.formats import DIGIT, DeviceIdFormats, Family, UnknownFamilyError
from bot.devices.normalise import (
    normalise_device_id,
    resolutions,
    resolve_serial_number,
)
from bot.devices.record import DeviceLookup, DeviceRecord

# The route (in the formats file) whose recorders follow this assistant's reset procedure.
PROCEDURE_ROUTE = "procedure"

_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

Details = dict[str, str | int]


class Outcome(enum.Enum):
    OK = "ok"
    EMPTY = "empty"
    BAD_CHARACTERS = "bad_characters"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    WRONG_PATTERN = "wrong_pattern"
    SERIAL_NUMBER = "serial_number"
    NOT_FOUND = "not_found"
    OTHER_ROUTE = "other_route"


@dataclass(frozen=True)
class CheckResult:
    """What the check found; ``value`` is the normalised ID (or serial) that was checked."""

    outcome: Outcome
    value: str
    device: DeviceRecord | None = None
    family: Family | None = None
    details: Details = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def expected_lengths(formats: DeviceIdFormats) -> str:
    """The Device ID lengths as a message variable: ``"12, 15 or 16"``."""
    lengths = [str(length) for length in formats.device_id_lengths()]
    if len(lengths) == 1:
        return lengths[0]
    return f"{', '.join(lengths[:-1])} or {lengths[-1]}"


def check_device_id(text: str, lookup: DeviceLookup, formats: DeviceIdFormats) -> CheckResult:
    """Check ``text`` (an extracted ID or what the person typed) against formats and registry."""
    value = normalise_device_id(text, formats)
    expected = expected_lengths(formats)
    if not value:
        return CheckResult(Outcome.EMPTY, value, details={"expected": expected})

    details: Details = {"length": len(value), "expected": expected}

    bad_characters = list(dict.fromkeys(c for c in value if c not in _ID_CHARACTERS))
    if bad_characters:
        details["bad_characters"] = ", ".join(bad_characters)
        return CheckResult(Outcome.BAD_CHARACTERS, value, details=details)

    serial = _serial_number(value, lookup, formats)
    if serial is not None:
        return serial

    lengths = formats.device_id_lengths()
    if len(value) not in lengths:
        # Between two valid lengths, the nearer one decides: 14 is one short of 15, 13 one over
        # 12. A tie counts as too short: a dropped character is the likelier slip.
        nearest = min(lengths, key=lambda length: (abs(length - len(value)), length))
        details["nearest_length"] = nearest
        outcome = Outcome.TOO_SHORT if len(value) < nearest else Outcome.TOO_LONG
        return CheckResult(outcome, value, details=details)

    patterns = resolutions(value, formats)
    if not patterns:
        return _wrong_pattern(value, formats, details)

    details["grouped"] = formats.group(value)
    device = lookup.find_by_device_id(value)
    if device is None:
        family_labels = list(
            dict.fromkeys(f.label for f in formats.families if f.pattern in patterns)
        )
        if len(family_labels) == 1:
            details["family_label"] = family_labels[0]
        return CheckResult(Outcome.NOT_FOUND, value, details=details)

    family = _family_of(device, formats)
    details.update({"model": device.model, "route": family.route, "family_label": family.label})
    if family.route != PROCEDURE_ROUTE:
        return CheckResult(Outcome.OTHER_ROUTE, value, device, family, details)
    return CheckResult(Outcome.OK, value, device, family, details)


def _serial_number(
    value: str, lookup: DeviceLookup, formats: DeviceIdFormats
) -> CheckResult | None:
    """A result if ``value`` is a serial number: registered as one, or shaped like one."""
    resolved = resolve_serial_number(value, formats)
    # A value that is a well-formed Device ID is judged as one, even if a registry oddity or a
    # future pattern change made it resolvable as a serial too.
    if resolved is not None and resolutions(value, formats):
        resolved = None
    candidates = list(dict.fromkeys(v for v in (value, resolved) if v is not None))
    device = next((d for d in map(lookup.find_by_serial, candidates) if d is not None), None)
    if device is None and resolved is None:
        return None
    serial = device.serial_number if device is not None else str(resolved)
    details: Details = {
        "length": len(serial),
        "expected": expected_lengths(formats),
        "serial_number": serial,
    }
    family = None
    if device is not None:
        family = _family_of(device, formats)
        details.update(
            {
                "model": device.model,
                "route": family.route,
                "family_label": family.label,
            }
        )
    return CheckResult(Outcome.SERIAL_NUMBER, serial, device, family, details)


def _wrong_pattern(value: str, formats: DeviceIdFormats, details: Details) -> CheckResult:
    """Right length, wrong shape: report the family whose pattern it misses by the least."""

    def mismatches(family: Family) -> list[int]:
        return [
            position
            for position, (char, wanted) in enumerate(zip(value, family.pattern, strict=True))
            if (wanted == DIGIT) != char.isdigit() and not _lookalike_fits(char, wanted, formats)
        ]

    family = min(formats.families_for_length(len(value)), key=lambda f: len(mismatches(f)))
    wrong = mismatches(family)
    first = wrong[0]
    details.update(
        {
            "pattern": family.pattern,
            "family_label": family.label,
            "example": family.example,
            "example_grouped": family.group(family.example),
            "mismatch_count": len(wrong),
            # 1-based, as a person counts characters.
            "position": first + 1,
            "character": value[first],
            "expected_kind": "digit" if family.pattern[first] == DIGIT else "letter",
        }
    )
    return CheckResult(Outcome.WRONG_PATTERN, value, family=family, details=details)


def _lookalike_fits(char: str, wanted: str, formats: DeviceIdFormats) -> bool:
    table = formats.to_digit if wanted == DIGIT else formats.to_letter
    return char in table


def _family_of(device: DeviceRecord, formats: DeviceIdFormats) -> Family:
    """The device's family: as the registry recorded it, else from its model number."""
    try:
        return formats.family(device.family)
    except UnknownFamilyError:
        return formats.family_for_model(device.model)


__all__ = [
    "PROCEDURE_ROUTE",
    "CheckResult",
    "Outcome",
    "check_device_id",
    "expected_lengths",
]
