"""What the owner said, as the controller reads it: the NLU's intent and entities, plus the
few things read from the text itself (a step number, a case code)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from bot.cases.codes import CASE_CODE_ALPHABET, CASE_CODE_LENGTH, normalise_case_code
from bot.content import CONTENT_DIR, load_mapping

# Below this, an intent is a guess: an answer to the question asked wins over it.
CONFIDENT = 0.8

_NUMBER_WORDS = {
    "one": 1, "first": 1, "two": 2, "second": 2, "three": 3, "third": 3, "four": 4,
    "fourth": 4, "five": 5, "fifth": 5, "six": 6, "sixth": 6, "seven": 7, "seventh": 7,
    "eight": 8, "eighth": 8, "nine": 9, "ninth": 9, "ten": 10, "tenth": 10, "a couple": 2,
}  # fmt: skip
_NUMBER = re.compile(
    r"\b(\d{1,2}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b"
)
# "back 5 steps", "back two steps": a count of steps back, not a step's number.
_STEPS_BACK = re.compile(
    r"\bback\b.*?\b(\d{1,2}|"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")\s+steps?\b"
)
# "back to step 5", "step number two": a step named by its number.
_STEP_NAMED = re.compile(
    r"\bstep\s+(?:number\s+|no\.?\s*)?(\d{1,2}|"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")\b"
)
_LAST = re.compile(r"\b(last|final)\b")
_CASE_CODE = re.compile(
    rf"\bLX[\s\-_.]?(?:[{CASE_CODE_ALPHABET}][\s\-]?){{{CASE_CODE_LENGTH}}}(?![A-Z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Heard:
    text: str
    intent: str | None
    confidence: float = 1.0
    device_id: str | None = None  # the NLU's normalised Device ID entity
    entities: dict[str, str] = field(default_factory=dict)  # other entities, by name
    # The NLU's intents with their confidence, best first (after a fallback, its guesses).
    ranking: tuple[tuple[str, float], ...] = ()

    def is_(self, *intents: str) -> bool:
        return self.intent in intents

    def ranks(self, intent: str, at_least: float) -> bool:
        """Whether the NLU gave ``intent`` at least ``at_least`` confidence."""
        return any(name == intent and score >= at_least for name, score in self.ranking)

    def best_guess(self) -> tuple[str, float] | None:
        """After a fallback, the intent the NLU was least unsure of."""
        guesses = [item for item in self.ranking if item[0] != "nlu_fallback"]
        return guesses[0] if guesses else None

    def mentions_a_person(self) -> bool:
        words = set(re.sub(r"[^\w\s]", " ", self.text.lower()).split())
        return bool(words & person_words())

    def asks_for_a_person(self) -> bool:
        """ "can I talk to someone", "get me an agent": a person named after an asking word."""
        words = re.sub(r"[^\w\s']", " ", self.text.lower()).split()
        asking = person_asking_words()
        for at, word in enumerate(words):
            asked = [index for index in range(at) if words[index] in asking]
            # "I don't need an agent" (but "I don't remember them, can I talk to someone")
            negated = asked and _NOT.intersection(words[max(0, asked[-1] - 2) : at])
            if word in person_words() and asked and not negated:
                return True
        return False

    @property
    def confident(self) -> bool:
        return self.confidence >= CONFIDENT

    def number(self) -> int | None:
        """The first number in the text, in digits or words ("step 8", "two steps")."""
        found = _NUMBER.search(self.text.lower())
        if found is None:
            return None
        return _number_value(found.group(1))

    def says_last(self) -> bool:
        return _LAST.search(self.text.lower()) is not None

    def yes_or_no(self) -> str | None:
        """``affirm`` or ``deny`` when the message starts with a yes or a no
        (data/content/short_answers.yml), else None."""
        words = re.sub(r"[^\w\s']", " ", self.text.lower()).split()
        yes, no = short_answers()
        for length in (3, 2, 1):
            start = " ".join(words[:length])
            if len(words) >= length and start in no:
                return "deny"
            if len(words) >= length and start in yes:
                return "affirm"
        return None

    def steps_back(self) -> int | None:
        """How many steps "go back 5 steps" asks to move back; None for "go back to step 5"."""
        found = _STEPS_BACK.search(self.text.lower())
        if found is None:
            return None
        return _number_value(found.group(1))

    def step_named(self) -> int | None:
        """The step "go back to step 5" names; None for "go back 5 steps"."""
        found = _STEP_NAMED.search(self.text.lower())
        return _number_value(found.group(1)) if found else None

    def case_code(self) -> str | None:
        """A case code in the text (``LX-4K7Q9M``, ``lx 4k7 q9m``), normalised."""
        found = _CASE_CODE.search(self.text)
        return normalise_case_code(found.group(0)) if found else None


def _number_value(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


@functools.cache
def _word_list(key: str) -> frozenset[str]:
    data = load_mapping(CONTENT_DIR / "short_answers.yml")
    return frozenset(str(word).lower() for word in data.require(key, list))


def person_words() -> frozenset[str]:
    return _word_list("person")


_NOT = frozenset({"no", "not", "don't", "dont", "never", "without", "doesn't", "doesnt"})


def person_asking_words() -> frozenset[str]:
    return _word_list("person_asking")


def short_answers() -> tuple[frozenset[str], frozenset[str]]:
    return _word_list("affirm"), _word_list("deny")
