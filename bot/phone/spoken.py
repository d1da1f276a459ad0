"""Reading a Device ID out of what a speech recogniser heard, and resolving it with the registry.

Twilio delivers speech as text: "N as in Nancy, D, four eight, one oh two seven", "um it's
november delta 48 double one", "triple nine". :func:`hear` turns one transcript into
:class:`Piece` s, one per character said, each with the alternatives a recogniser could have
confused it with (``B`` for ``D``, ``9`` for ``5`` ...; the groups are in
``data/content/phone.yml``). Letters said with a word ("N as in Nancy", NATO "November") are
certain. Pieces from several turns are simply added together by the caller.

:func:`resolve` then asks the registry, which is the authority: for each Device ID pattern of the
right length it fixes look-alikes the pattern decides (an "oh" where a digit belongs is 0), and
tries the confusable alternatives, fewest changes first and bounded by
``max_confusable_swaps``. It returns only IDs that are registered; the channel reads each back
and the caller confirms. Nothing unconfirmed is ever accepted.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.devices.formats import DIGIT, LETTER, DeviceIdFormats
from bot.phone.content import PhoneContent
from bot.phone.pieces import Heard, Piece, Token, assemble
from bot.phone.spelling import hear_spelt

__all__ = ["Heard", "Piece", "RegisteredIds", "Resolution", "hear", "join_pieces", "resolve"]

# Lookups one resolution may make at most: a transcript full of "B"s must not scan the registry.
MAX_CANDIDATES = 1500

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

UNITS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0",
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "niner": "9",
}
# Words a recogniser writes for a digit in the middle of an ID ("N D for eight").
WEAK_UNITS = {"for": "4", "fore": "4", "to": "2", "too": "2", "won": "1", "ate": "8"}
TEENS = {
    "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}
TENS = {
    "twenty": "2", "thirty": "3", "forty": "4", "fourty": "4", "fifty": "5", "sixty": "6",
    "seventy": "7", "eighty": "8", "ninety": "9",
}
NATO = {
    "alfa": "A", "alpha": "A", "bravo": "B", "charlie": "C", "delta": "D", "echo": "E",
    "foxtrot": "F", "golf": "G", "hotel": "H", "india": "I", "juliet": "J", "juliett": "J",
    "kilo": "K", "lima": "L", "mike": "M", "november": "N", "oscar": "O", "papa": "P",
    "quebec": "Q", "romeo": "R", "sierra": "S", "tango": "T", "uniform": "U", "victor": "V",
    "whiskey": "W", "whisky": "W", "xray": "X", "yankee": "Y", "zulu": "Z",
}
# Letter names as a recogniser spells them.
LETTER_NAMES = {
    "bee": "B", "cee": "C", "dee": "D", "gee": "G", "jay": "J", "kay": "K", "el": "L",
    "ell": "L", "em": "M", "en": "N", "pee": "P", "cue": "Q", "ar": "R", "es": "S", "ess": "S",
    "tee": "T", "vee": "V", "ex": "X", "zed": "Z", "zee": "Z", "aitch": "H", "haitch": "H",
    "ef": "F", "eff": "F", "yu": "U", "wy": "Y",
}
# Ordinary English words that are also letter names: letters only in the middle of an ID.
WEAK_LETTER_NAMES = {
    "a": "A", "i": "I", "be": "B", "see": "C", "sea": "C", "pea": "P", "queue": "Q",
    "are": "R", "tea": "T", "you": "U", "why": "Y", "eye": "I",
}
_FILLER_WORDS = (
    "um umm uh uhh er erm ah hmm mm it's its it is my the device id number code and then "
    "dash hyphen space comma period dot point okay ok so well like yeah sorry that's thats "
    "ready here goes go on next rest of letter capital big small"
)
FILLER = frozenset(_FILLER_WORDS.split())
AS_IN = (("as", "in"), ("for",), ("like",), ("as",))
REPEATS = {"double": 2, "triple": 3, "treble": 3}

# Capitalised words that are not spelled letters ("OK", "ID" are filler; "NVR" is a word).
_CAPITAL_WORDS = frozenset({"ok", "id", "nvr", "dvr", "tv", "usb", "hdmi", "vga"})


_TOKEN_ANY_CASE = re.compile(r"[A-Za-z0-9']+")
_VOWELS = frozenset("aeiouy")


def _tokens(transcript: str) -> list[str]:
    """Lower-case words; a run of capitals or of consonants ("KXQ", "nd") is kept as letters.

    Recognisers write spelled-out letters as capitals; such a run (or one no English word could
    be) becomes a token of its own marked with a leading ``#``.
    """
    text = re.sub(r"(?i)x[- ]?ray", "xray", transcript)
    text = re.sub(r"(?i)double[- ]?(u|you)\b", "doubleu", text)
    tokens = []
    for word in _TOKEN_ANY_CASE.findall(text.replace("-", " ")):
        lower = word.lower()
        spelled = word.isalpha() and 1 < len(word) <= 5 and (
            (word.isupper() and lower not in NATO and lower not in _CAPITAL_WORDS)
            or (not set(lower) & _VOWELS and lower not in LETTER_NAMES and lower not in FILLER)
        )
        tokens.append("#" + lower if spelled else lower)
    return tokens


class _Reader:
    def __init__(self, tokens: list[str], content: PhoneContent) -> None:
        self.tokens = tokens
        self.content = content
        self.index = 0

    def letter(self, char: str) -> Piece:
        return Piece(char, self.content.confusable_with(char))

    def digit(self, char: str) -> Piece:
        return Piece(char, self.content.confusable_with(char))

    def peek(self, offset: int = 0) -> str | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def as_in_word(self) -> str | None:
        """The word after "as in" / "for" / "like" at the current position, consuming both."""
        for phrase in AS_IN:
            words = [self.peek(i) for i in range(len(phrase))]
            if tuple(words) == phrase:
                word = self.peek(len(phrase))
                if word and word.isalpha() and len(word) > 1 and word not in FILLER:
                    if phrase == ("for",) and word in UNITS:
                        return None  # "N for four": not a spelling word
                    self.index += len(phrase) + 1
                    return word
        return None

    def read(self) -> Token | None:
        """The next token's pieces (None: filler or an unknown word), advancing past it."""
        word = self.tokens[self.index]
        self.index += 1
        if word in REPEATS and self.peek() is not None:
            times = REPEATS[word]
            inner = self.read()
            if inner is None:
                return None
            # "double five" repeats the digit; "double ND" is unusual: repeat the last character
            pieces = inner.pieces[:-1] + inner.pieces[-1:] * times
            return Token(pieces, True)
        if word.startswith("#"):
            return Token([self.letter(c.upper()) for c in word[1:]], True)
        if word == "doubleu":
            return Token([Piece("W", ("UU",))], True)
        if word.isdigit():
            return Token([self.digit(c) for c in word], True)
        if any(c.isdigit() for c in word) and word.isalnum():
            return Token(
                [self.digit(c) if c.isdigit() else self.letter(c.upper()) for c in word], True
            )
        if word in TEENS:
            return Token([self.digit(c) for c in TEENS[word]], True)
        if word in TENS:
            unit = self.peek()
            if unit in UNITS and unit not in ("oh", "o", "zero"):
                self.index += 1
                return Token([self.digit(TENS[word]), self.digit(UNITS[unit])], True)
            return Token([self.digit(TENS[word]), Piece("0")], True)
        if word in ("hundred", "thousand"):
            # "four hundred" 400, "four hundred five" 405, "four hundred twenty five" 425
            zeros = 2 if word == "hundred" else 3
            following = self.peek(1) if self.peek() == "and" else self.peek()
            if following in TEENS or following in TENS:
                zeros -= 2
            elif following in UNITS and following not in ("oh", "o"):
                zeros -= 1
            return Token([Piece("0")] * zeros, True)
        if word in ("oh", "o"):
            spelled = self.as_in_word()
            if spelled is not None:  # "O as in orange" is the letter
                return Token([Piece(spelled[0].upper())], True)
            return Token([Piece("0", ("O",))], True)
        if word in UNITS:
            return Token([self.digit(UNITS[word])], True)
        if word == "as" and self.peek() == "in":  # "as in Nancy" without the letter before it
            self.index -= 1
            spelled = self.as_in_word()
            if spelled is not None:
                return Token([Piece(spelled[0].upper())], True)
            self.index += 1
        if word in NATO:
            return Token([Piece(NATO[word])], True)
        letter: str | None = None
        strong = True
        if len(word) == 1 and word.isalpha() and word not in ("a", "i"):
            letter = word.upper()
        elif word in LETTER_NAMES:
            letter = LETTER_NAMES[word]
        elif word in WEAK_LETTER_NAMES:
            letter, strong = WEAK_LETTER_NAMES[word], False
        if letter is not None:
            spelled = self.as_in_word()
            if spelled is not None:
                # The spelling word decides: "D as in boy" was a B the recogniser misheard.
                return Token([Piece(spelled[0].upper())], True)
            return Token([self.letter(letter)], strong)
        if word in WEAK_UNITS:
            return Token([self.digit(WEAK_UNITS[word])], False)
        return None


def hear(transcript: str, content: PhoneContent) -> Heard:
    """The Device ID pieces in ``transcript`` (empty if it holds none), read the way callers
    spell in the content's language."""
    if content.spelling is not None:
        return hear_spelt(transcript, content.spelling, content.confusable_with)
    tokens = _tokens(transcript)
    reader = _Reader(tokens, content)
    read: list[tuple[str, Token | None]] = []
    while reader.index < len(tokens):
        word = tokens[reader.index]
        read.append((word, reader.read()))
    return assemble(read, FILLER)


class RegisteredIds(Protocol):
    """The registry, asked which of some well-formed Device IDs exist."""

    def existing(self, device_ids: Sequence[str]) -> set[str]: ...


@dataclass(frozen=True)
class Resolution:
    heard: str  # what was heard, compact, look-alikes fixed where one pattern decides
    found: tuple[str, ...]  # registered IDs it may be, the closest to what was heard first
    complete: bool  # as long as some Device ID
    could_continue: bool  # what was heard may be the start of a longer Device ID


def _flatten(pieces: Sequence[Piece]) -> Iterator[list[Piece]]:
    """Readings of ``pieces`` as single characters (``W`` or ``UU`` changes the length)."""
    multi = [
        i for i, p in enumerate(pieces) if any(len(a) != 1 for a in (p.heard, *p.alternatives))
    ]
    options = [(pieces[i].heard, *pieces[i].alternatives) for i in multi]
    for choice in itertools.product(*options):
        chosen = dict(zip(multi, choice, strict=True))
        flat: list[Piece] = []
        for i, piece in enumerate(pieces):
            if i in chosen:
                flat.extend(Piece(c) for c in chosen[i])
            else:
                flat.append(piece)
        yield flat


def _admissible(char: str, wanted: str, formats: DeviceIdFormats) -> str | None:
    if wanted == LETTER:
        if char in _LETTERS:
            return char
        return formats.to_letter.get(char)
    if wanted == DIGIT:
        if char.isdigit():
            return char
        return formats.to_digit.get(char)
    return None


def _options(pieces: Sequence[Piece], pattern: str, formats: DeviceIdFormats) -> list[list[str]]:
    """Per position, the characters that fit ``pattern``: what was heard first."""
    result = []
    for piece, wanted in zip(pieces, pattern, strict=False):
        chars: list[str] = []
        for char in (piece.heard, *piece.alternatives):
            fitted = _admissible(char, wanted, formats)
            if fitted is not None and fitted not in chars:
                chars.append(fitted)
        result.append(chars)
    return result


def _candidates(options: list[list[str]], max_swaps: int) -> Iterator[str]:
    """Readings with the first option everywhere, then one changed position, then two ..."""
    if any(not chars for chars in options):
        return
    varying = [i for i, chars in enumerate(options) if len(chars) > 1]
    base = [chars[0] for chars in options]
    for swaps in range(max_swaps + 1):
        for positions in itertools.combinations(varying, swaps):
            for replacement in itertools.product(*(options[i][1:] for i in positions)):
                reading = list(base)
                for position, char in zip(positions, replacement, strict=True):
                    reading[position] = char
                yield "".join(reading)


def resolve(
    pieces: Sequence[Piece],
    formats: DeviceIdFormats,
    registry: RegisteredIds,
    *,
    max_swaps: int,
) -> Resolution:
    heard = "".join(piece.heard for piece in pieces)
    readings: list[str] = []
    complete = normalised = could_continue = False
    for flat in _flatten(pieces):
        for pattern in formats.patterns:
            if len(flat) < len(pattern):
                if all(_options(flat, pattern[: len(flat)], formats)):
                    could_continue = True
                continue
            if len(flat) != len(pattern):
                continue
            complete = True
            options = _options(flat, pattern, formats)
            if all(options) and not normalised:
                heard, normalised = "".join(chars[0] for chars in options), True
            for reading in _candidates(options, max_swaps):
                if reading not in readings:
                    readings.append(reading)
                if len(readings) >= MAX_CANDIDATES:
                    break
    existing = registry.existing(readings) if readings else set()
    return Resolution(
        heard=heard,
        found=tuple(reading for reading in readings if reading in existing),
        complete=complete,
        could_continue=could_continue,
    )


def join_pieces(*groups: Iterable[Piece]) -> tuple[Piece, ...]:
    return tuple(itertools.chain.from_iterable(groups))
