"""The ``handoff`` channel: where the agent console hands a released temporary password to the
assistant process (``POST /webhooks/handoff/deposit``).

Not a chat channel: it takes no user messages. It exists because the password must reach the
process whose output channels deliver it, without passing through Rasa's API, tracker or logs.
Authorised by ``Authorization: Bearer <RASA_API_TOKEN>``. Starting it also starts recording,
in the product database, when each deposited password reaches its user (the console shows it).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.bootstrap import rasa_process
from bot.channels.password_delivery import process_outbox
from bot.handoff.temporary_password import TemporaryPassword


class HandoffChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "handoff"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        handoff = Blueprint("handoff_webhook", __name__)
        process_outbox()
        token = rasa_process().settings.rasa_api_token

        @handoff.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @handoff.route("/deposit", methods=["POST"])
        async def deposit(request: Request) -> HTTPResponse:
            if not _authorised(request, token):
                return response.json({"error": "missing or wrong token"}, status=401)
            body = request.json if isinstance(request.json, dict) else None
            problem = _problem(body)
            if problem:
                return response.json({"error": problem}, status=400)
            assert body is not None
            await asyncio.to_thread(  # (on Redis, a round trip)
                rasa_process().vault.deposit,
                body["reference"],
                body["conversation_id"],
                TemporaryPassword(body["password"]),
                datetime.fromisoformat(body["expires_at"]),
            )
            return response.json({"status": "deposited"}, status=201)

        return handoff


def _authorised(request: Request, expected: str) -> bool:
    given = request.headers.get("Authorization", "")
    return bool(expected) and hmac.compare_digest(given.encode(), f"Bearer {expected}".encode())


def _problem(body: dict[str, Any] | None) -> str | None:
    if body is None:
        return "the body must be a JSON object"
    for key in ("conversation_id", "reference", "password", "expires_at"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"'{key}' must be a non-empty string"
    try:
        when = datetime.fromisoformat(body["expires_at"])
    except ValueError:
        return "'expires_at' must be an ISO 8601 time"
    if when.tzinfo is None:
        return "'expires_at' must include a time zone"
    return None
