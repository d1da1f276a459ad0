"""Checks on a chat message's text before it reaches the dialogue."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from functools import cache

from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.constants import DEFAULT_INTENTS
from rasa.shared.core.domain import Domain

from bot.content import REPO_ROOT

DOMAIN_DIR = REPO_ROOT / "domain"
# Intents only the console sends, through Rasa's authenticated API (trigger_intent): a client
# naming one would act as the support team (release a password, reject a case, hand back).
CONSOLE_INTENT_PREFIX = "EXTERNAL_"
# Never a button's: the password guard sets it for a message that looks like a password.
GUARD_INTENTS = frozenset({"share_password"})
# The only entity a client may send (the widget's photo reader and the phone's keypad give it);
# the others (release_ref, rejection_reason) are the console's.
CLIENT_ENTITIES = frozenset({"device_id"})
# Rasa's own `/intent{"entity": "value"}` shape, without its `@confidence`.
INTENT_MESSAGE = re.compile(r"/(?P<intent>[A-Za-z0-9_]+)(?P<entities>\{.*\})?", re.DOTALL)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a message, or None when it can.

    JSON may carry a lone surrogate (``"\\ud800"``), which no encoder can write: NLU, the
    tracker store and the logs would fail on it.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the message is not valid Unicode text (it contains a lone surrogate)"
    return None


def intent_message_problem(text: str, allowed_intents: Collection[str]) -> str | None:
    """Why ``text``, a message starting with ``/`` (Rasa then skips NLU and takes the intent it
    names), cannot come from a client; None when it can, or when it is ordinary text.

    ``allowed_intents``: the intents a client may name (:func:`client_intents`).
    """
    stripped = text.strip()  # Rasa strips before looking for the prefix
    if not stripped.startswith(INTENT_MESSAGE_PREFIX):
        return None
    match = INTENT_MESSAGE.fullmatch(stripped)
    if match is None:
        return (
            'a message starting with "/" must name an intent, optionally followed by its '
            'entities as a JSON object: /intent or /intent{"entity": "value"}'
        )
    intent = match.group("intent")
    if intent not in allowed_intents:
        return f'"/{intent}" is not something this chat can send'
    raw = match.group("entities")
    if raw is None:
        return None
    try:
        entities = json.loads(raw)
    except ValueError:
        return f'the entities of "/{intent}" are not well-formed JSON'
    if not isinstance(entities, dict):
        return f'the entities of "/{intent}" must be a JSON object'
    for name, value in entities.items():
        if name not in CLIENT_ENTITIES:
            return f'"{name}" is not an entity this chat can send'
        if not isinstance(value, str) or not value.strip():
            return f'the entity "{name}" must be a non-empty string'
    return None


def allowed_client_intents(domain_intents: Collection[str]) -> frozenset[str]:
    """Of the domain's intents, those a client may send: not the console's, not the password
    guard's, not Rasa's built-in ones (``/restart`` would wipe the conversation)."""
    return frozenset(
        intent
        for intent in domain_intents
        if not intent.startswith(CONSOLE_INTENT_PREFIX)
        and intent not in GUARD_INTENTS
        and intent not in DEFAULT_INTENTS
    )


@cache
def client_intents() -> frozenset[str]:
    """The intents a client may send, from domain/*.yml read once with Rasa's own loader."""
    return allowed_client_intents(Domain.load(str(DOMAIN_DIR)).intents)
