"""What the user says about the recorder's owner (name, email, phone), checked as it is typed.

The agent compares these with the registry (:mod:`bot.handoff.verification`); here we only make
sure each answer is usable, or a clear "I'd rather not say" (:data:`SKIPPED`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SKIPPED = "skipped"  # the slot value for a detail the user chose not to give
EMAIL = re.compile(r"[^@\s<>(),;:\"']+@[^@\s<>(),;:\"']+\.[a-z]{2,}", re.IGNORECASE)
PHONE_CHARACTERS = re.compile(r"\+?\(?\d[\d ()\-.]{5,}\d")
PHONE_DIGITS = range(7, 16)
MAX_NAME = 200
LEAD_IN = re.compile(
    r"^(?:it'?s|it is|my name is|the name is|name is|i'?m|i am|this is|email is|"
    r"my email is|phone is|my phone is|my number is|number is|it'?s registered to)\s+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Answer:
    value: str | None  # the cleaned value, SKIPPED, or None when unusable

    @property
    def unclear(self) -> bool:
        return self.value is None


def _skips(text: str, skip_answers: frozenset[str]) -> bool:
    plain = re.sub(r"[^\w\s'/]", "", text).strip().lower()
    return plain in skip_answers


def parse_name(text: str, skip_answers: frozenset[str]) -> Answer:
    text = " ".join(text.split())
    if _skips(text, skip_answers):
        return Answer(SKIPPED)
    name = LEAD_IN.sub("", text).strip(" .!")
    if not name or not any(ch.isalpha() for ch in name):
        return Answer(None)
    if len(name) > MAX_NAME or "@" in name:
        return Answer(None)
    return Answer(name)


def parse_email(text: str, skip_answers: frozenset[str]) -> Answer:
    if _skips(text, skip_answers):
        return Answer(SKIPPED)
    found = EMAIL.search(text)
    if found is None:
        return Answer(None)
    return Answer(found.group(0).strip(".").lower())


def parse_phone(text: str, skip_answers: frozenset[str]) -> Answer:
    if _skips(text, skip_answers):
        return Answer(SKIPPED)
    found = PHONE_CHARACTERS.search(text)
    digits = re.sub(r"\D", "", found.group(0)) if found else ""
    if len(digits) not in PHONE_DIGITS:
        return Answer(None)
    assert found is not None
    return Answer(" ".join(found.group(0).split()))


def given(value: str | None) -> str | None:
    """A slot value as the case stores it: None for not given or skipped."""
    return None if value in (None, "", SKIPPED) else value
