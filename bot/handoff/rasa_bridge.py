"""How the agent console reaches the assistant: Rasa's HTTP API (token auth) and the ``handoff``
channel's deposit endpoint.

The temporary password travels once, over the loopback connection, into the Rasa process's
memory (:mod:`bot.channels.handoff`); what Rasa's API and tracker see is its reference only.

A conversation id goes into API paths as one encoded segment, and an id Rasa's API would read
as another conversation is refused (:mod:`bot.conversation_ids`): a sender such as
``x/tracker/events?`` once let a take-over pause ``x``. Errors never repeat the id (a web chat's
id is its session secret).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import aiohttp

from bot.channels.chat_input import CONSOLE_INTENT_PREFIX
from bot.conversation_ids import UnusableConversationId, path_segment
from bot.handoff.pressed import load_pressed
from bot.handoff.temporary_password import TemporaryPassword

# Intents the console triggers (domain/handoff.yml); the EXTERNAL_ prefix keeps them out of NLU.
# Rasa stores each trigger as a user message "EXTERNAL: <intent>"; the user never typed it.
TRIGGERED_TEXT_PREFIX = "EXTERNAL: "
PASSWORD_RELEASED = "EXTERNAL_password_released"
CASE_REJECTED = "EXTERNAL_case_rejected"
HANDED_BACK = "EXTERNAL_handed_back"


class AssistantUnreachable(RuntimeError):
    """The Rasa server did not take the request; the message says what failed."""


class UnaddressableConversation(AssistantUnreachable):
    """The conversation id cannot be put into a Rasa API path; nothing was sent."""


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    speaker: str  # "user", "assistant" or the agent's display name
    text: str
    by_agent: bool = False


def transcript_lines(tracker: Any) -> list[TranscriptLine]:
    """The conversation as the agent reads it, from the tracker Rasa's API returns: a button or
    key press by its meaning (:mod:`bot.handoff.pressed`), the console's triggers left out."""
    pressed = load_pressed()
    lines: list[TranscriptLine] = []
    for event in tracker.get("events", []) if isinstance(tracker, dict) else []:
        kind = event.get("event")
        at = datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)
        text = (event.get("text") or "").strip()
        if kind == "user" and text and not text.startswith(TRIGGERED_TEXT_PREFIX):
            if text.startswith("/"):
                meaning = pressed.describe(text, event.get("input_channel"))
                if meaning is None or text[1:].startswith(CONSOLE_INTENT_PREFIX):
                    continue
                text = meaning
            lines.append(TranscriptLine(at, "user", text))
        elif kind == "bot" and text:
            agent = (event.get("metadata") or {}).get("agent")
            if agent:
                lines.append(TranscriptLine(at, str(agent), text, by_agent=True))
            else:
                lines.append(TranscriptLine(at, "assistant", text))
    return lines


class RasaBridge:
    def __init__(self, rasa_url: str, api_token: str, *, timeout: float = 10.0) -> None:
        self._url = rasa_url.rstrip("/")
        self._token = api_token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deposit(
        self,
        conversation_id: str,
        reference: str,
        password: TemporaryPassword,
        expires_at: datetime,
    ) -> None:
        """Hand the password to the Rasa process, to be swapped in for ``reference`` once."""
        await self._request(
            "POST",
            "/webhooks/handoff/deposit",
            json={
                "conversation_id": conversation_id,
                "reference": reference,
                "password": password.value,
                "expires_at": expires_at.isoformat(),
            },
            headers={"Authorization": f"Bearer {self._token}"},
            with_token=False,
        )

    async def pause(self, conversation_id: str) -> None:
        await self._append_events(conversation_id, [{"event": "pause"}])

    async def resume_with(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        """Resume the paused assistant, then make it act on ``intent`` (answers go to the user)."""
        await self._append_events(conversation_id, [{"event": "resume"}])
        await self._request(
            "POST",
            "/trigger_intent",
            conversation=conversation_id,
            params={"output_channel": "latest"},
            json={"name": intent, "entities": entities or {}},
        )

    async def say(self, conversation_id: str, text: str, agent_name: str) -> None:
        """Send an agent's message to the user, labelled as a person, and keep it in the tracker."""
        event = {
            "event": "bot",
            "text": text,
            "timestamp": time.time(),
            # Under custom.data: Rasa's socket.io output passes a payload's keys to emit().
            "data": {"custom": {"data": {"type": "agent_message", "agent": {"name": agent_name}}}},
            "metadata": {"agent": agent_name},
        }
        await self._append_events(conversation_id, [event], send=True)

    async def announce_taken_over(self, conversation_id: str, case_code: str) -> None:
        """Tell the user's client that a person now answers: the channel contract's ``turn``
        payload (state ``taken_over``, nothing expected), so a chat stops showing the assistant
        typing. Sent after the agent's announcement, as the end of that turn."""
        turn = {
            "type": "turn",
            "state": "taken_over",
            "expects": "nothing",
            "step": None,
            "total": None,
            "sensitive_input": False,
            "case": case_code,
        }
        event = {
            "event": "bot",
            "text": None,
            "timestamp": time.time(),
            "data": {"custom": {"data": turn}},
        }
        await self._append_events(conversation_id, [event], send=True)

    async def transcript(self, conversation_id: str) -> list[TranscriptLine]:
        tracker = await self._request("GET", "/tracker", conversation=conversation_id)
        return transcript_lines(tracker)

    async def _append_events(
        self, conversation_id: str, events: list[dict[str, Any]], *, send: bool = False
    ) -> None:
        params = {"output_channel": "latest", "execute_side_effects": "true"} if send else {}
        await self._request(
            "POST", "/tracker/events", conversation=conversation_id, params=params, json=events
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        conversation: str | None = None,
        params: dict[str, str] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        with_token: bool = True,
    ) -> Any:
        """``path`` is under ``/conversations/<conversation>`` when ``conversation`` is given."""
        shown = path  # what an error says: never the conversation id
        if conversation is not None:
            try:
                segment = path_segment(conversation)
            except UnusableConversationId as exc:
                raise UnaddressableConversation(
                    f"this conversation id cannot be used with the assistant's API ({exc})"
                ) from exc
            shown = f"/conversations/…{path}"
            path = f"/conversations/{segment}{path}"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        query = dict(params or {})
        if with_token:
            query["token"] = self._token
        try:
            async with self._session.request(
                method, self._url + path, params=query, json=json, headers=headers
            ) as response:
                if response.status >= 400:
                    detail = (await response.text())[:200]
                    if conversation is not None:
                        detail = detail.replace(conversation, "…")
                    raise AssistantUnreachable(
                        f"the assistant refused {method} {shown}: HTTP {response.status} {detail}"
                    )
                if response.content_type == "application/json":
                    return await response.json()
                return None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AssistantUnreachable(
                f"the assistant at {self._url} did not answer ({type(exc).__name__})"
            ) from exc
