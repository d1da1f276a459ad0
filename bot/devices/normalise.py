"""Turning what a person typed (or a speech recogniser heard) into a comparable Device ID.

Two steps, both conservative:

* :func:`compact` removes the separators people put between groups and upper-cases; it keeps any
  other character, so the checks can still say "``#`` does not belong in a Device ID".
* :func:`resolve_lookalikes` fixes O/0, I/1, S/5, B/8 (and the other pairs in the formats file)
  only where a pattern says which of the two belongs. :func:`normalise_device_id` applies it only
  when exactly one pattern of the value's length can explain the value, so nothing is guessed.
"""

from __future__ import annotations

import re

from bot.devices.formats import DIGIT, LETTER, DeviceIdFormats

# Characters people put between groups: whitespace, ASCII and typographic dashes (phones and word
# processors turn "-" into an en dash), dots, underscores, slashes and colons ("ID: ...").
SEPARATOR_CHARACTERS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212._/:"
_SEPARATORS = re.compile(r"[\s" + re.escape(SEPARATOR_CHARACTERS) + r"]+")

_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")


def compact(text: str) -> str:
    """``text`` upper-cased, without whitespace, dashes, dots, underscores, slashes or colons."""
    return _SEPARATORS.sub("", text).upper()


def resolve_lookalikes(compact_value: str, pattern: str, formats: DeviceIdFormats) -> str | None:
    """``compact_value`` with each character turned into the class ``pattern`` wants.

    A letter where the pattern wants a digit goes through ``formats.to_digit`` and a digit where
    it wants a letter through ``formats.to_letter``. ``None`` when the lengths differ or some
    character has no look-alike of the wanted class (``X`` where a digit belongs, ``#`` anywhere).
    """
    if len(compact_value) != len(pattern):
        return None
    resolved = []
    for char, wanted in zip(compact_value, pattern, strict=True):
        if wanted == LETTER:
            if char in _LETTERS:
                resolved.append(char)
            elif char in formats.to_letter:
                resolved.append(formats.to_letter[char])
            else:
                return None
        elif wanted == DIGIT:
            if char in _DIGITS:
                resolved.append(char)
            elif char in formats.to_digit:
                resolved.append(formats.to_digit[char])
            else:
                return None
        else:  # the loader only admits A and 9; anything else is a programming error
            raise ValueError(f"pattern {pattern!r} has {wanted!r}, expected A or 9")
    return "".join(resolved)


def resolutions(compact_value: str, formats: DeviceIdFormats) -> dict[str, str]:
    """Every Device ID pattern that ``compact_value`` resolves against, mapped to the result."""
    found = {}
    for pattern in formats.patterns:
        resolved = resolve_lookalikes(compact_value, pattern, formats)
        if resolved is not None:
            found[pattern] = resolved
    return found


def normalise_device_id(text: str, formats: DeviceIdFormats) -> str:
    """The compact form of ``text``, with look-alikes fixed where exactly one pattern decides.

    If no pattern of that length fits, or two patterns fit with different results, the compact
    value is returned unchanged so the checks report what the person actually typed.
    """
    value = compact(text)
    distinct_results = set(resolutions(value, formats).values())
    if len(distinct_results) == 1:
        return distinct_results.pop()
    return value


def resolve_serial_number(compact_value: str, formats: DeviceIdFormats) -> str | None:
    """``compact_value`` as a serial number (look-alikes fixed), or ``None`` if it cannot be one."""
    return resolve_lookalikes(compact_value, formats.serial_pattern, formats)
