"""Who is on the other end of a chat message, as the server sees it.

Every user message from the REST and socket.io channels carries the peer's address in its
metadata under :data:`CLIENT_ADDRESS_KEY`, so the action server can limit work per client (the
Device ID checks). The server sets it and overrides any value the client sent under that key.

A client may say which language its page is in under :data:`LANGUAGE_KEY` (the widget does, on
every message): the dialogue starts a conversation in it. Only a language the assistant speaks
reaches the dialogue, as its base code ("fr-CA" is "fr"); anything else under that key is dropped,
never an error (the conversation is then in English, or in the language it was already in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sanic.request import Request

from bot.localisation import language_or_none

CLIENT_ADDRESS_KEY = "client_address"
# The language the client is in (the widget's page, the caller's choice on the phone): a base
# code the assistant speaks, or absent.
LANGUAGE_KEY = "language"


def client_address(request: Request) -> str:
    """The peer address: a trusted proxy's forwarded address when Sanic is told of one, else the
    socket's."""
    return str(request.remote_addr or request.ip)


def with_client_address(metadata: Mapping[str, Any] | None, request: Request) -> dict[str, Any]:
    """``metadata`` (a copy) with the server's view of the client address, whatever it said."""
    return {**(metadata or {}), CLIENT_ADDRESS_KEY: client_address(request)}


def with_checked_language(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """``metadata`` (a copy) with its :data:`LANGUAGE_KEY` as a base code the assistant speaks,
    or without that key."""
    checked = dict(metadata or {})
    language = language_or_none(checked.pop(LANGUAGE_KEY, None))
    if language is not None:
        checked[LANGUAGE_KEY] = language
    return checked
