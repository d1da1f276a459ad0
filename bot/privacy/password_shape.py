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
# What separates the groups of a Device ID, serial number or case code ("LX-4K7Q9M",
# "ND48-1027-3945-KXQ"): not a special character in those.
_GROUP_SEPARATORS = set("-._/:")
# "my password is Sunset2024!", "temp password: K7px9q", "new pass = hunter22" ...
_PASSWORD_STATEMENT = re.compile(
    r"\bpass(?:word|code|wd)?\b[^\n]{0,20}?(?:\bis\b|\bwill be\b|\bwas\b|:|=)\s*"
    r"[\"'“‘]?(?P<value>\S{4,})",
    re.IGNORECASE,
)


def _character_classes(token: str) -> tuple[bool, bool, bool, bool]:
    return (
        any(c.islower() for c in token),
        any(c.isupper() for c in token),
        any(c.isdigit() for c in token),
        any(c in _SPECIALS for c in token),
    )


def is_password_like_token(token: str) -> bool:
    """A single word that mixes character classes the way passwords do.

    All-capitals-and-digits tokens are left alone: that is the shape of Device IDs, serial
    numbers and case codes, which people rightly type into the chat.
    """
    token = token.strip("\"'“”‘’.,;")
    if not 6 <= len(token) <= 64:
        return False
    if token[:2].upper() == "LX" and is_case_code(normalise_case_code(token)):
        return False  # a case code, however it is typed ("lx-4k7q9m")
    lower, upper, digit, special = _character_classes(token)
    if sum((lower, upper, digit, special)) < 2:
        return False
    return lower or any(c in _SPECIALS and c not in _GROUP_SEPARATORS for c in token)


def looks_like_password(text: str, allowed_spans: Iterable[tuple[int, int]] = ()) -> bool:
    """Whether ``text`` seems to carry a password.

    ``allowed_spans`` are character ranges already recognised as something legitimate (a Device
    ID); a message that is only such a span is not a password, even in lower case.
    """
    stripped = text.strip()
    if not stripped:
        return False
    statement = _PASSWORD_STATEMENT.search(stripped)
    if statement and is_password_like_token(statement.group("value")):
        return True
    if len(stripped.split()) != 1:
        return False
    start = text.index(stripped)
    end = start + len(stripped)
    if any(s <= start and end <= e for s, e in allowed_spans):
        return False
    return is_password_like_token(stripped)
