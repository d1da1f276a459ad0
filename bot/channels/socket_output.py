"""The web chat's output (:mod:`bot.channels.socketio` says how it delivers): to a
conversation's room, to one socket with acknowledgements, or kept for later; which sockets of a
conversation are on this instance, and what each of them acknowledged."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa.core.channels.socketio import SocketIOOutput
from socketio import AsyncServer

from bot.channels.password_delivery import deliver_once, keep_for_later, password_reference, reveal
from bot.channels.socket_rooms import ChatRooms

AGENT_MESSAGE = "agent_message"
DEFAULT_NAMESPACE = "/"
STEP_CARD = "reset_step"

logger = logging.getLogger(__name__)


def open_sockets(sio: AsyncServer, room: str, namespace: str | None) -> list[str]:
    """The connected sockets in ``room`` on this instance (with several instances, others may
    hold more: :mod:`bot.channels.socket_rooms`)."""
    namespace = namespace or DEFAULT_NAMESPACE
    return [
        sid
        for sid, _ in list(sio.manager.get_participants(namespace, room))
        if sio.manager.is_connected(sid, namespace)
    ]


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
        rooms: ChatRooms | None = None,
    ) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace
        self.answers = answers
        self.rooms = rooms

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        if not open_sockets(self.sio, recipient_id, self.namespace):
            # No socket of it here: the owner closed the page, or is connected to another
            # instance. Kept (in the database every instance shares); an instance holding one of
            # its sockets hears of it and sends it, acknowledged; otherwise it waits for them.
            await keep_for_later(recipient_id, message, "socketio")
            if self.rooms is not None:
                await self.rooms.announce_kept(recipient_id)
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
            ignore_queue=True,  # a socket of this instance: no other needs to hear of it
        )
