"""The phone channel on the real product (real model, action server and controller), acting on
the channel contract: the first turn, keys and a confirmed Device ID reach the dialogue as
intents (read back from the tracker), a turn the dialogue could not handle climbs the reprompt
ladder, the password is read again from the call's memory, the queued answer says "stay on the
line" once, and a rejected caller hears what they can do next (never asked for photos) before
the call ends. Twilio is played with signed requests (tests/security/test_phone_webhook.py)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from argon2 import PasswordHasher

from bot.agents.accounts import AgentAccounts, AgentView
from bot.cases.store import CaseStore
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.phone.content import load_phone_content
from tests.security.test_phone_webhook import (
    DEVICE_ID_SPOKEN,
    Product,
    Twilio,
    queued_call,
    running_phone_product,
    spoken,
)
from tests.test_phone_end_to_end import heard_password

CONTENT = load_phone_content()


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    with running_phone_product(tmp_path_factory.mktemp("phone-contract")) as product:
        yield product


@pytest.fixture(scope="module")
def desk(product: Product) -> Iterator[tuple[SupportDesk, AgentView, Database]]:
    database = Database(f"sqlite:///{product.database}")
    support = SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())
    accounts = AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    agent = accounts.create("alice", "Alice", "correct horse battery staple")
    yield support, agent, database
    database.dispose()


def user_events(product: Product, conversation: str) -> list[dict[str, Any]]:
    url = (
        f"{product.settings.rasa_url}/conversations/{quote(conversation, safe='')}/tracker"
        f"?token={product.settings.rasa_api_token}"
    )
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return [event for event in answer.json()["events"] if event["event"] == "user"]


def last_intent(product: Product, twilio: Twilio) -> tuple[str, dict[str, str]]:
    event = user_events(product, twilio.call_sid)[-1]
    parsed = event["parse_data"]
    entities = {e["entity"]: e["value"] for e in parsed.get("entities", [])}
    return parsed["intent"]["name"], entities


def heard(twiml: ET.Element) -> str:
    text = spoken(twiml)
    assert "America" not in text and "Toronto" not in text, text
    return text


def act(product: Product, work: Any) -> None:
    """Run an agent's console action (claim, release, reject) through the Rasa bridge."""

    async def run() -> None:
        bridge = RasaBridge(product.settings.rasa_url, product.settings.rasa_api_token)
        try:
            await work(bridge)
        finally:
            await bridge.close()

    asyncio.run(run())


def back_from_hold(twilio: Twilio) -> ET.Element:
    """Leave the queue as Twilio does, following the channel's redirects while it waits for
    the assistant's message."""
    assert twilio.wait().find("Leave") is not None
    twiml = twilio.twiml(twilio.action, QueueResult="leave", CallStatus="in-progress")
    for _ in range(8):
        redirect = twiml.find("Redirect")
        if redirect is None or not redirect.text:
            break
        twiml = twilio.twiml(redirect.text, CallStatus="in-progress")
    return twiml


def test_the_first_turn_keys_and_a_confirmed_id_reach_the_dialogue_as_intents(
    product: Product,
) -> None:
    twilio = Twilio(product.settings.rasa_url)
    greeting = twilio.ring()
    assert last_intent(product, twilio)[0] == "request_password_reset"
    assert "Device ID" in heard(greeting)
    listening = greeting.find("Gather")
    assert listening is not None and listening.get("hints") == CONTENT.hint("device_id")
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in heard(twilio.say(DEVICE_ID_SPOKEN))
    confirmed = heard(twilio.press("1"))
    assert last_intent(product, twilio)[0] == "provide_device_id"
    assert "N 8 4 1" in confirmed or "N841" in confirmed, confirmed  # the ID reached the dialogue
    held = twilio.press("*")  # asked for the owner's name: a person instead
    assert last_intent(product, twilio)[0] == "request_human"
    assert held.find("Enqueue") is not None, heard(held)
    assert heard(held).lower().count("stay on the line") <= 1, heard(held)
    twilio.hang_up()


def test_a_turn_the_dialogue_cannot_handle_climbs_the_reprompt_ladder(product: Product) -> None:
    twilio = Twilio(product.settings.rasa_url)
    twilio.ring()
    first = twilio.say("blorp zint quaggle frumious")
    assert first.find("Gather") is not None
    before = len(user_events(product, twilio.call_sid))
    second = heard(twilio.say("blorp zint quaggle frumious"))
    assert CONTENT.keypad.help in second, second
    third = heard(twilio.say("blorp zint quaggle frumious"))
    assert "star" in third, third
    fourth = twilio.say("blorp zint quaggle frumious")
    assert last_intent(product, twilio)[0] == "request_human"
    assert fourth.find("Enqueue") is not None, heard(fourth)
    # Each answer still reached the dialogue (it may be understood); then the request for a person.
    assert len(user_events(product, twilio.call_sid)) == before + 4
    twilio.hang_up()


def test_step_keys_and_the_password_again_on_the_real_product(
    product: Product, desk: tuple[SupportDesk, AgentView, Database]
) -> None:
    support, agent, database = desk
    twilio = queued_call(product)
    case = CaseStore(database).latest_for_conversation(twilio.call_sid)
    assert case is not None

    async def release(bridge: RasaBridge) -> None:
        agent_desk = AgentDesk(support, bridge)
        await agent_desk.claim(case.code, agent)
        outcome = await agent_desk.release(case.code, agent, releases_seen=0)
        assert outcome.problem is None, outcome.problem

    act(product, release)
    password = heard_password(back_from_hold(twilio))
    assert len(password) == 10
    step = twilio.say("ready")
    assert "Step 1 of" in heard(step)
    for key, intent in (("1", "step_done"), ("2", "repeat"), ("3", "go_back"),
                        ("0", "step_help")):
        twilio.press(key)
        assert last_intent(product, twilio)[0] == intent
    again = twilio.say("what was the temporary password again")
    assert heard_password(again) == password, heard(again)
    back = twilio.say("ready")
    assert "step" in heard(back).lower(), heard(back)
    assert back.find("Gather").get("hints") == CONTENT.hint("steps")  # type: ignore[union-attr]
    twilio.hang_up()


def test_a_rejected_caller_hears_what_to_do_next_and_the_call_ends(
    product: Product, desk: tuple[SupportDesk, AgentView, Database]
) -> None:
    support, agent, database = desk
    twilio = queued_call(product)
    case = CaseStore(database).latest_for_conversation(twilio.call_sid)
    assert case is not None

    async def reject(bridge: RasaBridge) -> None:
        agent_desk = AgentDesk(support, bridge)
        await agent_desk.claim(case.code, agent)
        await agent_desk.reject(case.code, agent, "photos_needed")

    act(product, reject)
    ending = back_from_hold(twilio)
    text = heard(ending)
    assert "can't be sent over the phone" in text, text
    assert "1 8 8 8 4 2 5 6 7 3 9" in text, text
    assert text.endswith(CONTENT.goodbye), text
    assert ending.find("Gather") is None and ending.find("Hangup") is not None
