"""The phone channel's wording and settings, loaded from ``data/content/phone.yml``.

Validated once at load time (a missing key stops start-up naming the file and line), and every
piece of wording is checked for the ear with :func:`bot.guide.wording.voice_problems`.

One :class:`PhoneContent` per language (:func:`load_phone_languages`): English is
``data/content/phone.yml``; Spanish and French are ``data/content/<lang>/phone.yml`` laid over it
(:func:`bot.localisation.load_localised`), with that language's voice, recogniser, wording and
word lists, and how its speakers spell a Device ID aloud (``data/content/spoken/<lang>.yml``,
:mod:`bot.phone.spelling`; English's is :mod:`bot.phone.spoken`'s own).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from bot.content import CONTENT_DIR, ContentMapping, load_mapping
from bot.guide.wording import voice_problems
from bot.localisation import ENGLISH, LANGUAGES, load_localised
from bot.phone.spelling import Spelling, load_spelling

PHONE_FILE = CONTENT_DIR / "phone.yml"
# How each language other than English spells a Device ID aloud (letter names, number words).
SPELLING_DIR = CONTENT_DIR / "spoken"
_PLACEHOLDER = re.compile(r"\{\w+\}")
_INTENT = re.compile(r"[a-z][a-z0-9_]*")
# The expectations (the turn payload's ``expects``) that take keys other than the agent key.
KEYMAPS = frozenset({"yes_no", "step"})


@dataclass(frozen=True)
class KeypadScheme:
    help: str
    finish_key: str
    groups: dict[str, str]  # key -> the letters on it
    not_found: str

    def letters_for(self, key: str) -> str:
        return self.groups.get(key, "")


@dataclass(frozen=True)
class QueueWording:
    name: str
    hold_music_url: str | None
    placed: str
    position: str
    agent_has_case: str
    closed: str
    back_with_nothing: str


@dataclass(frozen=True)
class HandoffSettings:
    mode: str  # "queue" or "dial"
    dial_number: str
    dialling: str
    whisper: str
    back_from_agent: str


@dataclass(frozen=True)
class PasswordWording:
    intro: str
    letter: str
    lower_letter: str
    digit: str
    symbol: str
    again: str
    offer_repeat: str
    repeat_words: tuple[str, ...]
    ready_words: tuple[str, ...]
    unavailable: str
    not_on_this_call: str


@dataclass(frozen=True)
class DeviceIdWording:
    got_piece: str
    read_back: str
    next_candidate: str
    retry: str
    start_again: str
    not_a_device_id: str
    too_many: str  # a failed-check limit is reached: said before the caller is put through
    chunk_pause: str
    start_again_words: tuple[str, ...]  # said while giving the ID: clear what was heard


@dataclass(frozen=True)
class EarWording:
    """What the chat wording's web addresses and menu arrows become, said aloud."""

    web_address: str  # said for a web address
    then: str  # said for a menu arrow ("Settings > Device Info")


@dataclass(frozen=True)
class LanguageChoice:
    """A language's part of the language menu, and how a caller switches to it later."""

    option: str  # its line of the menu, said in its own voice
    key: str
    names: tuple[str, ...]  # words that choose it at the menu
    switch_phrases: tuple[str, ...]  # a request to go on in it, later in the call
    switched: str  # said first, in it, once the call has switched


@dataclass(frozen=True)
class PhoneContent:
    voice: str
    language: str  # Twilio's language (a locale: "es-US"), of <Say> and of the recogniser
    timeout: int
    device_id_timeout: int
    speech_timeout: str
    welcome: str
    first_intent: str
    reprompts: tuple[str, ...]
    goodbye: str
    agent_words: tuple[str, ...]
    agent_key: str
    agent_intent: str
    after_waiting_intent: str
    device_id: DeviceIdWording
    keypad: KeypadScheme
    yes_words: tuple[str, ...]
    no_words: tuple[str, ...]
    yes_key: str
    no_key: str
    hints: dict[str, str]
    confusable: tuple[frozenset[str], ...]
    max_confusable_swaps: int
    handoff: HandoffSettings
    queue: QueueWording
    password: PasswordWording
    symbol_names: dict[str, str]
    spelling_words: dict[str, str]
    keys: dict[str, dict[str, str]]  # what is expected ("yes_no", "step") -> key -> intent
    steps_timeout: int
    step_waiting: str
    max_step_waits: int
    hold_phrases: tuple[str, ...]
    holding: str
    ready_phrases: tuple[str, ...]
    private_step_note: str
    technical_problem: str
    choice: LanguageChoice
    email_words: dict[str, tuple[str, ...]]  # the words said for each symbol of an address
    ear: EarWording
    # How a Device ID is spelt aloud in this language (None: English's, in bot.phone.spoken).
    spelling: Spelling | None = None

    @property
    def code(self) -> str:
        """The language's base code ("es"), as the dialogue and the call state name it."""
        return self.language.split("-", 1)[0].lower()

    def confusable_with(self, char: str) -> tuple[str, ...]:
        """The characters a recogniser may have meant when it wrote ``char`` (not ``char``)."""
        found: set[str] = set()
        for group in self.confusable:
            if char in group:
                found |= group
        found.discard(char)
        return tuple(sorted(found))

    def hint(self, kind: str) -> str:
        return self.hints.get(kind, self.hints["default"])


def _words(mapping: ContentMapping, key: str) -> tuple[str, ...]:
    values = mapping.require(key, list)
    if not values or not all(isinstance(v, str) and v.strip() for v in values):
        raise mapping.error(f"'{key}' must be a non-empty list of words")
    return tuple(v.strip().lower() for v in values)


def _problems(text: str) -> list[str]:
    """What would sound wrong in ``text``, its ``{placeholders}`` left out."""
    return voice_problems(_PLACEHOLDER.sub("", text))


def _voice(mapping: ContentMapping, key: str) -> str:
    text = mapping.require(key, str).strip()
    problems = _problems(text)
    if problems:
        raise mapping.error(f"'{key}' is read aloud but has {'; '.join(problems)}")
    return text


def _voices(mapping: ContentMapping, keys: tuple[str, ...]) -> dict[str, str]:
    return {key: _voice(mapping, key) for key in keys}


def _str_map(mapping: ContentMapping, key: str) -> dict[str, str]:
    raw = mapping.require(key, ContentMapping)
    return {str(k): str(v) for k, v in raw.items()}


@functools.cache
def load_phone_languages() -> dict[str, PhoneContent]:
    """The phone's content in every language the assistant speaks, English first."""
    return {language: load_phone_content(language=language) for language in LANGUAGES}


def _localised(path: Path, language: str) -> ContentMapping:
    """``path`` (phone.yml) in ``language``: the English file, or the language's overlay of it."""
    if language == ENGLISH:
        return load_mapping(path)
    return load_localised(path.name, language)


@functools.cache
def load_phone_content(path: Path = PHONE_FILE, language: str = ENGLISH) -> PhoneContent:
    data = _localised(path, language)
    gather = data.require("gather", ContentMapping)
    reprompts = data.require("reprompts", list)
    if not reprompts or not all(isinstance(r, str) for r in reprompts):
        raise data.error("'reprompts' must be a non-empty list of wording")
    for text in reprompts:
        if _problems(text):
            raise data.error(f"reprompt {text!r} has {'; '.join(_problems(text))}")
    device_id = data.require("device_id", ContentMapping)
    keypad = data.require("keypad", ContentMapping)
    groups = _str_map(keypad, "groups")
    letters = "".join(groups.values())
    if sorted(letters) != sorted(set(letters)) or set(letters) != set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"):
        raise keypad.error("'groups' must put every letter A-Z on exactly one key")
    queue = data.require("queue", ContentMapping)
    password = data.require("password", ContentMapping)
    confusable_raw = data.require("confusable", list)
    confusable = []
    for group in confusable_raw:
        if not isinstance(group, list) or len(group) < 2:
            raise data.error("each 'confusable' entry must list at least two characters")
        chars = [str(c).upper() for c in group]
        if not all(len(c) == 1 and c.isalnum() for c in chars):
            raise data.error(f"confusable group {group!r} must hold single letters or digits")
        confusable.append(frozenset(chars))
    hints = _str_map(data, "hints")
    if "default" not in hints:
        raise data.error("'hints' needs a 'default' entry")
    swaps = data.require("max_confusable_swaps", int)
    if not 0 <= swaps <= 4:
        raise data.error("'max_confusable_swaps' must be between 0 and 4")
    music = queue.optional("hold_music_url", str, "").strip()
    return PhoneContent(
        voice=data.require("voice", str),
        language=data.require("language", str),
        timeout=gather.require("timeout", int),
        device_id_timeout=gather.require("device_id_timeout", int),
        speech_timeout=str(gather.require("speech_timeout", str)),
        welcome=_voice(data, "welcome"),
        first_intent=_intent(data, "first_intent"),
        reprompts=tuple(str(r) for r in reprompts),
        goodbye=_voice(data, "goodbye"),
        agent_words=_words(data, "agent_words"),
        agent_key=data.require("agent_key", str),
        agent_intent=_intent(data, "agent_intent"),
        after_waiting_intent=_intent(data, "after_waiting_intent"),
        device_id=DeviceIdWording(
            chunk_pause=device_id.require("chunk_pause", str),
            **_voices(
                device_id,
                ("got_piece", "read_back", "next_candidate", "retry", "start_again",
                 "not_a_device_id", "too_many"),
            ),
            start_again_words=_words(device_id, "start_again_words"),
        ),
        keypad=KeypadScheme(
            help=_voice(keypad, "help"),
            finish_key=keypad.require("finish_key", str),
            groups=groups,
            not_found=_voice(keypad, "not_found"),
        ),
        yes_words=_words(data, "yes_words"),
        no_words=_words(data, "no_words"),
        yes_key=data.require("yes_key", str),
        no_key=data.require("no_key", str),
        hints=hints,
        confusable=tuple(confusable),
        max_confusable_swaps=swaps,
        handoff=_handoff(data.require("handoff", ContentMapping)),
        queue=QueueWording(
            name=queue.require("name", str),
            hold_music_url=music or None,
            **_voices(
                queue, ("placed", "position", "agent_has_case", "closed", "back_with_nothing")
            ),
        ),
        password=PasswordWording(
            repeat_words=_words(password, "repeat_words"),
            ready_words=_words(password, "ready_words"),
            **_voices(
                password,
                ("intro", "letter", "lower_letter", "digit", "symbol", "again", "offer_repeat",
                 "unavailable", "not_on_this_call"),
            ),
        ),
        symbol_names=_str_map(data, "symbol_names"),
        spelling_words={k.upper(): v for k, v in _str_map(data, "spelling_words").items()},
        keys=_keys(data),
        steps_timeout=gather.require("steps_timeout", int),
        step_waiting=_voice(data, "step_waiting"),
        max_step_waits=data.require("max_step_waits", int),
        hold_phrases=_words(data, "hold_phrases"),
        holding=_voice(data, "holding"),
        ready_phrases=_words(data, "ready_phrases"),
        private_step_note=_voice(data, "private_step_note"),
        technical_problem=_voice(data, "technical_problem"),
        choice=_choice(data.require("language_choice", ContentMapping)),
        email_words=_email_words(data.require("email_words", ContentMapping)),
        ear=EarWording(
            **_voices(data.require("for_the_ear", ContentMapping), ("web_address", "then"))
        ),
        spelling=_spelling(language),
    )


def _choice(choice: ContentMapping) -> LanguageChoice:
    key = choice.require("key", str)
    if not (len(key) == 1 and key.isdigit()):
        raise choice.error(f"'key' must be one keypad digit, not {key!r}")
    return LanguageChoice(
        option=_voice(choice, "option"),
        key=key,
        names=_words(choice, "names"),
        switch_phrases=_words(choice, "switch_phrases"),
        switched=_voice(choice, "switched"),
    )


def _email_words(words: ContentMapping) -> dict[str, tuple[str, ...]]:
    table = {str(symbol): _words(words, str(symbol)) for symbol in words}
    if "@" not in table or "." not in table:
        raise words.error("'email_words' needs the words for '@' and '.'")
    return table


def _spelling(language: str) -> Spelling | None:
    path = SPELLING_DIR / f"{language}.yml"
    if language == ENGLISH:
        return None
    return load_spelling(path)


def _handoff(handoff: ContentMapping) -> HandoffSettings:
    mode = handoff.require("mode", str)
    if mode not in ("queue", "dial"):
        raise handoff.error(f"'mode' must be queue or dial, not {mode!r}")
    return HandoffSettings(
        mode=mode,
        dial_number=handoff.require("dial_number", str),
        **_voices(handoff, ("dialling", "whisper", "back_from_agent")),
    )


def _intent(mapping: ContentMapping, key: str) -> str:
    name = mapping.require(key, str).strip()
    if not _INTENT.fullmatch(name):
        raise mapping.error(f"'{key}' must be an intent name, not {name!r}")
    return name


def _keys(data: ContentMapping) -> dict[str, dict[str, str]]:
    keys = data.require("keys", ContentMapping)
    missing = KEYMAPS - set(keys)
    if missing:
        raise keys.error(f"'keys' needs a keymap for {', '.join(sorted(missing))}")
    keymaps = {expects: _str_map(keys, expects) for expects in keys}
    for expects, keymap in keymaps.items():
        for key, intent in keymap.items():
            if not _INTENT.fullmatch(intent):
                raise keys.error(f"{expects}: key {key} must send an intent name, not {intent!r}")
    return keymaps
