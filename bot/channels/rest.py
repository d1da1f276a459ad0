"""The REST chat channel: Rasa's, with requests checked and errors answered in JSON.

Rasa's own channel answers a malformed body with an HTML page, a missing message with silence,
and lets the client name any input channel (so a web client could pass itself off as the phone).
It also takes any sender (one with ``/`` or ``?`` names another conversation in Rasa's API, one
longer than the case table's column breaks case creation; :mod:`bot.conversation_ids`) and any
text (a lone surrogate crashes NLU): both get a 400 here. Each message carries the client's
address as the server sees it (:mod:`bot.channels.client`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import conversation_ids
from bot.channels.chat_input import text_problem
from bot.channels.chat_sessions import CONVERSATION_PREFIX
from bot.channels.client import with_client_address
from bot.channels.turns import limit_turns

# A phone call's conversation id is its CallSid (bot/channels/phone.py).
PHONE_CALL_SID = re.compile(r"CA[0-9a-f]{32}")


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
        problem = conversation_ids.problem(sender)
        if problem is not None:
            raise InvalidUsage(f"'sender' cannot name a conversation: {problem}")
        if sender.startswith(CONVERSATION_PREFIX):
            # Only the web chat's session token opens those: naming one here would write
            # into (and take the replies of) a visitor's chat.
            raise InvalidUsage(
                f"'sender' cannot start with {CONVERSATION_PREFIX!r}: it is the web chat's"
            )
        if PHONE_CALL_SID.fullmatch(sender):
            raise InvalidUsage("'sender' cannot be a Twilio CallSid: it is a phone call's")
        return sender

    def _extract_message(self, req: Request) -> str | None:
        message = _body(req).get("message")
        if not isinstance(message, str):
            raise InvalidUsage("'message' is required: the user's text, as a string")
        problem = text_problem(message)
        if problem is not None:
            raise InvalidUsage(f"'message' cannot be read: {problem}")
        return message

    def _extract_input_channel(self, req: Request) -> str:
        return str(self.name())

    def get_metadata(self, request: Request) -> dict[str, Any]:
        metadata = _body(request).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidUsage("'metadata' must be a JSON object")
        return with_client_address(metadata, request)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook: Blueprint = super().blueprint(limit_turns(on_new_message))

        @webhook.exception(InvalidUsage)
        async def bad_request(request: Request, exception: InvalidUsage) -> HTTPResponse:
            return response.json({"error": str(exception)}, status=400)

        return webhook
