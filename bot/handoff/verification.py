"""The agent's verification card: what the user said about the owner beside what the registry
holds, each marked match, mismatch or not given.

Comparison forgives what people vary without meaning anything: case, accents, punctuation, the
order of names, spaces; for phone numbers everything but the last ten digits (country code,
brackets, dashes). It decides nothing: the agent does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from bot.devices.record import DeviceRecord

PHONE_DIGITS_COMPARED = 10
_Key = Callable[[str], str]  # the form of a value that comparison looks at


class Verdict(str, Enum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_GIVEN = "not given"


@dataclass(frozen=True)
class VerificationRow:
    label: str
    said: str | None
    registered: str | None
    verdict: Verdict


def verification_card(
    device: DeviceRecord | None,
    *,
    name: str | None,
    email: str | None,
    phone: str | None,
) -> list[VerificationRow]:
    return [
        _row("Owner name", name, device.owner_name if device else None, _name_key),
        _row("Email", email, device.owner_email if device else None, email_key),
        _row("Phone", phone, device.owner_phone if device else None, phone_key),
    ]


def _row(label: str, said: str | None, registered: str | None, key: _Key) -> VerificationRow:
    if not said or not said.strip():
        return VerificationRow(label, None, registered, Verdict.NOT_GIVEN)
    matches = registered is not None and key(said) == key(registered) and key(said) != ""
    return VerificationRow(
        label, said.strip(), registered, Verdict.MATCH if matches else Verdict.MISMATCH
    )


def _name_key(value: str) -> str:
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", plain.casefold())
    return " ".join(sorted(words))


def email_key(value: str) -> str:
    return value.strip().casefold()


def phone_key(value: str) -> str:
    return re.sub(r"\D", "", value)[-PHONE_DIGITS_COMPARED:]
