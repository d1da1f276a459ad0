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
room, and sent when a socket is confirmed into that conversation again, to that socket, one
message at a time, each asking the socket to acknowledge it (the widget does once it has shown
it). A message leaves the keep, and a password in it counts as delivered, only once
acknowledged; if the socket closes first, that message and the rest stay kept, in order, for the
next socket, and a password goes to no one else meanwhile. A socket that stays open without
acknowledging (a widget from before acknowledgements) has still read the message once it has
answered the server's next ping: see :class:`Answers`. One conversation's kept messages are sent
to one socket at a time.

A password sent to open sockets is acknowledged the same way (:meth:`SocketIOPushOutput.hand_over`):
a page can die without its socket closing at once (the server notices only when pings go
unanswered), so the password counts as delivered once a socket acknowledged it; if every socket
closed first, it goes to the sockets open then, or is kept for the next one.

A step's text arrives as Rasa sends it (one event per paragraph), each paragraph marked
``"part_of": "reset_step"``, then the step card's payload: the widget draws the card from the
payload's parts and skips the marked text, without reading it.

Presence: when a conversation's last socket closes, its case notes that the owner left (the
console shows it); a socket confirmed into it again notes the return.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncServer

from bot.bootstrap import rasa_process
from bot.channels.chat_input import (
    client_intents,
    intent_message_problem,
    intent_parse_data,
    text_problem,
)
from bot.channels.chat_sessions import SessionTokens, conversation_id_of, session_key
from bot.channels.client import with_client_address
from bot.channels.password_delivery import (
    arrived,
    deliver_once,
    keep_for_later,
    kept_for,
    password_reference,
    reveal,
)
from bot.channels.turns import limit_turns

AGENT_MESSAGE = "agent_message"
ERROR_EVENT = "chat_error"
SESSION = "conversation_id"  # the conversation a socket was confirmed into (server-side)
STEP_CARD = "reset_step"
DEFAULT_NAMESPACE = "/"

logger = logging.getLogger(__name__)


def has_participant(sio: AsyncServer, room: str, namespace: str | None, but: str = "") -> bool:
    """Whether a connected socket (other than ``but``) is in ``room``."""
    return any(sid != but for sid in open_sockets(sio, room, namespace))


def open_sockets(sio: AsyncServer, room: str, namespace: str | None) -> list[str]:
    """The connected sockets in ``room``."""
    namespace = namespace or DEFAULT_NAMESPACE
    return [
        sid
        for sid, _ in list(sio.manager.get_participants(namespace, room))
        if sio.manager.is_connected(sid, namespace)
    ]


_settling: set[asyncio.Task[None]] = set()  # passwords on their way (kept from the collector)


def _settled(task: asyncio.Task[None]) -> None:
    _settling.discard(task)
    if not task.cancelled() and task.exception() is not None:
        error = task.exception()
        logger.error("could not settle a temporary password's delivery: %s", type(error).__name__)


class SocketIOPushOutput(SocketIOOutput):
    """Replies and pushes to a conversation's room; kept for later when nobody is in it."""

    def __init__(
        self,
        sio: AsyncServer,
        bot_message_evt: str,
        namespace: str | None = None,
        answers: Answers | None = None,
    ) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace
        self.answers = answers

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        if not has_participant(self.sio, recipient_id, self.namespace):
            # The owner closed the page: what they would miss (a released password) waits.
            await keep_for_later(recipient_id, message, "socketio")
            return
        if self.answers is not None and password_reference(message) is not None:
            await self.hand_over(recipient_id, message, self.answers)
            return
        await self.deliver(recipient_id, message)

    async def hand_over(self, recipient_id: str, message: dict[str, Any], answers: Answers) -> None:
        """A password, to each open socket of the conversation, each asked to acknowledge it.

        It is sent before this returns (what follows it comes after it); whether it arrived is
        settled meanwhile, without holding up the turn: delivered once a socket acknowledged it;
        if every one closed first, it goes to the sockets open then, or is kept for the next.
        """
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def send(revealed: dict[str, Any]) -> bool:
            outputs = [
                AcknowledgedOutput(self.sio, self.bot_message_evt, self.namespace, sid, answers)
                for sid in open_sockets(self.sio, recipient_id, self.namespace)
            ]
            try:
                for output in outputs:
                    await output.emit_events(recipient_id, revealed)
            finally:
                if not sent.done():
                    sent.set_result(None)
            given = await asyncio.gather(*(output.all_acknowledged() for output in outputs))
            return any(given)

        async def settle() -> None:
            if not await deliver_once(message, recipient_id, send, channel="socketio"):
                await self.send_response(recipient_id, message)  # to whoever is there now

        task = asyncio.create_task(settle())
        _settling.add(task)
        task.add_done_callback(_settled)
        await asyncio.wait({task, sent}, return_when=asyncio.FIRST_COMPLETED)

    async def deliver(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self.send_events(recipient_id, reveal(message, recipient_id))

    async def send_events(self, recipient_id: str, message: dict[str, Any]) -> None:
        """``message`` as the widget's events (a password in it already revealed)."""
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


class Answers:
    """The acknowledgements awaited from each socket; a socket that closes gives no more.

    A socket that neither acknowledges nor closes within :meth:`window` has still read what it
    was sent: engine.io keeps a socket open only while it answers the server's pings (one every
    ``ping_interval``, each to be answered within ``ping_timeout``), and it reads a ping sent
    after the message only after the message.
    """

    def __init__(self, sio: AsyncServer, namespace: str | None) -> None:
        self.sio = sio
        self.namespace = namespace or DEFAULT_NAMESPACE
        self._awaited: dict[str, set[asyncio.Future[bool]]] = {}

    def window(self) -> float:
        interval = float(getattr(self.sio.eio, "ping_interval", 25))
        timeout = float(getattr(self.sio.eio, "ping_timeout", 20))
        return interval + 2 * timeout + 5  # a ping outstanding, the next one, and a margin

    def expect(self, sid: str) -> asyncio.Future[bool]:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._awaited.setdefault(sid, set()).add(answer)
        return answer

    def socket_closed(self, sid: str) -> None:
        for answer in self._awaited.pop(sid, set()):
            if not answer.done():
                answer.set_result(False)

    async def all_given(self, sid: str, answers: list[asyncio.Future[bool]]) -> bool:
        """Whether ``sid`` acknowledged every one of ``answers`` (or read them: see above)."""
        if not self.sio.manager.is_connected(sid, self.namespace):
            self.socket_closed(sid)  # it closed before its events were even sent
        try:
            if answers:
                await asyncio.wait(answers, timeout=self.window())
        finally:
            awaited = self._awaited.get(sid)
            if awaited is not None:
                awaited.difference_update(answers)
                if not awaited:
                    del self._awaited[sid]
        if all(answer.done() for answer in answers):
            return all(answer.result() for answer in answers)
        return bool(self.sio.manager.is_connected(sid, self.namespace))


class AcknowledgedOutput(SocketIOPushOutput):
    """Events to one socket, each to be acknowledged (:meth:`arrived` says whether they were)."""

    def __init__(
        self,
        sio: AsyncServer,
        bot_message_evt: str,
        namespace: str | None,
        sid: str,
        answers: Answers,
    ) -> None:
        super().__init__(sio, bot_message_evt, namespace, answers)
        self.sid = sid
        self.awaited = answers
        self._sent: list[asyncio.Future[bool]] = []

    async def arrived(self, recipient_id: str, message: dict[str, Any]) -> bool:
        await self.emit_events(recipient_id, message)
        return await self.all_acknowledged()

    async def emit_events(self, recipient_id: str, message: dict[str, Any]) -> None:
        self._sent = []
        await self.send_events(recipient_id, message)

    async def all_acknowledged(self) -> bool:
        return await self.awaited.all_given(self.sid, self._sent)

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await self._emit(response)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self._emit(json_message.get("data"))  # what Rasa's emits: the payload's "data"

    async def _emit(self, data: Any) -> None:
        answer = self.awaited.expect(self.sid)
        self._sent.append(answer)

        def acknowledged(*_: Any) -> None:
            if not answer.done():
                answer.set_result(True)

        await self.sio.emit(
            self.bot_message_evt,
            data,
            to=self.sid,
            namespace=self.namespace,
            callback=acknowledged,
        )


class OneAtATime:
    """An asyncio lock per key, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: Counter[str] = Counter()

    @asynccontextmanager
    async def __call__(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] += 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


class SocketIOChannel(SocketIOInput):
    """Registered in credentials.yml; keeps the name ``socketio`` for output_channel=socketio.

    Sessions are always on: ``session_persistence`` in credentials.yml is not consulted.
    """

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        settings = rasa_process().settings
        handle = limit_turns(on_new_message, at_once=settings.rasa_turns_at_once)
        socketio_webhook: Blueprint = super().blueprint(handle)
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint
        if settings.chat_ping is not None:
            sio.eio.ping_interval, sio.eio.ping_timeout = settings.chat_ping
        session_tokens = SessionTokens(session_key(settings.chat_session_secret))
        allowed_intents = client_intents()
        answers = self._answers = Answers(sio, self.namespace)
        resending = OneAtATime()

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
            await resend_kept(sid, conversation_id)

        async def resend_kept(sid: str, conversation_id: str) -> None:
            """What was kept for the conversation, to this socket; each message stays kept
            until the socket acknowledged it."""
            output = AcknowledgedOutput(sio, self.bot_message_evt, self.namespace, sid, answers)
            send = functools.partial(output.arrived, conversation_id)
            async with resending(conversation_id):
                for kept in await kept_for(conversation_id):
                    if await _conversation_of(sio, sid, self.namespace) != conversation_id:
                        return  # closed, or moved to another conversation, meanwhile
                    if not await deliver_once(kept.message, conversation_id, send):
                        return  # the socket closed: this one and the rest wait for the next
                    await arrived(kept)

        async def disconnect(sid: str, reason: Any = None) -> None:
            answers.socket_closed(sid)
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
                    SocketIOPushOutput(sio, self.bot_message_evt, self.namespace, answers),
                    conversation_id,  # the socket's own, never one the message names
                    input_channel=self.name(),
                    metadata=with_client_address(metadata, request) if request else metadata,
                    parse_data=intent_parse_data(text, allowed_intents),  # a button's: no NLU
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
        return SocketIOPushOutput(
            self.sio, self.bot_message_evt, self.namespace, getattr(self, "_answers", None)
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
