"""The web chat's socket.io channel: Rasa's, with session persistence working again, and the
temporary password put into its message only on the way out.

Rasa 3.6 calls ``sio.enter_room`` without awaiting it; since python-socketio 5.10 that is a
coroutine, so the browser never joins its session's room and receives no replies. We replace the
``session_request`` handler with one that awaits it, and keep everything else from Rasa.

Messages pushed from outside a user's request (the agent released a password: Rasa's
``trigger_intent`` with ``output_channel=latest``) go through :meth:`get_output_channel`, whose
output reveals the password (:mod:`bot.channels.password_delivery`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint

from bot.channels.password_delivery import reveal
from bot.channels.turns import limit_turns

AGENT_MESSAGE = "agent_message"


class SocketIOPushOutput(SocketIOOutput):
    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        message = reveal(message, recipient_id)
        data = (message.get("custom") or {}).get("data")
        if isinstance(data, dict) and data.get("type") == AGENT_MESSAGE:
            # A person's words: one event with the text and who wrote it, so the chat window
            # can label it (Rasa would send text and payload as two events).
            await self._send_message(
                recipient_id, {"text": message.get("text") or "", "agent": data.get("agent")}
            )
            return
        await super().send_response(recipient_id, message)


class SocketIOChannel(SocketIOInput):
    """Registered in credentials.yml; keeps the name ``socketio`` for output_channel=socketio."""

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        socketio_webhook: Blueprint = super().blueprint(limit_turns(on_new_message))
        sio = self.sio
        assert sio is not None  # set by SocketIOInput.blueprint

        async def session_request(sid: str, data: dict[str, Any] | None) -> None:
            data = data or {}
            session_id = data.get("session_id") or uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        # Replaces the handler SocketIOInput registered for the same event.
        sio.on("session_request", handler=session_request, namespace=self.namespace)
        return socketio_webhook

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return None
        return SocketIOPushOutput(self.sio, self.bot_message_evt)
