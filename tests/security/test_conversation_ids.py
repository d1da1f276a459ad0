"""What the product withstands in a conversation id (the REST ``sender``) and a message's text.

On the running product (started as `make run` starts it):

- a conversation id travels into Rasa's HTTP API paths (``/conversations/<id>/...``), which the
  agent console drives through ``bot.handoff.rasa_bridge``; Sanic does not decode those paths,
  so an id with ``/``, ``?``, ``#``, ``%``, spaces or non-ASCII characters would name another
  conversation (``x/tracker/events?`` named ``x``). The REST channel refuses such a sender with
  a clear 400, and the bridge encodes every path segment and refuses an id the API cannot carry,
  so a take-over of ``x/tracker/events?`` never pauses ``x``;
- a sender longer than the case table's conversation column (128) gets a 400; one of exactly
  128 characters works end to end, up to a queued case;
- a sender shaped like a phone call's conversation id (a Twilio CallSid) gets a 400;
- a message text that is not valid Unicode (a lone surrogate) gets a clear 400 on REST and an
  error event on socket.io, and never reaches NLU.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.handoff.rasa_bridge import HANDED_BACK, AssistantUnreachable, RasaBridge
from bot.serve import Settings
from tests.chat_user import ChatUser
from tests.running_product import AssistantClient, running_product

SUPPORTED_ID = "ND4810273945KXQ"
OWNER = ("zion juniperfield", "Zion.Juniperfield@example.com", "(202) 555-0110")


@dataclass
class Product(AssistantClient):
    settings: Settings
    log_path: Path

    def post(self, body: dict[str, Any] | str) -> requests.Response:
        data = body if isinstance(body, str) else json.dumps(body)
        return requests.post(
            f"{self.settings.rasa_url}/webhooks/rest/webhook",
            data=data.encode("utf-8"),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )

    def texts(self, sender: str, message: str) -> str:
        reply = self.post({"sender": sender, "message": message})
        assert reply.status_code == 200, reply.text
        return "\n".join(m.get("text", "") for m in reply.json())


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    folder = tmp_path_factory.mktemp("conversation-ids")
    with running_product(
        folder,
        database_url=f"sqlite:///{folder / 'lorex.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
    ) as (settings, log_path):
        yield Product(settings.rasa_url, settings.rasa_api_token, settings, log_path)


async def refusals(product: Product, *acts: Any) -> list[str]:
    """Runs each of ``acts`` (bridge -> awaitable) on a real bridge; what each refusal said."""
    bridge = RasaBridge(product.settings.rasa_url, product.settings.rasa_api_token)
    refused = []
    for act in acts:
        try:
            await act(bridge)
        except AssistantUnreachable as refusal:
            refused.append(str(refusal))
    await bridge.close()
    return refused


@pytest.mark.parametrize("suffix", ["/tracker/events?", "/tracker/events#"])
def test_a_take_over_of_a_crafted_sender_never_pauses_another_conversation(
    product: Product, suffix: str
) -> None:
    target = f"x{uuid.uuid4().hex[:8]}"
    crafted = target + suffix
    assert "Lorex recorder assistant" in product.texts(target, "hello")
    # Whatever the REST channel says to the crafted sender, the bridge must not reach ``target``.
    product.post({"sender": crafted, "message": "hello"})

    # What the console does on "take over the chat": pause, then the agent's greeting.
    refused = asyncio.run(
        refusals(
            product,
            lambda bridge: bridge.pause(crafted),
            lambda bridge: bridge.say(crafted, "an agent's words", "Alice"),
        )
    )
    tracker = product.tracker(target)
    assert tracker["paused"] is False
    assert not any(event.get("text") == "an agent's words" for event in tracker["events"])
    assert len(refused) == 2 and all("conversation id" in reason for reason in refused), refused
    # ... and "hand back to the assistant" triggers nothing in ``target`` either.
    refused = asyncio.run(
        refusals(product, lambda bridge: bridge.resume_with(crafted, HANDED_BACK))
    )
    texts = [event.get("text") or "" for event in product.tracker(target)["events"]]
    assert not any(HANDED_BACK in text for text in texts)
    assert len(refused) == 1 and crafted not in refused[0]


@pytest.mark.parametrize(
    ("sender", "why"),
    [
        ("x/tracker/events?", "may contain only"),
        ("a b", "may contain only"),
        ("café", "may contain only"),
        ("x%2Fy", "may contain only"),
        ("tab\there", "may contain only"),
        ("nul\u0000", "may contain only"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        ("s" * 129, "at most 128"),
        ("CA" + uuid.uuid4().hex, "phone call's"),  # a Twilio CallSid names a call's
    ],
    ids=[
        *("path", "space", "non-ascii", "percent", "tab", "nul", "dot", "dot-dot", "129-chars"),
        "call-sid",
    ],
)
def test_an_unusable_sender_gets_a_clear_400(product: Product, sender: str, why: str) -> None:
    reply = product.post({"sender": sender, "message": "hello"})
    assert reply.status_code == 400, reply.text
    assert why in reply.json()["error"]


def test_a_128_character_sender_works_up_to_a_queued_case(product: Product) -> None:
    sender = ("s-" + uuid.uuid4().hex + "~._:@+" + "9" * 128)[:128]
    assert len(sender) == 128
    assert "Device ID" in product.texts(sender, "I forgot my recorder password")
    assert "What name" in product.texts(sender, SUPPORTED_ID)
    assert "email" in product.texts(sender, OWNER[0])
    assert "phone" in product.texts(sender, OWNER[1])
    queued = product.texts(sender, OWNER[2])
    assert re.search(r"case \*\*(LX-[A-Z0-9]{6})\*\*", queued), queued
    assert product.tracker(sender)["slots"]["device_id"] == SUPPORTED_ID
    # The console reaches it through Rasa's API: an agent's message lands in this conversation.
    refused = asyncio.run(
        refusals(product, lambda bridge: bridge.say(sender, "hello from Alice", "Alice"))
    )
    assert refused == []
    assert any(e.get("text") == "hello from Alice" for e in product.tracker(sender)["events"])


def test_a_lone_surrogate_in_a_rest_message_gets_a_clear_400(product: Product) -> None:
    sender = f"s-{uuid.uuid4().hex[:8]}"
    body = '{"sender": %s, "message": "hello \\ud800 there"}'
    reply = product.post(body.replace("%s", json.dumps(sender)))
    assert reply.status_code == 400, reply.text
    assert "not valid Unicode" in reply.json()["error"]
    # Nothing reached the conversation, and it carries on.
    assert not [e for e in product.tracker(sender)["events"] if e["event"] == "user"]
    assert "Device ID" in product.texts(sender, "I forgot my recorder password")


def test_a_lone_surrogate_over_socketio_gets_an_error_event(product: Product) -> None:
    async def chat() -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        user = ChatUser(product.settings)
        await user.connect()
        await user.client.emit("user_uttered", {"message": "hello \ud800 there"})
        error = await asyncio.wait_for(user.errors.get(), 60)
        # ... and the conversation carries on.
        replies = await user.say("I forgot my recorder password", until=("Device ID",))
        await user.leave()
        return user.conversation_id, error, replies

    conversation_id, error, replies = asyncio.run(chat())
    assert any("Device ID" in (reply.get("text") or "") for reply in replies)
    assert error["error"] == "invalid_text"
    assert "not valid Unicode" in error["message"]
    user_texts = [
        e["text"] for e in product.tracker(conversation_id)["events"] if e["event"] == "user"
    ]
    assert user_texts == ["I forgot my recorder password"]
