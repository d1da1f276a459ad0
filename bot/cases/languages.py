"""A case's language: one the assistant speaks (:data:`bot.localisation.LANGUAGES`), named in
English for the support team (the console and the audit trail are in English)."""

from __future__ import annotations

from bot.localisation import ENGLISH, LANGUAGES

DEFAULT_LANGUAGE = ENGLISH
NAMES_IN_ENGLISH = {"en": "English", "es": "Spanish", "fr": "French"}


def checked_language(language: str) -> str:
    """``language`` if it is a base code the assistant speaks; ValueError otherwise (the dialogue
    passes the conversation's, already checked: anything else is a mistake in the code)."""
    if language not in LANGUAGES:
        raise ValueError(
            f"{language!r} is not a language the assistant speaks ({', '.join(LANGUAGES)})"
        )
    return language


def name_in_english(language: str) -> str:
    return NAMES_IN_ENGLISH.get(language, language.upper())
