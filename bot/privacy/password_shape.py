"""Recognising messages that carry a password, so they can be refused and hidden.

The assistant never needs a password typed into the chat: owners type the temporary and the new
password on the recorder. People paste them anyway, so anything password-shaped is warned about
and masked before Rasa stores it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable

from bot.cases.codes import is_case_code, normalise_case_code

MASK = "[hidden: this message looked like a password]"

_SPECIALS = set(string.punctuation)
# Punctuation around a word ("Thanks!", "(pardon?)") is the sentence's, not the word's.
_SURROUNDING_PUNCTUATION = "\"'“”‘’.,;:!?()"
# Inside a word these are ordinary: hyphens and apostrophes ("e-mail", "don't"), and what
# separates the groups of a Device ID, serial number or case code ("ND48-1027-3945-KXQ").
_ORDINARY_SYMBOLS = set("-'’._/:")
# "my password is Sunset2024!", "temp password: K7px9q", "new pass = hunter22" ...
_PASSWORD_STATEMENT = re.compile(
    r"\bpass(?:word|code|wd)?\b[^\n]{0,20}?(?:\bis\b|\bwill be\b|\bwas\b|:|=)\s*"
    r"[\"'“‘]?(?P<value>\S{4,})",
    re.IGNORECASE,
)
# The owner's email address is asked for (to verify ownership): its @ is not a password's symbol.
_EMAIL_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def is_password_like_token(token: str, *, called_a_password: bool = False) -> bool:
    """A single word shaped like a password: letters mixed with digits or symbols, or a case
    pattern no ordinary word has ("sUnShInE").

    Plain words ("Thanks!", "Finished", "e-mail") are not, whatever their capitals. Capitals and
    digits alone are the shape of Device IDs and serial numbers, which people rightly type here,
    unless the message ``called_a_password`` ("the temp password is K7PX9Q2M").
    """
    token = token.strip(_SURROUNDING_PUNCTUATION)
    if not 6 <= len(token) <= 64:
        return False
    if token[:2].upper() == "LX" and is_case_code(normalise_case_code(token)):
        return False  # a case code, however it is typed ("lx-4k7q9m")
    if is_email_address(token):
        return False
    letters = any(c.isalpha() for c in token)
    lower = any(c.islower() for c in token)
    upper = any(c.isupper() for c in token)
    digits = any(c.isdigit() for c in token)
    symbols = any(c in _SPECIALS and c not in _ORDINARY_SYMBOLS for c in token)
    if letters and digits and (lower or called_a_password):
        return True
    if symbols and (letters or digits):
        return True
    word = "".join(c for c in token if c.isalpha())
    return lower and upper and not (word.istitle() or word[1:].islower())


def is_email_address(text: str) -> bool:
    return bool(_EMAIL_ADDRESS.match(text.strip().strip(_SURROUNDING_PUNCTUATION)))


def looks_like_password(text: str, allowed_spans: Iterable[tuple[int, int]] = ()) -> bool:
    """Whether ``text`` seems to carry a password.

    ``allowed_spans`` are character ranges already recognised as something legitimate (a Device
    ID); a message that is only such a span is not a password, even in lower case.
    """
    stripped = text.strip()
    if not stripped:
        return False
    statement = _PASSWORD_STATEMENT.search(stripped)
    if statement and is_password_like_token(statement.group("value"), called_a_password=True):
        return True
    if len(stripped.split()) != 1:
        return False
    start = text.index(stripped)
    end = start + len(stripped)
    if any(s <= start and end <= e for s, e in allowed_spans):
        return False
    return is_password_like_token(stripped)
