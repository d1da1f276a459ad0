"""Which language a conversation is held in (English, Spanish or French), and when it changes.

- An owner who asks for a language gets it at once ("en español por favor", "in English please",
  "no hablo inglés"), whatever the conversation was in.
- Until the language is known, each message that says clearly which language it is in decides
  it; before that, the client's language (the widget's page, the phone's choice) or English.
- Once known, one message in another language does not change it ("ok", "merci", a quoted menu
  name): two in a row, each clearly in the same other language, do.
- On the phone the caller chose the language at the start (or asked for another later, which the
  phone channel handles): the call's language is the conversation's.

Detection is lingua's (offline, n-gram models of the three languages in the package), on the
message without the words every language shares (data/content/languages.yml).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from bot.content import CONTENT_DIR, load_mapping
from bot.dialogue.state import Conversation
from bot.localisation import ENGLISH, LANGUAGES, language_or_none

LANGUAGES_FILE = CONTENT_DIR / "languages.yml"


@dataclass(frozen=True)
class LanguageWords:
    names: dict[str, frozenset[str]]  # language -> the names owners give it
    greetings: dict[str, frozenset[str]]  # language -> its greetings
    asking: frozenset[str]
    short_request_words: int
    negations: frozenset[str]
    neutral: frozenset[str]
    min_confidence: float
    min_words: int


@functools.cache
def language_words() -> LanguageWords:
    data = load_mapping(LANGUAGES_FILE)
    names = data.require("names", dict)
    greetings = data.require("greetings", dict)
    for key, found in (("names", names), ("greetings", greetings)):
        if set(found) != set(LANGUAGES):
            raise data.error(f"'{key}' must have each of {', '.join(LANGUAGES)}, exactly")

    def words(key: str) -> frozenset[str]:
        return frozenset(_plain(str(word)) for word in data.require(key, list))

    return LanguageWords(
        names={language: frozenset(_plain(str(n)) for n in names[language]) for language in names},
        greetings={
            language: frozenset(_plain(str(g)) for g in greetings[language])
            for language in greetings
        },
        asking=words("asking"),
        short_request_words=data.require("short_request_words", int),
        negations=words("negations"),
        neutral=words("neutral"),
        min_confidence=float(data.require("min_confidence", float)),
        min_words=data.require("min_words", int),
    )


def _plain(text: str) -> str:
    """Lower case, without accents ("Español" -> "espanol")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", _plain(text).replace("’", "'"))


# --- detecting a message's language --------------------------------------------------------------


@functools.cache
def _detector():  # type: ignore[no-untyped-def]
    # Imported here: the models take about 100 MB, loaded by the process that needs them.
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH, Language.FRENCH)
        .with_preloaded_language_models()
        .build()
    )


def load_detector() -> None:
    """Loads the detector's models (about 0.5 s and 100 MB), so no turn waits for them."""
    _detector()


def detect(text: str) -> str | None:
    """The language ``text`` is clearly written in, or None when it does not say (too short,
    only IDs, names and shared words, or the detector unsure)."""
    words = language_words()
    kept = [
        word
        for word in re.findall(r"[^\W\d_]+(?:['’][^\W\d_]+)*", text)
        if not _in_an_address_or_code(word, text) and _plain(word) not in words.neutral
    ]
    if len(kept) < words.min_words:
        return None
    best = _detector().compute_language_confidence_values(" ".join(kept))[0]
    if best.value < words.min_confidence:
        return None
    return language_or_none(best.language.iso_code_639_1.name)


def _in_an_address_or_code(word: str, text: str) -> bool:
    """Whether ``word`` is part of a token with digits, an @ or a dot inside (a Device ID, an
    email address, a web address, a password): names of things, in no language."""
    return any(
        word in token
        for token in text.split()
        if any(char.isdigit() for char in token) or "@" in token or "." in token.strip(".")
    )


# --- an owner asking for a language --------------------------------------------------------------


def asked_for(text: str) -> str | None:
    """The language the owner asks to be served in, if the message asks for one."""
    words = language_words()
    said = _words(text)
    for at, word in enumerate(said):
        named = next((lang for lang, names in words.names.items() if word in names), None)
        if named is None:
            continue
        asking = len(said) <= words.short_request_words or any(w in words.asking for w in said)
        if not asking:
            return None
        if words.negations.intersection(said[max(0, at - 4) : at]):
            # "no hablo inglés": not English, but the language this was written in.
            written = detect(text)
            return written if written != named else None
        return named
    return None


def greeting_language(text: str) -> str | None:
    """The language of a message that is only a greeting ("hola", "allo!", "buenas tardes")."""
    said = " ".join(_words(text))
    greetings = language_words().greetings
    return next((language for language, words in greetings.items() if said in words), None)


# --- the conversation's language -----------------------------------------------------------------


@dataclass
class LanguageChoice:
    language: str
    settled: bool  # known from a clear message, a request or the phone's choice
    pending: str | None  # another language the last message was clearly in
    asked: bool = False  # the owner asked for it in this message


def choose(
    current: str | None,
    settled: bool,
    pending: str | None,
    text: str,
    client_language: str | None,
    *,
    client_decides: bool,
    evidence: bool = True,
) -> LanguageChoice:
    """The conversation's language after the owner's message ``text``.

    ``current``/``settled``/``pending`` are what the conversation remembers; ``client_language``
    is the one the client says it is in (the widget's page, the call's choice), which decides
    when ``client_decides`` (the phone). A message that is no ``evidence`` (an answer that is a
    name: "Dana French") neither asks for a language nor says which one it is in.
    """
    client_language = language_or_none(client_language)
    if client_decides and client_language is not None:
        return LanguageChoice(client_language, settled=True, pending=None)
    requested = asked_for(text) if evidence else None
    if requested is not None:
        return LanguageChoice(requested, settled=True, pending=None, asked=requested != current)
    written = detect(text) if evidence else None
    if not settled:
        if written is not None:
            return LanguageChoice(written, settled=True, pending=None)
        greeted = greeting_language(text)
        return LanguageChoice(
            greeted or current or client_language or ENGLISH, settled=False, pending=None
        )
    language = current or ENGLISH
    if written is None or written == language:
        return LanguageChoice(language, settled=True, pending=None)
    if pending == written:
        return LanguageChoice(written, settled=True, pending=None)
    return LanguageChoice(language, settled=True, pending=written)


def settle(
    conversation: Conversation,
    text: str,
    client_language: str | None,
    *,
    client_decides: bool,
) -> bool:
    """Sets the conversation's language after the owner's message (see :func:`choose`); True
    when the owner asked for a language other than the one it was in."""
    choice = choose(
        conversation.language,
        conversation.language_settled,
        conversation.language_pending,
        text,
        client_language,
        client_decides=client_decides,
        evidence=not _answers_an_owner_question(conversation, text),
    )
    conversation.language = choice.language
    conversation.language_settled = choice.settled
    conversation.language_pending = choice.pending
    return choice.asked


def _answers_an_owner_question(conversation: Conversation, text: str) -> bool:
    """A name, email address or phone number given where one is asked: in no language ("Wren
    Hazelby" is not English)."""
    from bot.dialogue.gathering import PARSERS  # the dialogue's own reading of an answer

    parse = PARSERS.get(conversation.state)
    return parse is not None and parse(text, frozenset()).value is not None
