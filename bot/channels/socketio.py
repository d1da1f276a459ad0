"""The web chat's socket.io channel: Rasa's, with session persistence working again.

Rasa 3.6 calls ``sio.enter_room`` without awaiting it; since python-socketio 5.10 that is a
coroutine, so the browser never joins its session's room and receives no replies. We replace the
``session_request`` handler with one that awaits it, and keep everything else from Rasa.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint


class SocketIOChannel(SocketIOInput):
    """Registered in credentials.yml; keeps the name ``socketio`` for output_channel=socketio."""

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        socketio_webhook: Blueprint = super().blueprint(on_new_message)
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
