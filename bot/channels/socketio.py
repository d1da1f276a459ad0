"""The web chat's socket.io channel: Rasa's, with session ids the server issues and keeps, and the
temporary password put into its message only on the way out.

The ``session_id`` of Rasa's socket.io protocol is a session token, a bearer secret
(:mod:`bot.channels.chat_sessions`): whoever holds it receives the conversation's messages, the
temporary password included. So:

- ``session_request`` confirms a token only if this server issued it; anything else (a
  conversation id, a guess, an old widget's own id, a forged or malformed one) gets a fresh
  session;
- the token never reaches Rasa: the conversation id is derived from it, and knowing that id
  (the console, the databases and Rasa's API show it) gives nothing;
- each socket is bound, on the server, to the conversation it was confirmed into, and its
  ``user_uttered`` messages go there, whatever ``session_id`` they name (Rasa's handler takes it
  from every message);
- replies and pushes go to the conversation's room, which only confirmed sockets join;
- tokens are never logged.

Rasa 3.6 also calls ``sio.enter_room`` without awaiting it (a coroutine since python-socketio
5.10), so its browser would never join the room: our ``session_request`` awaits it.

A message the dialogue cannot take (before any session, text that is not valid Unicode, or
Rasa's ``/intent`` text naming an intent a client may not send: the console's ``EXTERNAL_*``,
:func:`bot.channels.chat_input.intent_message_problem`) gets a ``chat_error`` event
``{"error": ..., "message": ...}`` instead of reaching NLU. Each message
carries the client's address (:mod:`bot.channels.client`), from the request that opened the
socket.

Messages pushed from outside a user's request (the agent released a password: Rasa's
``trigger_intent`` with ``output_channel=latest``) go through :meth:`get_output_channel`, whose
output reveals the password (:mod:`bot.channels.password_delivery`). A message for a
conversation with no open socket (the owner closed the page) is kept, not sent into an empty
room, and sent when a socket is confirmed into that conversation again: a password then counts
as delivered only once it reached the owner.

A step's text arrives as Rasa sends it (one event per paragraph), each paragraph marked
``"part_of": "reset_step"``, then the step card's payload: the widget draws the card from the
payload's parts and skips the marked text, without reading it.

Presence: when a conversation's last socket closes, its case notes that the owner left (the
console shows it); a socket confirmed into it again notes the return.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncServer

from bot.cases.conversation import ConversationCases
from bot.cases.store import CaseStore
from bot.channels.chat_input import client_intents, intent_message_problem, text_problem
from bot.channels.chat_sessions import SessionTokens, conversation_id_of, session_key
from bot.channels.client import with_client_address
from bot.channels.password_delivery import keep_for_later, kept_for, reveal
from bot.channels.turns import limit_turns
from bot.db import Database

AGENT_MESSAGE = "agent_message"
ERROR_EVENT = "chat_error"
SESSION = "conversation_id"  # the conversation a socket was confirmed into (server-side)
STEP_CARD = "reset_step"
DEFAULT_NAMESPACE = "/"

logger = logging.getLogger(__name__)


def has_participant(sio: AsyncServer, room: str, namespace: str | None, but: str = "") -> bool:
    """Whether a connected socket (other than ``but``) is in ``room``."""
    namespace = namespace or DEFAULT_NAMESPACE
    return any(
        sid != but and sio.manager.is_connected(sid, namespace)
        for sid, _ in sio.manager.get_participants(namespace, room)
    )


class SocketIOPushOutput(SocketIOOutput):
    """Replies and pushes to a conversation's room; kept for later when nobody is in it."""

    def __init__(self, sio: AsyncServer, bot_message_evt: str, namespace: str | None = None):
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        if not has_participant(self.sio, recipient_id, self.namespace):
            # The owner closed the page: what they would miss (a released password) waits.
            await keep_for_later(recipient_id, message, "socketio")
            return
        await self.deliver(recipient_id, message)

    async def deliver(self, recipient_id: str, message: dict[str, Any]) -> None:
        message = reveal(message, recipient_id)
        data = (message.get("custom") or {}).get("data")
        if isinstance(data, dict) and data.get("type") == STEP_CARD and message.get("text"):
            for part in str(message["text"]).strip().split("\n\n"):
                await self._send_message(recipient_id, {"text": part, "part_of": STEP_CARD})
            message = {key: value for key, value in message.items() if key != "text"}
        if isinstance(data, dict) and data.get("type") == AGENT_MESSAGE:
            # A person's words: one event with the text and who wrote it, so the chat window
            # can label it (Rasa would send text and payload as two events).
            await self._send_message(
                recipient_id, {"text": message.get("text") or "", "agent": data.get("agent")}
            )
            return
        await super().send_response(recipient_id, message)


class SocketIOChannel(SocketIOInput):
    """Registered in credentials.yml; keeps the name ``socketio`` for output_channel=socketio.

    Sessions are always on: ``session_persistence`` in credentials.yml is not consulted.
    """

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        handle = limit_turns(on_new_message)
        socketio_webhook: Blueprint = super().blueprint(handle)
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint
        session_tokens = SessionTokens(session_key(os.environ))
        allowed_intents = client_intents()

        async def session_request(sid: str, data: Any) -> None:
            token = data.get("session_id") if isinstance(data, dict) else None
            conversation_id = session_tokens.conversation_of(token)
            if conversation_id is None:
                token = session_tokens.issue()
                conversation_id = conversation_id_of(token)
            socket = await sio.get_session(sid, namespace=self.namespace)
            previous = socket.get(SESSION)
            if previous is not None and previous != conversation_id:
                await sio.leave_room(sid, previous, namespace=self.namespace)
                if not has_participant(sio, previous, self.namespace):
                    await _note_presence(previous, returned=False)
            socket[SESSION] = conversation_id
            await sio.save_session(sid, socket, namespace=self.namespace)
            await sio.enter_room(sid, conversation_id, namespace=self.namespace)
            await sio.emit("session_confirm", token, room=sid, namespace=self.namespace)
            await _note_presence(conversation_id, returned=True)
            output = SocketIOPushOutput(sio, self.bot_message_evt, self.namespace)
            for message in await kept_for(conversation_id):
                await output.deliver(conversation_id, message)

        async def disconnect(sid: str, reason: Any = None) -> None:
            conversation_id = (await sio.get_session(sid, namespace=self.namespace)).get(SESSION)
            if conversation_id is None:
                return
            if not has_participant(sio, conversation_id, self.namespace, but=sid):
                await _note_presence(conversation_id, returned=False)

        async def user_uttered(sid: str, data: Any) -> None:
            conversation_id = (await sio.get_session(sid, namespace=self.namespace)).get(SESSION)
            if conversation_id is None:
                await _refuse(
                    sio, sid, "no_session", "Send session_request first and wait for its answer."
                )
                return
            data = data if isinstance(data, dict) else {}
            text = data.get("message", "")
            problem = (
                text_problem(text) if isinstance(text, str) else "the message must be a string"
            )
            if problem is not None:
                await _refuse(sio, sid, "invalid_text", _sentence(problem))
                return
            problem = intent_message_problem(text, allowed_intents)
            if problem is not None:
                await _refuse(sio, sid, "intent_not_allowed", _sentence(problem))
                return
            request = (sio.get_environ(sid, namespace=self.namespace) or {}).get("sanic.request")
            metadata = _client_metadata(data.get(self.metadata_key))
            await handle(
                UserMessage(
                    text,
                    SocketIOPushOutput(sio, self.bot_message_evt, self.namespace),
                    conversation_id,  # the socket's own, never one the message names
                    input_channel=self.name(),
                    metadata=with_client_address(metadata, request) if request else metadata,
                )
            )

        # Replace the handlers SocketIOInput registered for the same events.
        sio.on("session_request", handler=session_request, namespace=self.namespace)
        sio.on(self.user_message_evt, handler=user_uttered, namespace=self.namespace)
        sio.on("disconnect", handler=disconnect, namespace=self.namespace)
        return socketio_webhook

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return None
        return SocketIOPushOutput(self.sio, self.bot_message_evt, self.namespace)


_cases: ConversationCases | None = None


async def _note_presence(conversation_id: str, *, returned: bool) -> None:
    """The owner left (their last socket closed) or came back; the console shows it."""

    def note() -> None:
        global _cases
        if _cases is None:
            _cases = ConversationCases(CaseStore(Database()))
        if returned:
            _cases.owner_returned(conversation_id)
        else:
            _cases.owner_left(conversation_id)

    try:
        await asyncio.to_thread(note)
    except Exception:  # the chat goes on; only the console's view of presence is behind
        logger.exception(
            "could not note that a web chat owner %s", "returned" if returned else "left"
        )


async def _refuse(sio: AsyncServer, sid: str, error: str, message: str) -> None:
    await sio.emit(ERROR_EVENT, {"error": error, "message": message}, room=sid)


def _sentence(problem: str) -> str:
    return problem[0].upper() + problem[1:] + "."


def _client_metadata(raw: Any) -> dict[str, Any]:
    """The client's metadata as an object (Rasa also accepts it as a JSON string)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return dict(raw) if isinstance(raw, dict) else {}
