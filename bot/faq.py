"""Questions owners ask while they wait or work, answered from ``data/content/faq.yml``: the
support team edits the answers there, without code.

Each entry is keyed by the intent that asks it, and either has its own chat and voice wording or
names the guide's fixed message that already answers it (``data/content/reset_steps.yml``), so
no answer is written twice. The file is validated once, at load: a mistake stops start-up with
``data/content/faq.yml:<line>: question '<intent>': <problem>``.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from bot.content import CONTENT_DIR, ContentMapping, load_mapping
from bot.guide.procedure import Procedure, load_procedure
from bot.guide.wording import Channel, Wording, check_channel, voice_problems
from bot.localisation import ENGLISH, LANGUAGES, load_localised

FAQ_FILE = CONTENT_DIR / "faq.yml"

_WORDING_KEYS = ("chat", "voice")
_GUIDE_KEY = "guide_message"


@dataclass(frozen=True)
class Faq:
    answers: Mapping[str, Wording]

    @property
    def intents(self) -> frozenset[str]:
        return frozenset(self.answers)

    def answer(self, intent: str, channel: Channel) -> str | None:
        """The answer to the question ``intent`` asks, worded for ``channel`` ("chat" or
        "voice"); None when the FAQ does not answer it."""
        channel = check_channel(channel)
        wording = self.answers.get(intent)
        return wording.for_channel(channel) if wording else None


def load_faq(path: str | Path | None = None, language: str = ENGLISH) -> Faq:
    """The FAQ in ``path`` (default: ``data/content/faq.yml`` in ``language``), loaded and
    validated once.

    Raises :class:`~bot.content.ContentError` naming the file, line and entry if it is malformed.
    """
    if path is None:
        return _load_language(language)
    return _load_file(Path(path))


@functools.lru_cache(maxsize=8)
def _load_file(path: Path) -> Faq:
    return _parse(load_mapping(path), load_procedure())


@functools.lru_cache(maxsize=len(LANGUAGES))
def _load_language(language: str) -> Faq:
    return _parse(load_localised(FAQ_FILE.name, language), load_procedure(language=language))


def _parse(root: ContentMapping, procedure: Procedure) -> Faq:
    questions = root.get("questions")
    if not isinstance(questions, ContentMapping):
        raise root.error("'questions' must be a mapping of intent to its answer")
    answers = {
        str(intent): _parse_answer(questions, str(intent), entry, procedure)
        for intent, entry in questions.items()
    }
    return Faq(MappingProxyType(answers))


def _parse_answer(
    questions: ContentMapping, intent: str, entry: object, procedure: Procedure
) -> Wording:
    where = f"question {intent!r}"
    if not isinstance(entry, ContentMapping):
        raise questions.error(f"{where} must be a mapping with 'chat' and 'voice'")
    unknown = [str(key) for key in entry if key not in (*_WORDING_KEYS, _GUIDE_KEY)]
    if unknown:
        raise entry.error(
            f"{where} has unknown key(s) {', '.join(unknown)}; "
            f"expected 'chat' and 'voice', or '{_GUIDE_KEY}'"
        )
    if _GUIDE_KEY in entry:
        if any(key in entry for key in _WORDING_KEYS):
            raise entry.error(f"{where}: either '{_GUIDE_KEY}' or 'chat' and 'voice', not both")
        message = _text(entry, _GUIDE_KEY, where)
        if message not in procedure.messages:
            raise entry.error(f"{where}: no guide message {message!r} in reset_steps.yml")
        return procedure.messages[message]
    placeholders = {"steps": procedure.total}
    chat, voice = (
        _fill(entry, key, _text(entry, key, where), where, placeholders) for key in _WORDING_KEYS
    )
    problems = voice_problems(voice)
    if problems:
        raise entry.error(f"{where}: 'voice' is read aloud but has {'; '.join(problems)}")
    return Wording(text=chat, voice=voice)


def _text(entry: ContentMapping, key: str, where: str) -> str:
    if key not in entry:
        raise entry.error(f"{where} has no {key!r}")
    value = entry[key]
    if not isinstance(value, str):
        raise entry.error(f"{where}: {key!r} must be text, not {type(value).__name__}")
    if not value.strip():
        raise entry.error(f"{where}: {key!r} is empty")
    return value.strip()


def _fill(
    entry: ContentMapping, key: str, template: str, where: str, values: Mapping[str, object]
) -> str:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise entry.error(
            f"{where}: {key!r}: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    for name in names:
        if name not in values:
            allowed = ", ".join("{" + known + "}" for known in values)
            raise entry.error(
                f"{where}: {key!r} has unknown placeholder {{{name}}}; allowed: {allowed}"
            )
    return template.format(**values)
