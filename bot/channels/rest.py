"""The REST chat channel: Rasa's, with requests checked and errors answered in JSON.

Rasa's own channel answers a malformed body with an HTML page, a missing message with silence,
and lets the client name any input channel (so a web client could pass itself off as the phone).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.turns import limit_turns

MAX_SENDER_LENGTH = 255  # the tracker store's sender_id column


def _body(request: Request) -> dict[str, Any]:
    body = request.json  # raises InvalidUsage for a body that is not JSON
    if not isinstance(body, dict):
        raise InvalidUsage('the body must be a JSON object: {"sender": ..., "message": ...}')
    return body


class RestChannel(RestInput):
    """Registered in credentials.yml; keeps the name (and URL) of Rasa's ``rest`` channel."""

    async def _extract_sender(self, req: Request) -> str | None:
        sender = _body(req).get("sender")
        if not isinstance(sender, str) or not sender.strip():
            raise InvalidUsage("'sender' is required: a non-empty string naming the conversation")
        if len(sender) > MAX_SENDER_LENGTH:
            raise InvalidUsage(f"'sender' is longer than {MAX_SENDER_LENGTH} characters")
        return sender

    def _extract_message(self, req: Request) -> str | None:
        message = _body(req).get("message")
        if not isinstance(message, str):
            raise InvalidUsage("'message' is required: the user's text, as a string")
        return message

    def _extract_input_channel(self, req: Request) -> str:
        return str(self.name())

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = _body(request).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidUsage("'metadata' must be a JSON object")
        return metadata

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook: Blueprint = super().blueprint(limit_turns(on_new_message))

        @webhook.exception(InvalidUsage)
        async def bad_request(request: Request, exception: InvalidUsage) -> HTTPResponse:
            return response.json({"error": str(exception)}, status=400)

        return webhook
