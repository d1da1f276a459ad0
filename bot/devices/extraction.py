"""Finding the Device ID (or an attempt at one) inside a free-text message, with spaCy.

1. Tokens. ``spacy.blank("en")`` with a tokenizer that cuts text into words of letters and
   digits and single other characters; e-mail addresses and URLs stay whole. (spaCy's English
   tokenizer keeps ``nd48-1027`` whole but splits ``3945-kxq``, so the same ID would give
   different tokens depending on its letters.)
2. Candidate spans. A :class:`~spacy.matcher.Matcher` finds maximal runs of ID-like tokens:
   chunks with a digit, letter-only chunks no longer than the longest run of letters in any
   pattern ("LRX", "KXQ"; not "thanks"), separators and symbols. Model names from the formats
   file ("N843") and longer words end a run.
3. Inside a run, every stretch of consecutive chunks is tried against the Device ID patterns and
   the serial-number pattern, look-alikes allowed. A fitting stretch is the answer; between
   several, the one needing the fewest look-alikes, then the one with fewest small words in it,
   then a Device ID over a serial number, then the longest. Its letters and digits must not come
   only from small words: "call me at 202 555 0147" is not the ID "ATZ025550147"; and a small
   word is in it only as one of its groups typed apart ("AB12 3456 7890 THE"; "XV2737167484 thx"
   is the ID "XVZ737167484" and a thank-you).
4. Attempts. If nothing fits, the text may still hold a mistyped ID, and the checks should be
   able to say what is wrong with it ("too short"). Small words (spaCy's stop words for English,
   Spanish and French, and every language's ``not_id_words`` in the formats files) split the
   run; the longest piece is an attempt if its chunks with a digit add up to at least
   ``extraction.min_length`` characters ("ND4810"; not "step 3" or "16GB") and one chunk mixes
   letters and digits ("ND48"; not "pin 12345678", "tel 202 555 0147", and so never a phone
   number, date or ticket number).

A symbol glued between two chunks ("ND48#1027") stays inside the candidate, so the checks can
report it as a bad character; a symbol with a space beside it only separates words.

``find`` returns the first fitting ID in the text, else the first attempt, else None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import spacy
from spacy.matcher import Matcher
from spacy.tokens import Doc, Span, Token
from spacy.vocab import Vocab

from bot.devices.formats import DIGIT, LETTER, DeviceIdFormats
from bot.devices.normalise import (
    SEPARATOR_CHARACTERS,
    compact,
    normalise_device_id,
    resolutions,
    resolve_serial_number,
)

_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]+")
_MIXED_CHUNK = re.compile(r"[A-Za-z0-9]*(?:[A-Za-z][0-9]|[0-9][A-Za-z])[A-Za-z0-9]*")
_SEPARATOR = re.compile(r"\s+|[" + re.escape(SEPARATOR_CHARACTERS) + r"]")
# One token each: an e-mail address or a URL (so their letters and digits never look like an ID;
# only URLs with a scheme or "www.", since a looser rule would swallow "ND48.1027.3945.KXQ"); a
# word of letters and digits, keeping an apostrophe between letters ("it's"); any other single
# character. The lengths are bounded so that a long run of symbols stays linear to scan.
_TOKEN = re.compile(
    r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}"
    r"|(?:https?://|www\.)\S+"
    r"|[^\W_]+(?:(?<=[A-Za-z])['\u2019](?=[A-Za-z])[^\W_]+)*"
    r"|\S",
    re.IGNORECASE,
)

_MATCH_KEY = "DEVICE_ID_CANDIDATE"
# Whose stop words are small words rather than ID material: the languages the assistant speaks
# (bot.localisation.LANGUAGES). spaCy has rule-based stop words for each, no model needed.
STOP_WORD_LANGUAGES = ("en", "es", "fr")
# A lone UTF-16 surrogate (JSON's "\ud800") is a str character that cannot be encoded, so spaCy
# fails on it. A Python str never holds a valid pair as surrogates, so every one is lone.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD: same length, so offsets hold."""
    return _LONE_SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class Extraction:
    """A Device ID (or an attempt) in a message: ``value`` normalised, the rest as typed."""

    value: str
    raw_text: str
    start_char: int
    end_char: int


@dataclass(frozen=True)
class _Window:
    """Chunks ``first``..``last`` (token indices into the doc) chosen as the ID or attempt."""

    first: int
    last: int
    fits_pattern: bool
    lookalikes: int  # characters changed to fit the pattern
    filler_count: int  # stop words and not_id_words inside
    serial_only: bool  # fits the serial-number pattern but no Device ID pattern
    length: int
    left_out: int  # ID-like chunks of the run (not small words) outside the window


class _ChunkTokenizer:
    """Cuts text into words of letters and digits and single other characters.

    One regex pass, so it stays linear; spaCy's rule-based tokenizer strips prefixes one
    character at a time, which is quadratic on a long run of symbols.
    """

    def __init__(self, vocab: Vocab) -> None:
        self.vocab = vocab

    def __call__(self, text: str) -> Doc:
        words: list[str] = []
        spaces: list[bool] = []
        position = 0
        for match in _TOKEN.finditer(text):
            self._add_gap(text[position : match.start()], words, spaces)
            words.append(match.group())
            spaces.append(False)
            position = match.end()
        self._add_gap(text[position:], words, spaces)
        return Doc(self.vocab, words=words, spaces=spaces)

    @staticmethod
    def _add_gap(gap: str, words: list[str], spaces: list[bool]) -> None:
        """Whitespace between tokens: one space belongs to the token before, the rest is a token."""
        if not gap:
            return
        if words and gap[0] == " ":
            spaces[-1] = True
            gap = gap[1:]
        if gap:
            words.append(gap)
            spaces.append(False)


class DeviceIdExtractor:
    """Finds Device IDs in text; build one per formats and reuse it (construction loads spaCy)."""

    def __init__(self, formats: DeviceIdFormats) -> None:
        self._formats = formats
        self._nlp = spacy.blank("en")
        self._nlp.tokenizer = _ChunkTokenizer(self._nlp.vocab)
        # Owners write in every language the assistant speaks: each one's small words count.
        self._stop_words = frozenset(
            word
            for language in STOP_WORD_LANGUAGES
            for word in spacy.util.get_lang_class(language).Defaults.stop_words
        )
        self._not_id_words = frozenset(compact(word) for word in formats.not_id_words)
        self._longest_not_id_word = max((len(w) for w in self._not_id_words), default=0)
        # How each Device ID pattern is typed in groups ("ND48 1027 3945 KXQ"), by pattern.
        self._groups: dict[str, set[tuple[int, ...]]] = {}
        for family in formats.families:
            self._groups.setdefault(family.pattern, set()).add(family.groups)
        targets = (*formats.patterns, formats.serial_pattern)
        self._target_lengths = frozenset(len(p) for p in targets)
        self._longest_target = max(self._target_lengths)
        self._needs_letter = all(LETTER in p for p in targets)
        self._needs_digit = all(DIGIT in p for p in targets)
        self._id_like_regex = re.compile(self._id_like_part())
        self._matcher = Matcher(self._nlp.vocab)
        self._matcher.add(_MATCH_KEY, self._candidate_patterns(), greedy="LONGEST")

    def _id_like_part(self) -> str:
        """A regex for one token that can belong to a Device ID as typed."""
        with_digit = r"[A-Za-z0-9]*[0-9][A-Za-z0-9]*"
        # Longer letter-only words ("thanks", "device") cannot be a group of any pattern.
        letters = rf"[A-Za-z]{{1,{self._formats.longest_letter_run}}}"
        return rf"(?:{with_digit}|{letters}|\s+|[^\w\s]|_)"

    def _candidate_patterns(self) -> list[list[dict[str, object]]]:
        """Matcher patterns for a maximal run of ID-like tokens.

        Each run is anchored on the token before it (or on the start of the text): a pattern
        that could start anywhere inside a run would make the Matcher track every start and end
        pair, which is quadratic in the run and exhausts memory on a long run of digits.
        """
        part = self._id_like_part()
        models = [model.lower() for model in self._formats.models]
        id_like = {"TEXT": {"REGEX": rf"^{part}$"}, "LOWER": {"NOT_IN": models}}
        more_id_like = {**id_like, "OP": "*"}
        return [
            [{**id_like, "IS_SENT_START": True}, more_id_like],
            [{"TEXT": {"REGEX": rf"^(?!{part}$)"}}, id_like, more_id_like],
            [{"LOWER": {"IN": models}}, id_like, more_id_like],
        ]

    def find(self, text: str) -> Extraction | None:
        """The first Device ID in ``text``; failing that, the first attempt at one; else None."""
        text = without_lone_surrogates(text)
        doc = self._nlp.make_doc(text)
        attempt: _Window | None = None
        for _, start, end in sorted(self._matcher(doc), key=lambda match: match[1]):
            if not doc[start].is_sent_start or not self._is_id_like(doc[start]):
                start += 1  # the anchor token before the run
            for run in self._runs(doc[start:end]):
                window = self._best_window(run)
                if window is None:
                    continue
                if window.fits_pattern:
                    return self._extraction(text, doc, window)
                if attempt is None:
                    attempt = window
        return self._extraction(text, doc, attempt) if attempt is not None else None

    def _extraction(self, text: str, doc: Doc, window: _Window) -> Extraction:
        start_char = doc[window.first].idx
        end_char = doc[window.last].idx + len(doc[window.last])
        raw_text = text[start_char:end_char]
        return Extraction(
            value=normalise_device_id(raw_text, self._formats),
            raw_text=raw_text,
            start_char=start_char,
            end_char=end_char,
        )

    def _is_id_like(self, token: Token) -> bool:
        return self._id_like_regex.fullmatch(token.text) is not None and (
            token.text.upper() not in self._formats.models
        )

    @staticmethod
    def _runs(span: Span) -> list[_Run]:
        """The span's chunks, split at symbols that are not glued between two chunks."""
        runs = [_Run()]
        tokens = list(span)
        for position, token in enumerate(tokens):
            if _ASCII_ALNUM.fullmatch(token.text):
                runs[-1].add_chunk(token)
            elif _SEPARATOR.fullmatch(token.text):
                continue
            else:
                before = tokens[position - 1] if position > 0 else None
                after = tokens[position + 1] if position + 1 < len(tokens) else None
                glued = (
                    before is not None
                    and after is not None
                    and not before.whitespace_
                    and not token.whitespace_
                    and _ASCII_ALNUM.fullmatch(before.text) is not None
                    and _ASCII_ALNUM.fullmatch(after.text) is not None
                )
                if glued:
                    runs[-1].add_symbol(token)
                elif runs[-1].chunks:
                    runs.append(_Run())
        return [run for run in runs if run.chunks]

    def _fillers(self, chunks: list[Token]) -> list[bool]:
        """Which chunks are ordinary words or labels rather than ID material."""
        fillers = [
            token.lower_ in self._stop_words or token.text.upper() in self._not_id_words
            for token in chunks
        ]
        # Labels typed with a separator inside ("S/N", "s-n") span two chunks.
        for index in range(len(chunks) - 1):
            pair = chunks[index].text + chunks[index + 1].text
            if len(pair) <= self._longest_not_id_word and pair.upper() in self._not_id_words:
                fillers[index] = fillers[index + 1] = True
        return fillers

    def _best_window(self, run: _Run) -> _Window | None:
        fillers = self._fillers(run.chunks)
        # Letters and digits must come from chunks that are not small words: "call me at
        # 202 555 0147" would otherwise read as the ID "ATZ025550147".
        has_letter, has_digit = [], []
        for token, is_filler in zip(run.chunks, fillers, strict=True):
            has_letter.append(not is_filler and any(c.isalpha() for c in token.text))
            has_digit.append(not is_filler and any(c.isdigit() for c in token.text))
        fitting: list[_Window] = []
        for first in range(len(run.chunks)):
            for last in range(first, len(run.chunks)):
                value = run.compact_value(first, last)
                if len(value) > self._longest_target:
                    break
                if not (
                    len(value) in self._target_lengths
                    and (any(has_letter[first : last + 1]) or not self._needs_letter)
                    and (any(has_digit[first : last + 1]) or not self._needs_digit)
                ):
                    continue
                as_device_id_by_pattern = resolutions(value, self._formats)
                if any(len(run.chunks[i]) > 1 and fillers[i] for i in range(first, last + 1)):
                    # A small word ("thx", "the") is part of an ID only as one of its groups,
                    # typed apart in an ID typed in its groups: "AB12 3456 7890 THE" is one ID,
                    # "XV2737167484 thx" is the ID "XVZ737167484" and a thank-you. (Single
                    # letters are exempt: an ID spelled letter by letter has "a" and "i" in it.)
                    typed = tuple(len(chunk) for chunk in run.chunks[first : last + 1])
                    as_device_id_by_pattern = {
                        pattern: resolved
                        for pattern, resolved in as_device_id_by_pattern.items()
                        if typed in self._groups[pattern]
                    }
                    if not as_device_id_by_pattern:
                        continue
                as_device_id = list(as_device_id_by_pattern.values())
                as_serial = resolve_serial_number(value, self._formats)
                readings = as_device_id or ([as_serial] if as_serial is not None else [])
                if readings:
                    fitting.append(
                        _Window(
                            first=run.chunks[first].i,
                            last=run.chunks[last].i,
                            fits_pattern=True,
                            lookalikes=min(_differences(value, r) for r in readings),
                            filler_count=sum(fillers[first : last + 1]),
                            serial_only=not as_device_id,
                            length=len(value),
                            left_out=sum(
                                not filler
                                for index, filler in enumerate(fillers)
                                if index < first or index > last
                            ),
                        )
                    )
        if fitting:
            # The reading that leaves out fewest of the run's ID-like chunks wins ("OHQ4 7Q93
            # 4533 FVD" is one ID with two look-alikes, not a shorter ID followed by "FVD");
            # then the one that needs the fewest look-alikes ("AB12 3456 7890 THE" is that ID,
            # not "ABI234567890"); then the one without small words attached ("SN: 15LG..." is
            # a serial number, not "SNIS..."); then a Device ID over a serial number; then the
            # longest; then the first.
            return min(
                fitting,
                key=lambda w: (
                    w.left_out,
                    w.lookalikes,
                    w.filler_count,
                    w.serial_only,
                    -w.length,
                    w.first,
                ),
            )
        return self._attempt(run, fillers)

    def _attempt(self, run: _Run, fillers: list[bool]) -> _Window | None:
        """The longest stretch between filler words that looks like an attempt at an ID."""
        best: _Window | None = None
        first = 0
        while first < len(run.chunks):
            if fillers[first]:
                first += 1
                continue
            last = first
            while last + 1 < len(run.chunks) and not fillers[last + 1]:
                last += 1
            segment = [token.text for token in run.chunks[first : last + 1]]
            with_digit = sum(len(t) for t in segment if any(c.isdigit() for c in t))
            # A chunk that mixes letters and digits ("ND48") is what sets an attempt at an ID
            # apart from a word followed by a number ("pin 12345678", "tel 202 555 0147").
            mixed = any(_MIXED_CHUNK.fullmatch(t) for t in segment)
            value = run.compact_value(first, last)
            if (
                with_digit >= self._formats.min_candidate_length
                and mixed
                and (best is None or len(value) > best.length)
            ):
                best = _Window(
                    first=run.chunks[first].i,
                    last=run.chunks[last].i,
                    fits_pattern=False,
                    lookalikes=0,
                    filler_count=0,
                    serial_only=False,
                    length=len(value),
                    left_out=0,
                )
            first = last + 1
        return best


def _differences(typed: str, resolved: str) -> int:
    return sum(a != b for a, b in zip(typed, resolved, strict=True))


class _Run:
    """Chunks of letters and digits separated only by separators or glued symbols.

    Keeps the compact text of the whole run and where each chunk sits in it, so the compact
    value of any stretch of chunks is a slice rather than a new pass over the text.
    """

    def __init__(self) -> None:
        self.chunks: list[Token] = []
        self._pieces: list[str] = []
        self._length = 0
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._compact: str | None = None

    def add_chunk(self, token: Token) -> None:
        self.chunks.append(token)
        self._starts.append(self._length)
        self._add(token.text)
        self._ends.append(self._length)

    def add_symbol(self, token: Token) -> None:
        self._add(token.text)

    def _add(self, text: str) -> None:
        piece = text.upper()  # as compact() does; may change the length of a few characters
        self._pieces.append(piece)
        self._length += len(piece)
        self._compact = None

    def compact_value(self, first: int, last: int) -> str:
        """The compact text from chunk ``first`` to chunk ``last``, both included."""
        if self._compact is None:
            self._compact = "".join(self._pieces)
        return self._compact[self._starts[first] : self._ends[last]]
