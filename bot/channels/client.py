"""Who is on the other end of a chat message, as the server sees it.

Every user message from the REST and socket.io channels carries the peer's address in its
metadata under :data:`CLIENT_ADDRESS_KEY`, so the action server can limit work per client (the
Device ID checks). The server sets it and overrides any value the client sent under that key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sanic.request import Request

CLIENT_ADDRESS_KEY = "client_address"
# The language the client is in (the widget's page, the caller's choice on the phone), as a
# message's metadata; the dialogue validates it (bot.localisation.language_or_none).
LANGUAGE_KEY = "language"
# The language a channel knows the owner speaks (a base code: "en", "es", "fr"), e.g. the one a
# caller chose on the phone: the dialogue speaks it from that message on.
LANGUAGE_KEY = "language"


def client_address(request: Request) -> str:
    """The peer address: a trusted proxy's forwarded address when Sanic is told of one, else the
    socket's."""
    return str(request.remote_addr or request.ip)


def with_client_address(metadata: Mapping[str, Any] | None, request: Request) -> dict[str, Any]:
    """``metadata`` (a copy) with the server's view of the client address, whatever it said."""
    return {**(metadata or {}), CLIENT_ADDRESS_KEY: client_address(request)}
