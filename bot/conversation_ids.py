"""Conversation ids (Rasa's sender ids): which ones the product accepts, and how one is put into
a Rasa HTTP API path.

Rasa's API routes are ``/conversations/<conversation_id:path>/...`` and Sanic does not decode
path parameters: Rasa reads the id exactly as the path spells it. An id that needs
percent-encoding (``/``, ``?``, ``#``, ``%``, spaces, non-ASCII, control characters) therefore
names another conversation whether it is encoded or not (``x/tracker/events?`` named ``x``), and
``.`` or ``..`` are dot segments that HTTP clients resolve away. So the channels accept only ids
that travel in a path unchanged, and the bridge encodes every segment and refuses any id whose
encoding is not the id itself.
"""

from __future__ import annotations

import string
from urllib.parse import quote

MAX_LENGTH = 128  # support_cases.conversation_id
# RFC 3986 unreserved characters, plus ":@+" which a path segment carries as they are.
PATH_SAFE_PUNCTUATION = "-._~:@+"
ALLOWED_CHARACTERS = frozenset(string.ascii_letters + string.digits + PATH_SAFE_PUNCTUATION)
DOT_SEGMENTS = frozenset({".", ".."})


class UnusableConversationId(ValueError):
    """The id cannot name a conversation; the message says why (never repeating the id)."""


def problem(conversation_id: object) -> str | None:
    """Why ``conversation_id`` cannot name a conversation, or None when it can."""
    if not isinstance(conversation_id, str) or not conversation_id:
        return "a conversation id is a non-empty string"
    if len(conversation_id) > MAX_LENGTH:
        return f"a conversation id has at most {MAX_LENGTH} characters"
    if not ALLOWED_CHARACTERS.issuperset(conversation_id):
        return (
            "a conversation id may contain only the letters A-Z and a-z, the digits 0-9 and "
            f"the characters {PATH_SAFE_PUNCTUATION}"
        )
    if conversation_id in DOT_SEGMENTS:
        return "a conversation id cannot be '.' or '..'"
    return None


def path_segment(conversation_id: str) -> str:
    """``conversation_id`` as one path segment of a Rasa API URL.

    Encoded so that nothing in it can end the segment; an id whose encoding differs from the
    id itself would reach Rasa as another conversation, so it is refused instead.
    """
    reason = problem(conversation_id)
    encoded = quote(conversation_id, safe=PATH_SAFE_PUNCTUATION)
    if reason is None and encoded != conversation_id:  # pragma: no cover - ALLOWED_CHARACTERS
        reason = "a conversation id must travel in a URL path unchanged"
    if reason is not None:
        raise UnusableConversationId(reason)
    return encoded
