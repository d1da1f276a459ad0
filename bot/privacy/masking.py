"""Which user messages are hidden before the conversation is stored."""

from __future__ import annotations

import json
from collections.abc import Iterable

from bot.channels.chat_input import INTENT_MESSAGE, client_intents, intent_message_problem
from bot.privacy.password_shape import looks_like_password

SHARE_PASSWORD_INTENT = "share_password"

# What an owner legitimately says while standing at the new-password step. Anything else typed
# there is treated as a password: they were asked to type one, just not here.
NAVIGATION_INTENTS = frozenset(
    {
        "step_done",
        "step_help",
        "repeat",
        "go_back",
        "affirm",
        "deny",
        "thank",
        "request_human",
        "ask_password_rules",
        "missing_equipment",
        "temp_password_rejected",
        "goodbye",
        "greet",
        "bot_challenge",
    }
)


def should_mask(
    text: str | None,
    intent: str | None,
    *,
    at_sensitive_step: bool,
    device_id_spans: Iterable[tuple[int, int]] = (),
) -> bool:
    if not text:
        return False
    if intent == SHARE_PASSWORD_INTENT:
        return True
    if at_sensitive_step and intent not in NAVIGATION_INTENTS:
        return True
    button_entities = _client_intent_entities(text)
    if button_entities is not None:
        # A button's `/intent{...}`: only what its entities carry can be a password (the
        # photo reader's confirmed Device ID is not one).
        return any(
            looks_like_password(value, [(0, len(value))]) for value in button_entities.values()
        )
    return looks_like_password(text, device_id_spans)


def _client_intent_entities(text: str) -> dict[str, str] | None:
    """The entities of ``text`` when it is an `/intent` message a client may send (the chat
    channels accept it), else None."""
    stripped = text.strip()
    if not stripped.startswith("/") or intent_message_problem(stripped, client_intents()):
        return None
    match = INTENT_MESSAGE.fullmatch(stripped)
    assert match is not None  # accepted above
    raw = match.group("entities")
    return json.loads(raw) if raw else {}
