"""A web chat visitor for tests that run the whole product: the real socket.io channel, with a
persistent session, as the widget uses it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio  # type: ignore[import-untyped]

from bot.channels.chat_sessions import conversation_id_of
from bot.serve import Settings

REPLY_SECONDS = 120  # Rasa on a busy two-core machine


class ChatUser:
    """A web chat visitor on the real socket.io channel, with a persistent session.

    The server issues the session token (``token``, a secret) in answer to ``session_request``;
    ``conversation_id`` is the conversation it opens (what Rasa's API and the console name).
    Pass a token to ask for it back, as the widget does after a reload: the server confirms it
    only if it issued it.
    """

    def __init__(self, settings: Settings, token: Any = None) -> None:
        self.settings = settings
        self.requested_token = token
        self._confirmed: str | None = None
        self.client = socketio.AsyncClient()
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client.on("bot_uttered", self.received.put_nowait)
        self.client.on("chat_error", self.errors.put_nowait)

    @property
    def token(self) -> str:
        if self._confirmed is None:
            raise RuntimeError("not connected: no session was confirmed yet")
        return self._confirmed

    @property
    def conversation_id(self) -> str:
        return conversation_id_of(self.token)

    async def connect(self) -> str:
        """Connects and asks for the session; returns the token the server confirmed."""
        confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.client.on("session_confirm", lambda sid: confirmed.done() or confirmed.set_result(sid))
        # Long-polling: the engineio client cannot open websockets with the aiohttp Rasa pins.
        await self.client.connect(
            self.settings.rasa_url, socketio_path="/socket.io", transports=["polling"]
        )
        await self.client.emit("session_request", {"session_id": self.requested_token})
        self._confirmed = await asyncio.wait_for(confirmed, 10)
        assert isinstance(self._confirmed, str) and self._confirmed
        return self._confirmed

    async def leave(self) -> None:
        """Closes the connection at once (a plain disconnect waits for the pending long-poll,
        up to the server's 25 s ping interval)."""
        await self.client.eio.disconnect(abort=True)

    async def say(self, message: str, *, until: tuple[str, ...]) -> list[dict[str, Any]]:
        # The server writes into the socket's own conversation: no session_id needed.
        await self.client.emit("user_uttered", {"message": message})
        return await self.messages_until(*until)

    async def messages_until(self, *parts: str) -> list[dict[str, Any]]:
        """Messages received up to the first whose text contains one of ``parts``."""
        messages: list[dict[str, Any]] = []
        while not any(part in (m.get("text") or "") for m in messages for part in parts):
            messages.append(await self._next(f"a message with {parts}", messages))
        return messages

    async def payload(self, predicate: Any, what: str) -> dict[str, Any]:
        """The next message (text or payload) for which ``predicate`` holds."""
        skipped: list[dict[str, Any]] = []
        while True:
            message = await self._next(what, skipped)
            if predicate(message):
                return message
            skipped.append(message)

    def drain(self) -> list[dict[str, Any]]:
        """Every message received and not read yet."""
        messages = []
        while not self.received.empty():
            messages.append(self.received.get_nowait())
        return messages

    async def _next(self, what: str, so_far: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(self.received.get(), REPLY_SECONDS)
        except asyncio.TimeoutError:
            pytest.fail(f"the chat got no {what} within {REPLY_SECONDS} s; it got: {so_far}")
