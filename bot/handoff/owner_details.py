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
MAX_NAME_WORDS = 5
NAME_WORD = re.compile(r"[^\W\d_]+(?:['\-.][^\W\d_]*)*\.?")
# Words of questions and sentences that no name is made of ("will" and "can" are left out:
# they are also first names, and the questions they start hold other words of this list).
NOT_NAME_WORDS = frozenset(
    """a an and are be could did do does dont don't for from going has have how i i'm im is it
    it's its long me my need no not of ok okay on or please secure so take that the there this
    to wait want was we what when where which who why with wrong yes you your thanks thank cool
    great hello hi hey bye yeah nope sorry help agent person human someone
    que qué como cómo donde dónde cuando cuándo cuanto cuánto porque por para gracias hola ayuda
    agente persona alguien necesito quiero gratis quoi comment où quand pourquoi combien merci
    bonjour allo aide personne quelqu'un besoin veux""".split()  # noqa: SIM905
)
LEAD_IN = re.compile(
    r"^(?:it'?s|it is|my name is|the name is|name is|i'?m|i am|this is|email is|"
    r"my email is|phone is|my phone is|my number is|number is|it'?s registered to|"
    # Spanish and French: "es", "soy", "a nombre de", "c'est", "je m'appelle", "au nom de".
    r"es|soy|me llamo|mi nombre es|el nombre es|(?:est[aá] )?a nombre de|mi correo es|"
    r"mi tel[eé]fono es|c'?est|je suis|je m'appelle|mon nom est|le nom est|"
    r"(?:c'?est )?au nom de|mon courriel est|mon num[eé]ro est)\s+",
    re.IGNORECASE,
)
# "It's under my husband's, Dana Whitfield", "está a nombre de mi esposo, Vale Pinecrest": the
# name after the comma, when what comes before it says whose name it is.
WHOSE_NAME = re.compile(
    r"\b(?:name|under|registered|nombre|registrad[ao]|nom|enregistr[ée]e?)\b", re.IGNORECASE
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
    if not looks_like_a_name(name) and "," in text:
        before, _, after = text.rpartition(",")
        if WHOSE_NAME.search(before):
            name = LEAD_IN.sub("", after.strip()).strip(" .!")
    if not looks_like_a_name(name):
        return Answer(None)
    return Answer(name)


def looks_like_a_name(text: str) -> bool:
    """A person's name: a few words of letters (with ' - .), none of them a word of a sentence.
    Anything else ("how long is this going to take", "is this secure?", "wait, wrong one")
    is not taken as a name, so the dialogue's repair patterns get it instead."""
    words = text.split()
    if not 1 <= len(words) <= MAX_NAME_WORDS or len(text) > MAX_NAME:
        return False
    if not all(NAME_WORD.fullmatch(word) for word in words):
        return False
    return not any(word.lower().strip(".'") in NOT_NAME_WORDS for word in words)


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
