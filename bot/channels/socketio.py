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
``{"error": ..., "message": ...}`` instead of reaching NLU. Each message carries the client's
address (:mod:`bot.channels.client`), from the request that opened the socket, and the page's
language (the widget's ``metadata.language``) when it is one the assistant speaks; anything else
there is dropped. Each ``user_uttered`` is acknowledged once its turn was answered; the widget's
id for it (``message_id``: 8 to 128 of ``A-Z a-z 0-9 _ . : -``; anything else is ignored)
becomes the UserMessage's ``client:<id>``, so a message the widget sends again after
reconnecting is processed once (:mod:`bot.cluster.turn_records`).

Messages pushed from outside a user's request (the agent released a password: Rasa's
``trigger_intent`` with ``output_channel=latest``) go through :meth:`get_output_channel`, whose
output reveals the password (:mod:`bot.channels.password_delivery`). A message for a
conversation with no open socket on this instance (the owner closed the page, or is
connected to another instance) is kept, not sent into an empty
room, and sent when a socket is confirmed into that conversation again, to that socket, one
message at a time, each asking the socket to acknowledge it (the widget does once it has shown
it). A message leaves the keep, and a password in it counts as delivered, only once
acknowledged; if the socket closes first, that message and the rest stay kept, in order, for the
next socket, and a password goes to no one else meanwhile. A socket that stays open without
acknowledging (a widget from before acknowledgements) has still read the message once it has
answered the server's next ping: see :class:`Answers`. One conversation's kept messages are sent
to one socket at a time.

Several instances (``REDIS_URL`` set) share the keep (the database), and on Redis
(:mod:`bot.channels.socket_rooms`): socket.io's rooms (python-socketio's Redis manager, so a
reply or push emitted to a conversation's room reaches its sockets on every instance), the
news that a message was kept (the instances holding a socket of that conversation send it, as
above: acknowledged, the password given once), the one-sender-at-a-time lock, and presence.
Acknowledgements stay with the instance holding the socket: only it sends what must be
acknowledged. Session tokens are signed, so any instance with the same ``CHAT_SESSION_SECRET``
confirms one: a socket that reconnects to another instance continues its conversation.

A password sent to open sockets is acknowledged the same way (:meth:`SocketIOPushOutput.hand_over`):
a page can die without its socket closing at once (the server notices only when pings go
unanswered), so the password counts as delivered once a socket acknowledged it; if every socket
closed first, it goes to the sockets open then, or is kept for the next one.

A step's text arrives as Rasa sends it (one event per paragraph), each paragraph marked
``"part_of": "reset_step"``, then the step card's payload: the widget draws the card from the
payload's parts and skips the marked text, without reading it.

Presence: when a conversation's last socket closes, on any instance (or vanishes with its
instance), its case notes that the owner left (the console shows it); a socket confirmed into it
again notes the return.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint
from socketio import AsyncServer

from bot.bootstrap import chat_rooms, rasa_process, socketio_manager
from bot.channels.chat_input import (
    client_intents,
    intent_message_problem,
    intent_parse_data,
    text_problem,
)
from bot.channels.chat_sessions import SessionTokens, conversation_id_of, session_key
from bot.channels.client import with_checked_language, with_client_address
from bot.channels.password_delivery import (
    arrived,
    deliver_once,
    kept_for,
)
from bot.channels.socket_output import (
    AcknowledgedOutput,
    Answers,
    SocketIOPushOutput,
    open_sockets,
)
from bot.channels.socket_rooms import DEFAULT_PREFIX, ChatRooms
from bot.channels.turns import limit_turns
from bot.cluster.turn_records import client_message_id

ERROR_EVENT = "chat_error"
SESSION = "conversation_id"  # the conversation a socket was confirmed into (server-side)
# A message id the widget draws (it sends a message again with the same id after reconnecting);
# bot.channels.turns answers each "client:" id once.

logger = logging.getLogger(__name__)


class SocketIOChannel(SocketIOInput):
    """Registered in credentials.yml; keeps the name ``socketio`` for output_channel=socketio.

    Sessions are always on: ``session_persistence`` in credentials.yml is not consulted.
    """

    key_prefix = DEFAULT_PREFIX  # its keys and channels on Redis (tests give each their own)
    rooms: ChatRooms | None = None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        services = rasa_process()
        settings = services.settings
        # A message the widget sent again (same id: its socket dropped before the answer) is
        # processed once, its copy answered with the first one's replies.
        handle = limit_turns(
            on_new_message, at_once=settings.rasa_turns_at_once, records=services.turn_records
        )
        socketio_webhook: Blueprint = super().blueprint(handle)
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint
        manager = socketio_manager(settings, channel=f"{self.key_prefix}socketio")
        if manager is not None:
            # Rasa builds the server inside its blueprint, with no way to hand it a manager;
            # nothing has used the in-process one yet.
            sio.manager = manager
            manager.set_server(sio)
            if not settings.chat_session_secret:
                logger.warning(
                    "REDIS_URL is set but CHAT_SESSION_SECRET is not: web chat sessions are "
                    "signed with this machine's var/chat-session.key; give every instance the "
                    "same CHAT_SESSION_SECRET so that a chat continues on any of them."
                )
        if settings.chat_ping is not None:
            sio.eio.ping_interval, sio.eio.ping_timeout = settings.chat_ping
        session_tokens = SessionTokens(session_key(settings.chat_session_secret))
        allowed_intents = client_intents()
        answers = self._answers = Answers(sio, self.namespace)
        rooms = self.rooms = chat_rooms(settings, prefix=self.key_prefix)
        waiting_to_resend: set[str] = set()  # conversations a notice's resend waits for

        async def session_request(sid: str, data: Any) -> None:
            await rooms.start(on_kept=kept_elsewhere, on_gone=gone_with_instance)
            token = data.get("session_id") if isinstance(data, dict) else None
            conversation_id = session_tokens.conversation_of(token)
            if conversation_id is None:
                token = session_tokens.issue()
                conversation_id = conversation_id_of(token)
            socket = await sio.get_session(sid, namespace=self.namespace)
            previous = socket.get(SESSION)
            if previous is not None and previous != conversation_id:
                await sio.leave_room(sid, previous, namespace=self.namespace)
                if await rooms.left(previous, sid):
                    await _note_presence(previous, returned=False)
            socket[SESSION] = conversation_id
            await sio.save_session(sid, socket, namespace=self.namespace)
            await sio.enter_room(sid, conversation_id, namespace=self.namespace)
            await rooms.joined(conversation_id, sid)
            await sio.emit(
                "session_confirm", token, room=sid, namespace=self.namespace, ignore_queue=True
            )
            await _note_presence(conversation_id, returned=True)
            await resend_kept(sid, conversation_id)

        async def kept_elsewhere(conversation_id: str) -> None:
            """An instance kept a message for ``conversation_id``: sent from here if a socket of
            it is here (the newest)."""
            sids = open_sockets(sio, conversation_id, self.namespace)
            if sids and conversation_id not in waiting_to_resend:
                await resend_kept(sids[-1], conversation_id, notice=True)

        async def gone_with_instance(conversation_id: str) -> None:
            await _note_presence(conversation_id, returned=False)

        async def resend_kept(sid: str, conversation_id: str, notice: bool = False) -> None:
            """What was kept for the conversation, to this socket; each message stays kept
            until the socket acknowledged it. One sender per conversation, on any instance."""
            output = AcknowledgedOutput(sio, self.bot_message_evt, self.namespace, sid, answers)
            send = functools.partial(output.arrived, conversation_id)
            if notice:  # later notices are covered by this one: it reads what is kept then
                waiting_to_resend.add(conversation_id)
            try:
                async with rooms.one_at_a_time(conversation_id) as held:
                    if notice:
                        waiting_to_resend.discard(conversation_id)
                    for kept in await kept_for(conversation_id):
                        if await _conversation_of(sio, sid, self.namespace) != conversation_id:
                            return  # closed, or moved to another conversation, meanwhile
                        await held.renew()
                        if not await deliver_once(kept.message, conversation_id, send):
                            return  # the socket closed: this one and the rest wait for the next
                        await arrived(kept)
            finally:
                if notice:
                    waiting_to_resend.discard(conversation_id)

        async def disconnect(sid: str, reason: Any = None) -> None:
            answers.socket_closed(sid)
            conversation_id = (await sio.get_session(sid, namespace=self.namespace)).get(SESSION)
            if conversation_id is None:
                return
            if await rooms.left(conversation_id, sid):
                await _note_presence(conversation_id, returned=False)

        async def user_uttered(sid: str, data: Any) -> bool:
            """The turn; its acknowledgement (True once answered) tells the widget not to send
            the message again."""
            conversation_id = (await sio.get_session(sid, namespace=self.namespace)).get(SESSION)
            if conversation_id is None:
                await _refuse(
                    sio, sid, "no_session", "Send session_request first and wait for its answer."
                )
                return False
            data = data if isinstance(data, dict) else {}
            text = data.get("message", "")
            problem = (
                text_problem(text) if isinstance(text, str) else "the message must be a string"
            )
            if problem is not None:
                await _refuse(sio, sid, "invalid_text", _sentence(problem))
                return False
            problem = intent_message_problem(text, allowed_intents)
            if problem is not None:
                await _refuse(sio, sid, "intent_not_allowed", _sentence(problem))
                return False
            request = (sio.get_environ(sid, namespace=self.namespace) or {}).get("sanic.request")
            metadata = with_checked_language(_client_metadata(data.get(self.metadata_key)))
            await handle(
                UserMessage(
                    text,
                    SocketIOPushOutput(sio, self.bot_message_evt, self.namespace, answers, rooms),
                    conversation_id,  # the socket's own, never one the message names
                    input_channel=self.name(),
                    metadata=with_client_address(metadata, request) if request else metadata,
                    parse_data=intent_parse_data(text, allowed_intents),  # a button's: no NLU
                    message_id=client_message_id(data.get("message_id")),
                )
            )
            return True

        # Replace the handlers SocketIOInput registered for the same events.
        sio.on("session_request", handler=session_request, namespace=self.namespace)
        sio.on(self.user_message_evt, handler=user_uttered, namespace=self.namespace)
        sio.on("disconnect", handler=disconnect, namespace=self.namespace)

        @socketio_webhook.listener("after_server_stop")
        async def close_rooms(*_: Any) -> None:
            await rooms.close()

        return socketio_webhook

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return None
        return SocketIOPushOutput(
            self.sio,
            self.bot_message_evt,
            self.namespace,
            getattr(self, "_answers", None),
            self.rooms,
        )


async def _note_presence(conversation_id: str, *, returned: bool) -> None:
    """The owner left (their last socket closed) or came back; the console shows it."""

    def note() -> None:
        cases = rasa_process().conversation_cases
        if returned:
            cases.owner_returned(conversation_id)
        else:
            cases.owner_left(conversation_id)

    try:
        await asyncio.to_thread(note)
    except Exception:  # the chat goes on; only the console's view of presence is behind
        logger.exception(
            "could not note that a web chat owner %s", "returned" if returned else "left"
        )


async def _conversation_of(sio: AsyncServer, sid: str, namespace: str | None) -> str | None:
    try:
        socket = await sio.get_session(sid, namespace=namespace)
    except KeyError:  # the socket has closed
        return None
    conversation_id = socket.get(SESSION)
    return conversation_id if isinstance(conversation_id, str) else None


async def _refuse(sio: AsyncServer, sid: str, error: str, message: str) -> None:
    await sio.emit(ERROR_EVENT, {"error": error, "message": message}, room=sid, ignore_queue=True)


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
