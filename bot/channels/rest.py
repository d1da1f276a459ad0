"""The REST chat channel: Rasa's, with requests checked and errors answered in JSON.

Rasa's own channel answers a malformed body with an HTML page, a missing message with silence,
and lets the client name any input channel (so a web client could pass itself off as the phone).
It also takes any sender (one with ``/`` or ``?`` names another conversation in Rasa's API, one
longer than the case table's column breaks case creation; :mod:`bot.conversation_ids`) and any
text (a lone surrogate crashes NLU): both get a 400 here, as does a ``/intent`` message naming
an intent a client may not send (the console's ``EXTERNAL_*``, the password guard's;
:mod:`bot.channels.chat_input`). Each message carries the client's address as the server sees
it (:mod:`bot.channels.client`), and the page's language when the client names one the assistant
speaks (anything else there is dropped).

REST is request and response: nothing can be pushed to a REST client. What the assistant says to
a REST conversation outside its requests (the console released a password or rejected the case,
an agent wrote) goes through :meth:`RestChannel.get_output_channel` into the product database
(:class:`bot.handoff.delivery.Outbox`), and comes back, in order, before the answer to the
client's next message, whatever it says ("any update?" will do). A temporary password is taken
from the vault at that moment, once (:mod:`bot.channels.password_delivery`). The same holds for
Rasa's streaming mode (``?stream=true``, one JSON message a line): the turn's replies are held
until it ends anyway (:mod:`bot.channels.turns`), so the stream carries what was kept, then the
answer, as the plain answer does.

A client that may send a message again (it got no answer: a timeout, a dropped connection) gives
it a key in the ``Idempotency-Key`` header (8 to 128 of ``A-Z a-z 0-9 _ . : -``), the same for
every copy: the message is processed once, and each copy gets that turn's answer
(:mod:`bot.cluster.turn_records`). A malformed key is ignored (the message is processed as one
without a key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import QueueOutputChannel, RestInput
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import conversation_ids
from bot.bootstrap import rasa_process
from bot.channels.chat_input import (
    client_intents,
    intent_message_problem,
    intent_parse_data,
    text_problem,
)
from bot.channels.chat_sessions import CONVERSATION_PREFIX
from bot.channels.client import with_checked_language, with_client_address
from bot.channels.password_delivery import (
    PHONE_CALL_SID,
    password_reference,
    process_outbox,
    reveal,
)
from bot.channels.turns import limit_turns
from bot.cluster.turn_records import client_message_id
from bot.handoff.delivery import Outbox

CHANNEL = "rest"
KEY_HEADER = "Idempotency-Key"
_KEY = "idempotency_key"  # where get_metadata hands the header's value on to the turn


class KeptForNextRequest(CollectingOutputChannel):
    """The output for pushes to a REST conversation: kept until the client's next message."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self._outbox = outbox

    @classmethod
    def name(cls) -> str:
        return CHANNEL  # what Rasa records as the conversation's latest channel

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        reference = password_reference(message)  # before sending: Rasa pops "custom"
        collected = CollectingOutputChannel()
        await collected.send_response(recipient_id, message)
        await asyncio.to_thread(
            self._outbox.keep,
            recipient_id,
            collected.messages,
            channel=CHANNEL,
            release_reference=reference,
        )


class StreamedTurn(CollectingOutputChannel):
    """A streamed turn's replies, collected; named as Rasa's streaming output is."""

    @classmethod
    def name(cls) -> str:
        return str(QueueOutputChannel.name())


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
        problem = intent_message_problem(message, client_intents())
        if problem is not None:
            # The console's intents come only through Rasa's authenticated API.
            raise InvalidUsage(f"'message' cannot be sent: {problem}")
        return message

    def _extract_input_channel(self, req: Request) -> str:
        return str(self.name())

    def get_metadata(self, request: Request) -> dict[str, Any]:
        metadata = _body(request).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise InvalidUsage("'metadata' must be a JSON object")
        with_address = with_client_address(with_checked_language(metadata), request)
        with_address[_KEY] = request.headers.get(KEY_HEADER)
        return with_address

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        outbox = process_outbox()
        allowed = client_intents()  # read now: a domain that cannot be read stops the server
        services = rasa_process()
        handle = limit_turns(
            on_new_message,
            at_once=services.settings.rasa_turns_at_once,
            records=services.turn_records,
        )

        async def kept_for(sender_id: str) -> list[dict[str, Any]]:
            """What was kept for ``sender_id``, given once: each password revealed now."""
            kept = await asyncio.to_thread(outbox.take, sender_id)
            return [
                m
                if password_reference(m) is None
                else await asyncio.to_thread(reveal, m, sender_id, channel=CHANNEL)
                for m in kept
            ]

        async def with_kept_messages(message: UserMessage) -> None:
            key = client_message_id((message.metadata or {}).pop(_KEY, None))
            if key is not None:
                message.message_id = key
            # A button's intent, as the web chat's and the phone's: no NLU run for it.
            message.parse_data = intent_parse_data(message.text or "", allowed)
            answer = message.output_channel
            if isinstance(answer, QueueOutputChannel):
                # ?stream=true: the turn is collected, then streamed after what was kept.
                turn = StreamedTurn()
                message.output_channel = turn
                try:
                    await handle(message)
                finally:
                    message.output_channel = answer
                for reply in await kept_for(message.sender_id) + turn.messages:
                    await answer.messages.put(reply)
                return
            await handle(message)
            if isinstance(answer, CollectingOutputChannel):
                answer.messages[:0] = await kept_for(message.sender_id)

        webhook: Blueprint = super().blueprint(with_kept_messages)

        @webhook.exception(InvalidUsage)
        async def bad_request(request: Request, exception: InvalidUsage) -> HTTPResponse:
            return response.json({"error": str(exception)}, status=400)

        return webhook

    def get_output_channel(self) -> OutputChannel | None:
        return KeptForNextRequest(process_outbox())
