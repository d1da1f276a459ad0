"""Reading a Device ID spelt aloud in Spanish or French, from the words of that language.

How a language's speakers spell (letter names, spelling words, number words, repetitions,
corrections, fillers) is data: ``data/content/spoken/<lang>.yml``, loaded into a
:class:`Spelling`. :func:`hear_spelt` turns one transcript into the same
:class:`~bot.phone.pieces.Piece` s as the English reader (:mod:`bot.phone.spoken`), and the
registry resolves them the same way (:func:`bot.phone.spoken.resolve`): letters said by name may
be a look-alike (B for V, M for N ...), letters said with a spelling word ("ene de Nicolás",
"N comme Nicolas") are certain, and the spelling word decides ("ve de burro" is B).

Numbers are read as they are said: one digit at a time, in pairs ("cuarenta y ocho",
"quatre-vingt-dix-neuf", "soixante et onze"), in hundreds and thousands ("setecientos ocho",
"six mille trois cent cinquante-neuf"); a number goes on while each word fits a smaller place
than the last ("quatre-vingt-quatre vingt" is 84 then 20), and a comma ends it. Repetitions:
"doble cinco", "dos cincos", "deux fois cinq", "triple sept". A correction ("no perdón tres",
"non attends huit") replaces what was said just before. Words that are letters only in the middle
of an ID ("de", "a", "des", "elle") are kept at its edges as optional, for the registry to decide,
as the English reader does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.content import ContentMapping, load_mapping
from bot.phone.pieces import Heard, Piece, Token, assemble

Confusable = Callable[[str], tuple[str, ...]]

# A token that is a spelt letter (a capital, or a letter from a phrase such as "i griega").
_LETTER = "#"
# A comma (or full stop) the recogniser wrote: it ends a number ("quatre-vingts, huit").
_BREAK = ","
_CORRECTION = "!correction"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[,.;]")
_THOUSANDS_SEPARATOR = re.compile(r"(?<=\d),(?=\d{3}\b)")
# Words written in capitals that are not spelt letters.
_CAPITAL_WORDS = frozenset({"id", "ok", "nvr", "dvr", "tv", "usb", "hdmi", "vga"})


def folded(text: str) -> str:
    """``text`` in lower case without accents ("Español" is "espanol")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class Spelling:
    """How one language's speakers spell a Device ID aloud (lower-case words)."""

    letters: dict[str, str]  # a letter's name -> the letter
    weak_letters: dict[str, str]  # names that are ordinary words too: letters only in an ID
    phrases: dict[tuple[str, ...], tuple[str, ...]]  # several words read as others
    spelling_connectors: frozenset[str]  # "ene *de* Nicolás", "N *comme* Nicolas"
    digits: dict[str, str]
    weak_digits: dict[str, str]  # words a recogniser writes for a digit in an ID ("oui": 8)
    numbers: dict[str, int]  # whole numbers from ten up ("once", "veintiséis", "quinze")
    tens: dict[str, int]
    tens_taking_teens: frozenset[str]  # "soixante" + "treize" is 73
    compounds: dict[tuple[str, str], int]  # a digit then a word: "quatre vingt" is 80
    closing: frozenset[str]  # a number ends with these ("quatre-vingts")
    hundreds: dict[str, int]  # "setecientos": 700
    hundred: frozenset[str]  # "deux *cent*"
    thousand: frozenset[str]  # "dos *mil*"
    number_connectors: frozenset[str]  # "treinta *y* siete", "vingt *et* un"
    repeats: dict[str, int]  # "doble cinco"
    times: frozenset[str]  # "dos *veces* cinco", "deux *fois* cinq"
    plurals: dict[str, str]  # "dos *cincos*": the digit
    filler: frozenset[str]

    def known(self, word: str) -> bool:
        return any(
            word in table
            for table in (
                self.letters, self.weak_letters, self.digits, self.weak_digits, self.numbers,
                self.tens, self.hundreds, self.repeats, self.plurals,
            )
        ) or word in self.filler or word in _CAPITAL_WORDS


def load_spelling(path: Path) -> Spelling:
    """A language's spelling words, from ``path`` (errors name the file and line)."""
    data = load_mapping(path)

    def words(key: str) -> frozenset[str]:
        values = data.require(key, list)
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise data.error(f"'{key}' must be a list of words")
        return frozenset(v.strip().lower() for v in values)

    def mapping(key: str) -> ContentMapping:
        return data.require(key, ContentMapping)

    def letters(key: str) -> dict[str, str]:
        table = {str(k).lower(): str(v).upper() for k, v in mapping(key).items()}
        for name, letter in table.items():
            if not (len(letter) == 1 and "A" <= letter <= "Z"):
                raise mapping(key).error(f"{key}: {name!r} must name one letter A-Z")
        return table

    def integers(key: str) -> dict[str, int]:
        table = {}
        for name, value in mapping(key).items():
            if not isinstance(value, int) or value < 0:
                raise mapping(key).error(f"{key}: {name!r} must be a whole number")
            table[str(name).lower()] = value
        return table

    def digit_words(key: str) -> dict[str, str]:
        table = {str(k).lower(): str(v) for k, v in mapping(key).items()}
        for name, digit in table.items():
            if not (len(digit) == 1 and digit.isdigit()):
                raise mapping(key).error(f"{key}: {name!r} must be one digit")
        return table

    phrases = {
        tuple(str(k).lower().split()): tuple(_phrase_tokens(str(v)))
        for k, v in mapping("phrases").items()
    }
    for correction in words("corrections"):
        phrases[tuple(correction.split())] = (_CORRECTION,)
    compounds = {}
    for pair, value in integers("compounds").items():
        first, *rest = pair.split()
        if len(rest) != 1:
            raise mapping("compounds").error(f"compounds: {pair!r} must be two words")
        compounds[(first, rest[0])] = value
    return Spelling(
        letters=letters("letters"),
        weak_letters=letters("weak_letters"),
        phrases=phrases,
        spelling_connectors=words("spelling_connectors"),
        digits=digit_words("digits"),
        weak_digits=digit_words("weak_digits"),
        numbers=integers("numbers"),
        tens=integers("tens"),
        tens_taking_teens=words("tens_taking_teens"),
        compounds=compounds,
        closing=words("closing"),
        hundreds=integers("hundreds"),
        hundred=words("hundred"),
        thousand=words("thousand"),
        number_connectors=words("number_connectors"),
        repeats=integers("repeats"),
        times=words("times"),
        plurals=digit_words("plurals"),
        filler=words("filler"),
    )


def _phrase_tokens(replacement: str) -> list[str]:
    """A phrase's replacement: a capital letter is that letter; anything else, words."""
    if len(replacement) == 1 and replacement.isupper():
        return [_LETTER + replacement.lower()]
    return replacement.lower().split()


def _tokens(transcript: str, spelling: Spelling) -> list[str]:
    """Lower-case words, commas kept; spelt capitals ("N", "KXQ") marked as letters, and
    phrases replaced ("i griega" is Y, "no perdón" a correction)."""
    text = _THOUSANDS_SEPARATOR.sub("", transcript).replace("-", " ")
    words: list[str] = []
    for word in _WORD.findall(text):
        lower = word.lower()
        if word in ",.;":
            words.append(_BREAK)
        elif word.isalpha() and word.isupper() and len(word) <= 5 and (
            len(word) == 1 or not spelling.known(lower)
        ) and lower not in _CAPITAL_WORDS:
            words.append(_LETTER + lower)
        else:
            words.append(lower)
    tokens: list[str] = []
    index = 0
    longest = max((len(phrase) for phrase in spelling.phrases), default=0)
    while index < len(words):
        for length in range(min(longest, len(words) - index), 1, -1):
            replacement = spelling.phrases.get(tuple(words[index : index + length]))
            if replacement is not None:
                tokens.extend(replacement)
                index += length
                break
        else:
            replacement = spelling.phrases.get((words[index],))
            tokens.extend(replacement if replacement is not None else (words[index],))
            index += 1
    return tokens


class _Number:
    """A number said in words, built while each next word fits a smaller place."""

    def __init__(self, value: int, room: int, bare: str | None) -> None:
        self.value = value
        self.room = room  # the largest value that may still be added
        self.bare = bare  # the digit word said alone so far (for "deux cent", "quatre vingt")


class _Reader:
    def __init__(self, tokens: list[str], spelling: Spelling, confusable: Confusable) -> None:
        self.tokens, self.spelling, self.confusable = tokens, spelling, confusable
        self.index = 0

    def piece(self, char: str) -> Piece:
        return Piece(char, self.confusable(char))

    def peek(self, offset: int = 0) -> str | None:
        at = self.index + offset
        return self.tokens[at] if at < len(self.tokens) else None

    # --- letters ----------------------------------------------------------------------------

    def letter_of(self, word: str) -> tuple[str, bool] | None:
        """The letter ``word`` names, and whether it is one on its own (not only in an ID)."""
        spelling = self.spelling
        if word.startswith(_LETTER):
            return (word[1:].upper(), True) if len(word) == 2 else None
        if word in spelling.letters:
            return spelling.letters[word], True
        if word in spelling.weak_letters:
            return spelling.weak_letters[word], False
        if len(word) == 1 and "a" <= word <= "z":  # a small letter, as a letter said alone
            return word.upper(), True
        return None

    def spelling_word(self) -> str | None:
        """The letter of the spelling word after a connector here ("de burro": B), consuming
        both; None if there is none."""
        connector, word = self.peek(), self.peek(1)
        if connector not in self.spelling.spelling_connectors or word is None:
            return None
        if not word.isalpha() or len(word) < 2 or self.is_number_word(word):
            return None
        if word in self.spelling.filler or word in self.spelling.letters:
            return None
        self.index += 2
        return folded(word)[0].upper()

    # --- numbers ----------------------------------------------------------------------------

    def is_number_word(self, word: str) -> bool:
        spelling = self.spelling
        return any(
            word in table
            for table in (spelling.digits, spelling.numbers, spelling.tens, spelling.hundreds)
        ) or word in spelling.hundred or word in spelling.thousand

    def start_number(self, word: str) -> _Number | None:
        spelling = self.spelling
        if word in spelling.digits and spelling.digits[word] != "0":
            return _Number(int(spelling.digits[word]), 0, word)
        if word in spelling.numbers:
            return _Number(spelling.numbers[word], 0, None)
        if word in spelling.tens:
            room = 19 if word in spelling.tens_taking_teens else 9
            return _Number(spelling.tens[word], room, None)
        if word in spelling.hundreds:
            return _Number(spelling.hundreds[word], 99, None)
        if word in spelling.hundred:
            return _Number(100, 99, None)
        if word in spelling.thousand:
            return _Number(1000, 999, None)
        return None

    def joined(self, number: _Number, word: str) -> bool:
        """Add ``word`` to ``number`` if it fits a smaller place (True), else leave it."""
        spelling = self.spelling
        if number.bare is not None and (number.bare, word) in spelling.compounds:
            digit = int(spelling.digits[number.bare])
            number.value += spelling.compounds[(number.bare, word)] - digit
            number.room = 0 if word in spelling.closing else 19
            number.bare = None
            return True
        if word in spelling.digits and spelling.digits[word] != "0" and number.room >= 9:
            number.bare = word if number.room >= 99 else None
            number.value += int(spelling.digits[word])
            number.room = 0
            return True
        if word in spelling.numbers and number.room >= max(19, spelling.numbers[word]):
            number.value += spelling.numbers[word]
            number.room, number.bare = 0, None
            return True
        if word in spelling.tens and number.room >= 99:
            number.value += spelling.tens[word]
            number.room = 19 if word in spelling.tens_taking_teens else 9
            number.bare = None
            return True
        if word in spelling.hundreds and number.room >= 999:
            number.value += spelling.hundreds[word]
            number.room, number.bare = 99, None
            return True
        if word in spelling.hundred and (number.bare is not None or number.room >= 999):
            if number.bare is not None:
                digit = int(spelling.digits[number.bare])
                number.value += digit * 100 - digit
            else:
                number.value += 100
            number.room = 0 if word in spelling.closing else 99
            number.bare = None
            return True
        if word in spelling.thousand and number.value < 1000:
            number.value *= 1000
            number.room, number.bare = 999, None
            return True
        return False

    def number(self, word: str) -> Token | None:
        number = self.start_number(word)
        if number is None:
            return None
        while (following := self.peek()) is not None:
            if following in self.spelling.number_connectors and number.room >= 9:
                after = self.peek(1)
                probe = _Number(number.value, number.room, number.bare)
                if after is not None and self.joined(probe, after):
                    number.value, number.room, number.bare = probe.value, probe.room, probe.bare
                    self.index += 2
                    continue
                break
            if not self.joined(number, following):
                break
            self.index += 1
        return Token([self.piece(c) for c in str(number.value)], True)

    # --- one token --------------------------------------------------------------------------

    def read(self) -> Token | None:
        """The next token's pieces (None: filler or an unknown word), advancing past it."""
        spelling = self.spelling
        word = self.tokens[self.index]
        self.index += 1
        if word in spelling.repeats and self.peek() not in (None, _BREAK):
            inner = self.read()
            if inner is None or not inner.pieces:
                return None
            times = spelling.repeats[word]
            return Token(inner.pieces[:-1] + inner.pieces[-1:] * times, True)
        if word in spelling.digits and (self.peek() in spelling.plurals or (
            self.peek() in spelling.times and self.peek(1) not in (None, _BREAK)
        )):
            count = int(spelling.digits[word])
            if self.peek() in spelling.plurals:
                digit = spelling.plurals[str(self.peek())]
                self.index += 1
                return Token([self.piece(digit)] * count, True)
            self.index += 1  # "fois", "veces"
            inner = self.read()
            if inner is None or not inner.pieces:
                return None
            return Token(inner.pieces * count, True)
        if word in spelling.plurals:  # "treses" alone: the digit, twice
            return Token([self.piece(spelling.plurals[word])] * 2, True)
        if word.isdigit():
            return Token([self.piece(c) for c in word], True)
        if word.isalnum() and any(c.isdigit() for c in word) and word.isascii():
            return Token([self.piece(c.upper()) for c in word], True)
        if word.startswith(_LETTER) and len(word) > 2:  # a run of capitals, "KXQ"
            return Token([self.piece(c.upper()) for c in word[1:]], True)
        if word in spelling.digits and spelling.digits[word] == "0":
            return Token([Piece("0")], True)
        number = self.number(word)
        if number is not None:
            return number
        letter = self.letter_of(word)
        if letter is not None:
            spelt = self.spelling_word()
            if spelt is not None:
                # The spelling word decides: "ve de burro" is a B the recogniser misheard.
                return Token([Piece(spelt)], True)
            char, strong = letter
            return Token([self.piece(char)], strong)
        if word in spelling.weak_digits:
            return Token([self.piece(spelling.weak_digits[word])], False)
        return None


def hear_spelt(transcript: str, spelling: Spelling, confusable: Confusable) -> Heard:
    """The Device ID pieces in ``transcript`` (empty if it holds none)."""
    tokens = _tokens(transcript, spelling)
    reader = _Reader(tokens, spelling, confusable)
    read: list[tuple[str, Token | None]] = []
    while reader.index < len(tokens):
        word = tokens[reader.index]
        if word == _CORRECTION:
            # "no perdón tres": what was said just before is replaced by what follows.
            reader.index += 1
            while read and read[-1][1] is None:
                read.pop()
            if read:
                read.pop()
            continue
        read.append((word, reader.read()))
    ignored = spelling.filler | {_BREAK}
    return assemble(read, ignored)
