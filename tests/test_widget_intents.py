"""The web chat's socket.io channel against the whole running product: a visitor cannot name
the console's intents (or any intent the chat does not send) with Rasa's `/intent` text, and the
intents the widget's buttons send do reach the dialogue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from bot.serve import Settings
from tests.chat_user import ChatUser
from tests.running_product import AssistantClient, running_product

ASYNC = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    folder = tmp_path_factory.mktemp("widget-intents")
    with running_product(
        folder,
        database_url=f"sqlite:///{folder / 'lorex.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
    ) as (settings, _log):
        yield settings


@pytest_asyncio.fixture(loop_scope="module")
async def visitor(product: Settings) -> AsyncIterator[ChatUser]:
    user = ChatUser(product)
    await user.connect()
    yield user
    await user.leave()


def user_intents(settings: Settings, conversation_id: str) -> list[str]:
    tracker = AssistantClient(settings.rasa_url, settings.rasa_api_token).tracker(conversation_id)
    return [
        event["parse_data"]["intent"]["name"]
        for event in tracker["events"]
        if event["event"] == "user"
    ]


@ASYNC
async def test_a_visitor_typing_a_console_intent_is_refused(
    product: Settings, visitor: ChatUser
) -> None:
    await visitor.client.emit(
        "user_uttered", {"message": '/EXTERNAL_password_released{"release_ref": "x"}'}
    )
    try:
        error = await asyncio.wait_for(visitor.errors.get(), 20)
    except asyncio.TimeoutError:
        error = {}
    # The chat goes on, and the refused message never reached the dialogue.
    await visitor.say("/greet", until=("Lorex recorder assistant",))
    assert user_intents(product, visitor.conversation_id) == ["greet"]
    assert error.get("error") == "intent_not_allowed"
    assert "EXTERNAL_password_released" in error["message"]
    assert visitor.errors.empty()


@ASYNC
async def test_malformed_intent_messages_are_refused(visitor: ChatUser) -> None:
    for text in ("/share_password", "/restart", '/provide_device_id{"device_id": "x",}'):
        await visitor.client.emit("user_uttered", {"message": text})
        error = await asyncio.wait_for(visitor.errors.get(), 30)
        assert error["error"] == "intent_not_allowed", text


@ASYNC
async def test_the_buttons_intents_reach_the_dialogue(
    product: Settings, visitor: ChatUser
) -> None:
    messages = await visitor.say("/greet", until=("Lorex recorder assistant",))
    greeting = next(m for m in messages if "Lorex recorder assistant" in (m.get("text") or ""))
    assert "/request_password_reset" in [b["payload"] for b in greeting["quick_replies"]]
    await visitor.say("/request_password_reset", until=("Device ID",))
    await visitor.say(
        '/provide_device_id{"device_id": "ND4810273945KXQ"}', until=("registered N841",)
    )
    assert user_intents(product, visitor.conversation_id)[-1] == "provide_device_id"
    assert visitor.errors.empty()
    # The photo reader's confirmed ID is kept as sent (no password in it), entity and all.
    tracker = AssistantClient(product.rasa_url, product.rasa_api_token).tracker(
        visitor.conversation_id
    )
    [sent] = [e for e in tracker["events"] if e["event"] == "user"][-1:]
    assert sent["text"] == '/provide_device_id{"device_id": "ND4810273945KXQ"}'
    assert [e["value"] for e in sent["parse_data"]["entities"]] == ["ND4810273945KXQ"]


@ASYNC
async def test_a_steps_text_is_marked_as_the_cards_and_the_card_carries_its_parts(
    visitor: ChatUser,
) -> None:
    """The widget draws the card from the payload and skips the text marked as the card's."""
    await visitor.say("/greet", until=("Lorex recorder assistant",))
    await visitor.payload(lambda m: m.get("type") == "turn", "the turn's end")
    said = await visitor.say("/have_temporary_password", until=("Step 1 of",))
    card = await visitor.payload(lambda m: m.get("type") == "reset_step", "step card")
    step_text = [m for m in said if "text" in m][-1]
    assert step_text["part_of"] == "reset_step"
    assert card["step"] == 1 and card["title"] and card["parts"]["body"]
