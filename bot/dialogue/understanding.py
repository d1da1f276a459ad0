"""What the owner said, as the controller reads it: the NLU's intent and entities, plus the
few things read from the text itself (a step number, a case code)."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

from bot.cases.codes import CASE_CODE_ALPHABET, CASE_CODE_LENGTH, normalise_case_code
from bot.localisation import LANGUAGES, load_every_language, load_localised

# Below this, an intent is a guess: an answer to the question asked wins over it.
CONFIDENT = 0.8

_CASE_CODE = re.compile(
    rf"\bLX[\s\-_.]?(?:[{CASE_CODE_ALPHABET}][\s\-]?){{{CASE_CODE_LENGTH}}}(?![A-Z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class StepWords:
    """Every language's words for step numbers (data/content/step_words.yml and its
    translations), as patterns on a message in lower case without accents."""

    numbers: dict[str, int]
    number: re.Pattern[str]  # "8", "eight", "ocho", "huit"
    steps_back: re.Pattern[str]  # "back 5 steps", "two steps back", "regresa dos pasos"
    step_named: re.Pattern[str]  # "step 5", "step number two", "paso 3", "l'etape 4"
    last: re.Pattern[str]


def _alternatives(words: frozenset[str]) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


@functools.cache
def step_words() -> StepWords:
    numbers: dict[str, int] = {}
    words: dict[str, set[str]] = {"step": set(), "number": set(), "back": set(), "last": set()}
    for data in load_every_language("step_words.yml"):
        numbers.update({plain(str(k)): int(v) for k, v in data.require("numbers", dict).items()})
        for key, found in words.items():
            found.update(plain(str(word)) for word in data.require(key, list))
    number = rf"(\d{{1,2}}|{_alternatives(frozenset(numbers))})"
    step = rf"(?:{_alternatives(frozenset(words['step']))})"
    back = rf"(?:{_alternatives(frozenset(words['back']))})"
    named = rf"(?:{_alternatives(frozenset(words['number']))})"
    return StepWords(
        numbers=numbers,
        number=re.compile(rf"\b{number}\b"),
        steps_back=re.compile(
            rf"\b{back}\b.*?\b{number}\s+{step}\b|\b{number}\s+{step}\s+(?:en\s+)?{back}\b"
        ),
        step_named=re.compile(rf"\b{step}\s+(?:{named}\.?\s*)?{number}\b"),
        last=re.compile(rf"\b(?:{_alternatives(frozenset(words['last']))})\b"),
    )


def plain(text: str) -> str:
    """Lower case without accents, typographic apostrophes as plain ones ("Étape" -> "etape")."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("\u2019", "'"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


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

    def is_system_event(self) -> bool:
        """What the agent console did (Rasa's API, ``EXTERNAL_`` intents), not the owner."""
        return bool(self.intent and self.intent.startswith("EXTERNAL_"))

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
        """The first number in the text, in digits or words ("step 8", "two steps", "paso
        ocho")."""
        found = step_words().number.search(plain(self.text))
        return _number_value(found.group(1)) if found else None

    def says_last(self) -> bool:
        return step_words().last.search(plain(self.text)) is not None

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
        found = step_words().steps_back.search(plain(self.text))
        if found is None:
            return None
        return _number_value(found.group(1) or found.group(2))

    def step_named(self) -> int | None:
        """The step "go back to step 5" names; None for "go back 5 steps"."""
        found = step_words().step_named.search(plain(self.text))
        return _number_value(found.group(1)) if found else None

    def case_code(self) -> str | None:
        """A case code in the text (``LX-4K7Q9M``, ``lx 4k7 q9m``), normalised."""
        found = _CASE_CODE.search(self.text)
        return normalise_case_code(found.group(0)) if found else None


def _number_value(word: str) -> int:
    return int(word) if word.isdigit() else step_words().numbers[word]


@functools.cache
def _word_list(key: str) -> frozenset[str]:
    """Every language's words of data/content/short_answers.yml's ``key``: a "sí" is a yes in an
    English conversation too."""
    return frozenset(
        str(word).lower()
        for language in LANGUAGES
        for word in load_localised("short_answers.yml", language).require(key, list)
    )


def person_words() -> frozenset[str]:
    return _word_list("person")


_NOT = frozenset(
    {"no", "not", "don't", "dont", "never", "without", "doesn't", "doesnt", "ne", "pas", "sin",
     "nunca", "jamais", "sans"}
)  # fmt: skip


def person_asking_words() -> frozenset[str]:
    return _word_list("person_asking")


def after_correcting_words(text: str) -> str | None:
    """What follows the words that open a correction ("sorry I mean Zion" -> "Zion"); None when
    the message does not open with them."""
    rest = text.strip()
    leads = sorted(_word_list("correcting"), key=len, reverse=True)
    while True:
        lowered = rest.lower()
        lead = next(
            (
                w
                for w in leads
                if lowered.startswith(w) and not lowered[len(w) : len(w) + 1].isalnum()
            ),
            None,
        )
        if lead is None:
            break
        rest = rest[len(lead) :].lstrip(" ,.:;!-—")
    return rest if rest != text.strip() and rest else None


def short_answers() -> tuple[frozenset[str], frozenset[str]]:
    return _word_list("affirm"), _word_list("deny")
