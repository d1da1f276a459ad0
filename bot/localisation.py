"""The languages the assistant speaks, and its content in each of them.

English is the source: ``data/content/<file>.yml`` and the responses in ``domain/*.yml``. A
translation is data a translator edits without code:

- ``data/content/<lang>/<file>.yml`` is an *overlay* of the English file. It mirrors its
  structure: mappings by key, lists of mappings item by item (an item's ``id`` must match), strings
  replaced, and a list of plain strings (a word list) replaced whole, since each language has its
  own words. Configuration that is the same in every language (:data:`SHARED`) may be left out.
- ``data/content/<lang>/responses.yml`` holds the domain's responses in that language, each with
  the same variations as in the domain (see :func:`response_mismatches`).

:func:`missing_translations` is the check ``make test`` runs: every other string and word list
exists in every language, with the same ``{placeholders}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

from bot.content import CONTENT_DIR, ContentError, ContentMapping, load_mapping

ENGLISH = "en"
LANGUAGES = ("en", "es", "fr")

# Where dates and times are written in each language's own form (Babel's locales): owners in the
# United States and Canada.
LOCALES = {"en": "en_US", "es": "es_US", "fr": "fr_CA"}

# Paths (dotted; "*" for any key or list position) of configuration every language shares: they
# come from the English file and a translation may leave them out.
SHARED: dict[str, tuple[str, ...]] = {
    "reset_steps.yml": ("steps.*.id", "steps.*.picture", "steps.*.sensitive_input"),
    "faq.yml": ("questions.*.guide_message",),
    "support.yml": (
        "time_zone",
        "phone",
        "minutes_per_case",
        "hours",
        "hours.*",
        "rejection_reasons.*.label",
        "rejection_reasons.*.alternatives",
    ),
    "device_id_formats.yml": (
        "lookalikes",
        "lookalikes.*",
        "lookalikes.*.*",
        "families",
        "families.*",
        "families.*.*",
        "families.*.*.*",
        "serial_number",
        "serial_number.*",
        "max_attempts",
        "extraction.min_length",
    ),
    "phone.yml": (
        "gather",
        "gather.*",
        "first_intent",
        "max_step_waits",
        "agent_key",
        "agent_intent",
        "after_waiting_intent",
        "yes_key",
        "no_key",
        "max_confusable_swaps",
        "keys",
        "keys.*",
        "keys.*.*",
        "confusable",
        "confusable.*",
        "keypad.finish_key",
        "keypad.groups",
        "keypad.groups.*",
        "handoff.mode",
        "handoff.dial_number",
        # The agent hears it, in the support centre's language.
        "handoff.whisper",
        "queue.name",
        "queue.hold_music_url",
    ),
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def language_or_none(value: object) -> str | None:
    """The base code (``"es"``) of a language tag such as ``"es-MX"`` or ``"FR"``, if it is one
    the assistant speaks."""
    if not isinstance(value, str):
        return None
    base = value.strip().replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def translation_path(file_name: str, language: str) -> Path:
    return CONTENT_DIR / language / file_name


@cache
def load_localised(file_name: str, language: str) -> ContentMapping:
    """``data/content/<file_name>`` in ``language``: the English file with the translation laid
    over it (English alone where there is no translation file; the check in make test says so)."""
    english = load_mapping(CONTENT_DIR / file_name)
    path = translation_path(file_name, language)
    if language == ENGLISH or not path.is_file():
        return english
    merged = _overlay(english, load_mapping(path), file_name, "")
    assert isinstance(merged, ContentMapping)
    return merged


def _overlay(english: Any, translated: Any, file_name: str, path: str) -> Any:
    if isinstance(english, dict):
        if not isinstance(translated, ContentMapping):
            raise ContentError(file_name, 0, f"{path or 'the file'} must be a mapping")
        merged = ContentMapping(english)
        merged.path, merged.line = translated.path, translated.line
        for key, value in translated.items():
            if key not in english:
                raise translated.error(f"'{_join(path, key)}' is not in the English file")
            merged[key] = _overlay(english[key], value, file_name, _join(path, key))
        return merged
    if isinstance(english, list) and english and all(isinstance(i, dict) for i in english):
        if not isinstance(translated, list) or len(translated) != len(english):
            raise ContentError(
                _where(translated, file_name),
                _line(translated),
                f"'{path}' must have the English file's {len(english)} items, in its order",
            )
        items = []
        for index, (source, item) in enumerate(zip(english, translated, strict=True)):
            if isinstance(item, ContentMapping) and item.get("id", source.get("id")) != source.get(
                "id"
            ):
                raise item.error(f"'{path}' item {index + 1} must be '{source.get('id')}'")
            items.append(_overlay(source, item, file_name, _join(path, str(index))))
        return items
    return translated


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _where(value: Any, file_name: str) -> str:
    return value.path if isinstance(value, ContentMapping) else file_name


def _line(value: Any) -> int:
    return value.line if isinstance(value, ContentMapping) else 0


# --- the check -----------------------------------------------------------------------------------


# Each language's own words, not overlays of English's: every language's are read together.
VOCABULARIES = ("shorthand.yml", "step_words.yml")


def load_every_language(file_name: str) -> list[ContentMapping]:
    """A vocabulary file (:data:`VOCABULARIES`) in English and each language that has one."""
    paths = [
        CONTENT_DIR / file_name,
        *(translation_path(file_name, lang) for lang in LANGUAGES[1:]),
    ]
    return [load_mapping(path) for path in paths if path.is_file()]


def translated_files() -> list[str]:
    """The English content files that have a translation in some language: each must have one in
    every language."""
    names = {
        path.name
        for language in LANGUAGES[1:]
        for path in (CONTENT_DIR / language).glob("*.yml")
        if path.name != "responses.yml" and path.name not in VOCABULARIES
    }
    return sorted(names)


def missing_translations(file_name: str, language: str) -> list[str]:
    """What ``language``'s overlay of ``file_name`` lacks or gets wrong, one line each."""
    english = load_mapping(CONTENT_DIR / file_name)
    path = translation_path(file_name, language)
    if not path.is_file():
        return [f"{path.relative_to(CONTENT_DIR.parent.parent)} is missing"]
    translated = load_mapping(path)
    shared = SHARED.get(file_name, ())
    problems = []
    for keys, value in _leaves(english, ()):
        leaf_path = ".".join(keys)
        if any(fnmatchcase(leaf_path, pattern) for pattern in shared):
            continue
        found, other = _find(translated, keys)
        if not found:
            problems.append(f"{file_name} [{language}]: '{leaf_path}' is not translated")
        elif isinstance(value, str):
            if not isinstance(other, str):
                problems.append(f"{file_name} [{language}]: '{leaf_path}' must be text")
            elif placeholders(value) != placeholders(other):
                problems.append(
                    f"{file_name} [{language}]: '{leaf_path}' has placeholders "
                    f"{sorted(placeholders(other))}, English {sorted(placeholders(value))}"
                )
        elif not (isinstance(other, list) and other):
            problems.append(f"{file_name} [{language}]: '{leaf_path}' must be a word list")
    try:
        load_localised.__wrapped__(file_name, language)
    except ContentError as error:
        problems.append(str(error))
    return problems


def _leaves(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    """The strings and word lists of a content tree, by path (keys and list positions)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, str(key)))
    elif isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, str(index)))
    elif isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(i, str) for i in value)
    ):
        yield path, value


def _find(tree: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    for key in path:
        if isinstance(tree, dict) and key in tree:
            tree = tree[key]
        elif isinstance(tree, list) and key.isdigit() and int(key) < len(tree):
            tree = tree[int(key)]
        else:
            return False, None
    return True, tree


# --- the domain's responses ----------------------------------------------------------------------


@cache
def load_responses(language: str) -> dict[str, list[dict[str, Any]]]:
    """The domain's responses in ``language`` (empty for English, whose are the domain's own)."""
    path = translation_path("responses.yml", language)
    if language == ENGLISH or not path.is_file():
        return {}
    responses = load_mapping(path).require("responses", dict)
    return {str(name): list(variations) for name, variations in responses.items()}


def response_mismatches(english: dict[str, list[dict[str, Any]]], language: str) -> list[str]:
    """How ``language``'s responses differ in shape from the domain's (``english``): every
    response, the same variations (channel, buttons' payloads, other keys) and placeholders."""
    translated = load_responses(language)
    problems = [
        f"responses [{language}]: '{name}' is not translated"
        for name in english
        if name not in translated
    ]
    problems += [
        f"responses [{language}]: '{name}' is not a response of the domain"
        for name in translated
        if name not in english
    ]
    for name, variations in english.items():
        others = translated.get(name)
        if others is None:
            continue
        if len(others) != len(variations):
            problems.append(
                f"responses [{language}]: '{name}' has {len(others)} variations, "
                f"the domain {len(variations)}"
            )
            continue
        for index, (source, other) in enumerate(zip(variations, others, strict=True)):
            where = f"responses [{language}]: '{name}' variation {index + 1}"
            if set(source) != set(other):
                problems.append(f"{where} has keys {sorted(other)}, the domain {sorted(source)}")
                continue
            if placeholders(str(source.get("text", ""))) != placeholders(
                str(other.get("text", ""))
            ):
                problems.append(f"{where} has other placeholders than the domain's")
            for key in set(source) - {"text", "buttons"}:
                if source[key] != other[key]:
                    problems.append(f"{where}: '{key}' must be as in the domain")
            payloads = [b.get("payload") for b in source.get("buttons") or []]
            if payloads != [b.get("payload") for b in other.get("buttons") or []]:
                problems.append(f"{where}: the buttons must send the domain's payloads")
    return problems
