"""Which user messages are hidden before the conversation is stored."""

from __future__ import annotations

from collections.abc import Iterable

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
    return looks_like_password(text, device_id_spans)
