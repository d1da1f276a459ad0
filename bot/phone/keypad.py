"""A Device ID typed on a phone keypad.

Digits are pressed as they are. A letter is pressed as the key that carries it (the scheme in
``data/content/phone.yml``, the letters printed on every phone keypad: 2 is A, B or C; 7 is P, Q,
R or S ...), and the caller is told so. Which letter was meant is decided by the registry: the
keys stand for a small set of possible IDs, and only registered ones are read back for the caller
to confirm. Where the pattern wants a digit, the key is that digit.
"""

from __future__ import annotations

import itertools

from bot.devices.formats import DIGIT, DeviceIdFormats
from bot.phone.content import KeypadScheme
from bot.phone.spoken import MAX_CANDIDATES, RegisteredIds, Resolution


def keypad_readings(keys: str, formats: DeviceIdFormats, scheme: KeypadScheme) -> list[str]:
    """Every well-formed Device ID the key presses ``keys`` could stand for."""
    readings: list[str] = []
    for pattern in formats.patterns:
        if len(pattern) != len(keys):
            continue
        options: list[str] = []
        for key, wanted in zip(keys, pattern, strict=True):
            if wanted == DIGIT:
                options.append(key if key.isdigit() else "")
            else:
                options.append(scheme.letters_for(key))
        if not all(options):
            continue
        for chars in itertools.product(*options):
            readings.append("".join(chars))
            if len(readings) >= MAX_CANDIDATES:
                return readings
    return readings


def resolve_keys(
    keys: str, formats: DeviceIdFormats, scheme: KeypadScheme, registry: RegisteredIds
) -> Resolution:
    keys = "".join(key for key in keys if key.isdigit())
    readings = keypad_readings(keys, formats, scheme)
    existing = registry.existing(readings) if readings else set()
    lengths = formats.device_id_lengths()
    return Resolution(
        heard=keys,
        found=tuple(reading for reading in readings if reading in existing),
        complete=len(keys) in lengths,
        could_continue=len(keys) < max(lengths),
    )
