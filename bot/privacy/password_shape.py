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
from bot.devices.formats import load_formats
from bot.devices.normalise import compact, resolutions, resolve_serial_number

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
# Words that say the message is about a password, so capitals and digits alone count ("temp pw
# 9XWQ2LMA", "the code support gave me is ZK42PLM7", "they gave me 3KDW8PZT"). A QR code or an
# error code is not.
_PASSWORD_WORDS = re.compile(
    r"\b(?:p[a@]ss(?:w[o0]rd|wd|code)?s?|pwd?|temp(?:orary)?|(?<!qr )(?<!error )code"
    r"|gave me|given me|sent me"
    # Spanish and French: the owner tells a password in their own language as often.
    r"|contrase[ñn]as?|claves?|temporal(?:es)?|c[oó]digo|mots? de passe|mdp|temporaires?)\b",
    re.IGNORECASE,
)
# Phrases that introduce the password someone chose or had ("I'll use Canyon!Echo4", "set it to
# Coral&Reef33", "make it Riverb3nd!", "my password used to be Pumpkin2015"): there, letters with
# digits count, as they do for a word typed on its own.
_CHOOSING_WORDS = re.compile(
    r"\b(?:(?:i'll|ill|i will|going to|gonna|i'd|i want to|let's|lets) use|make it|set it to|"
    r"setting it to|change it to|changing it to|want it to be|going to be|will be|used to be|"
    r"chose|choose|picked|going with|typed|entered"
    r"|voy a usar|usar[eé]|escog[ií]|eleg[ií]|va a ser|j'ai choisi|j'ai pris|va [eê]tre"
    r"|je vais (?:mettre|utiliser|prendre))\b",
    re.IGNORECASE,
)

# Saying what was tried on the recorder ("i tried Summer2023!", "I put in Summer2023 and it didn't
# work"): the word right after the verb is what was typed there. Only that word counts: "tried"
# and "used" are everyday words ("I tried step 3", "I used the app on my iPhone13").
_TRIED_VALUE = re.compile(
    r"\b(?:tried|trying|typed|typing|entered|entering|put|putting|used)\s+(?:in\s+)?"
    r"(?P<value>\S+)",
    re.IGNORECASE,
)


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


def is_id_shaped(token: str) -> bool:
    """Whether ``token`` is, separators and case aside, a Device ID or a serial number
    ("nd48-1027-3945-kxq", "LRX104592837", "21LX0483920175")."""
    formats = load_formats()
    value = compact(token.strip(_SURROUNDING_PUNCTUATION))
    return bool(resolutions(value, formats)) or resolve_serial_number(value, formats) is not None


def _is_address(token: str) -> bool:
    """An e-mail address or a URL: symbols and digits, but not a password."""
    if "@" in token and "." in token.rsplit("@", 1)[-1]:
        return True
    return token.lower().startswith(("http://", "https://", "www."))


def is_strongly_password_like(token: str) -> bool:
    """A word no Device ID, model name or ordinary word looks like, wherever it stands: letters
    with digits or symbols, plus a symbol that separates nothing or capitals in the middle of
    lower case ("Lantern_Glow12", "tiGer4life", "Meadow#Lark8", "GrandKids4Ever!")."""
    token = token.strip(_SURROUNDING_PUNCTUATION)
    if not is_password_like_token(token) or is_id_shaped(token) or _is_address(token):
        return False
    if any(c in _SPECIALS and c not in _ORDINARY_SYMBOLS for c in token):
        return True
    # Capitals after two lower-case letters: "tiGer", "Glow_Lantern", "Pine.Cone"; not "iPhone"
    # or "WiFi".
    camel = re.search(r"[a-z]{2}[._]?[A-Z]", token) is not None
    return camel and (any(c.isdigit() for c in token) or "_" in token)


def _could_be_a_device_id(token: str) -> bool:
    """Whether a word the NLU took for a Device ID (or an attempt at one) may really be one: no
    Device ID has a longer run of letters than its patterns ("hunter22", "Tiger2024" cannot be),
    nor the shape of a strong password."""
    longest_run = load_formats().longest_letter_run
    runs = re.findall(r"[A-Za-z]+", token)
    if any(len(run) > longest_run for run in runs):
        return False
    return not is_strongly_password_like(token)


def _excused(start: int, end: int, token: str, spans: list[tuple[int, int]]) -> bool:
    return _could_be_a_device_id(token) and any(s <= start and end <= e for s, e in spans)


def _within(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return any(span_start <= start and end <= span_end for span_start, span_end in spans)


def _introduced_password(text: str, spans: list[tuple[int, int]]) -> bool:
    """A password-like word in a sentence that says it is a password ("temp pw 9XWQ2LMA", "they
    gave me JQ5T8RWC"), or introduces one ("I'll use Tiger2024"), or right after saying it was
    tried ("i tried Summer2023!"). Device IDs and recorder model names ("LNR600") are not; nor,
    unless called a password, an attempt at a Device ID ("I entered nd48102")."""
    called = _PASSWORD_WORDS.search(text) is not None
    models = set(load_formats().models)
    if called or _CHOOSING_WORDS.search(text):
        words = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    else:
        words = [(m.group("value"), *m.span("value")) for m in _TRIED_VALUE.finditer(text)]
    return any(
        _is_password_word(token, start, end, spans, models, called=called)
        for token, start, end in words
    )


def _is_password_word(
    token: str,
    start: int,
    end: int,
    spans: list[tuple[int, int]],
    models: set[str],
    *,
    called: bool,
) -> bool:
    """Whether ``token``, introduced as a password, is one: password-shaped (capitals and digits
    alone only when ``called`` a password: they are a Device ID's shape), and not a Device ID, a
    model name or an address."""
    if not called and _excused(start, end, token, spans):
        return False
    bare = token.strip(_SURROUNDING_PUNCTUATION)
    if is_id_shaped(bare) or compact(bare) in models or _is_address(bare):
        return False
    return is_password_like_token(bare, called_a_password=called)


def mentions_a_password(text: str) -> bool:
    """Whether ``text`` speaks of a password, or of choosing or typing one ("my old pw", "I'll
    use", "they gave me")."""
    return bool(_PASSWORD_WORDS.search(text) or _CHOOSING_WORDS.search(text))


def looks_like_password(text: str, allowed_spans: Iterable[tuple[int, int]] = ()) -> bool:
    """Whether ``text`` seems to carry a password.

    ``allowed_spans`` are character ranges already recognised as something legitimate (a Device
    ID); a message that is only such a span is not a password, even in lower case, unless the
    word is one no Device ID looks like ("Dune_Buggy42", "hunter22").
    """
    stripped = text.strip()
    if not stripped:
        return False
    spans = list(allowed_spans)
    statement = _PASSWORD_STATEMENT.search(text)
    if (
        statement
        # "I forgot my password, the device id is ND48...": the value is the Device ID.
        and not _within(statement.start("value"), statement.end("value"), spans)
        and is_password_like_token(statement.group("value"), called_a_password=True)
    ):
        return True
    if len(stripped.split()) != 1:
        if any(is_strongly_password_like(word) for word in stripped.split()):
            return True
        return _introduced_password(text, spans)
    start = text.index(stripped)
    if _excused(start, start + len(stripped), stripped, spans):
        return False
    return is_password_like_token(stripped)
