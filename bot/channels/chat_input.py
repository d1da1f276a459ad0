"""Checks on a chat message's text before it reaches the dialogue."""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from functools import cache
from typing import Any

from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.shared.core.constants import DEFAULT_INTENTS
from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

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
    return allowed_client_intents(_domain().intents)


@cache
def _domain() -> Domain:
    return Domain.load(str(DOMAIN_DIR))


def intent_parse_data(text: str, allowed_intents: Collection[str]) -> dict[str, Any] | None:
    """What Rasa's NLU answers to a button's or key's ``/intent`` message (the channel contract:
    buttons and keys send intents), made without running the pipeline; None for any other text,
    and for an intent not in ``allowed_intents``: Rasa parses those itself.

    Rasa runs every component of the pipeline on such a message, and then its RegexMessageHandler
    replaces their answer with the intent and entities the text names (1.4 ms of CPU per message
    here, measured 2026-12-04, for an answer known beforehand). A channel passes this as
    ``UserMessage.parse_data``, which Rasa's processor takes instead of parsing: the same intent
    (confidence 1), ranking and entities, read by Rasa's own reader.
    """
    if INTENT_MESSAGE.fullmatch(text.strip()) is None:
        return None
    message = YAMLStoryReader.unpack_regex_message(
        Message({TEXT: text}), _domain(), entity_extractor_name="RegexMessageHandler"
    )
    intent = message.get(INTENT)
    if not intent or intent["name"] not in allowed_intents:
        return None
    parse_data: dict[str, Any] = message.as_dict(only_output_properties=True)
    return parse_data
