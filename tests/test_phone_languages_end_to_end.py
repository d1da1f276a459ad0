"""Calls in Spanish and French on the real product (real model, action server, dialogue and its
localised responses), as Twilio makes them with signed requests: the language chosen at the
menu reaches the dialogue with every message, so the conversation (and its case) is in that
language, and the whole call is said in that language's voice and heard by its recogniser, to
the Device ID confirmed and the case queued. A switch in the middle of a call moves both."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from bot.cases.store import CaseStore
from bot.db import Database
from bot.phone.content import PhoneContent, load_phone_languages
from tests.security.test_phone_webhook import (
    PUBLIC,
    VOICE,
    Product,
    Twilio,
    running_phone_product,
    spoken,
)

LANGUAGES = load_phone_languages()
EN, ES, FR = LANGUAGES["en"], LANGUAGES["es"], LANGUAGES["fr"]


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    with running_phone_product(tmp_path_factory.mktemp("phone-languages")) as product:
        yield product


def tracker(product: Product, conversation: str) -> dict[str, Any]:
    url = (
        f"{product.settings.rasa_url}/conversations/{quote(conversation, safe='')}/tracker"
        f"?token={product.settings.rasa_api_token}"
    )
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def user_events(product: Product, conversation: str) -> list[dict[str, Any]]:
    return [e for e in tracker(product, conversation)["events"] if e["event"] == "user"]


def in_language(twiml: ET.Element, content: PhoneContent) -> str:
    """What ``twiml`` says, having checked it is all in ``content``'s voice and recogniser."""
    says = list(twiml.iter("Say"))
    assert says, ET.tostring(twiml)
    for say in says:
        assert (say.get("voice"), say.get("language")) == (content.voice, content.language), (
            ET.tostring(say)
        )
    for listening in twiml.iter("Gather"):
        assert listening.get("language") == content.language
    return spoken(twiml)


def case_language(product: Product, twilio: Twilio) -> str:
    database = Database(f"sqlite:///{product.database}")
    try:
        case = CaseStore(database).latest_for_conversation(twilio.call_sid)
        assert case is not None
        return case.language
    finally:
        database.dispose()


def test_a_call_in_spanish_to_the_queue(product: Product) -> None:
    twilio = Twilio(product.settings.rasa_url)
    menu = twilio.twiml(PUBLIC + VOICE, CallStatus="ringing")
    assert ES.choice.option in spoken(menu)
    greeting = in_language(twilio.press("2"), ES)
    assert greeting.startswith(ES.welcome)
    assert "Device ID" in greeting  # the dialogue's Spanish question names the label's words
    read_back = in_language(
        twilio.say(
            "ene de Nicolás de cuatro ocho, diez veintisiete, treinta y nueve cuarenta y cinco, "
            "ka equis cu"
        ),
        ES,
    )
    assert ES.device_id.read_back.format(chunks="N D 4 8, 1 0 2 7, 3 9 4 5, K X Q") in read_back
    confirmed = in_language(twilio.say("sí"), ES)
    parsed = user_events(product, twilio.call_sid)[-1]["parse_data"]
    assert parsed["intent"]["name"] == "provide_device_id"
    assert "N 8 4 1" in confirmed or "N841" in confirmed, confirmed
    events = user_events(product, twilio.call_sid)
    assert {(event.get("metadata") or {}).get("language") for event in events} == {"es"}
    assert tracker(product, twilio.call_sid)["slots"]["language"] == "es"
    assert case_language(product, twilio) == "es"
    twilio.hang_up()


def test_a_call_in_french_chosen_by_voice(product: Product) -> None:
    twilio = Twilio(product.settings.rasa_url)
    twilio.twiml(PUBLIC + VOICE, CallStatus="ringing")
    greeting = in_language(twilio.say("français"), FR)
    assert greeting.startswith(FR.welcome)
    read_back = in_language(
        twilio.say(
            "N comme Nicolas, dé, quatre huit, un zéro deux sept, trois neuf quatre cinq, K X Q"
        ),
        FR,
    )
    assert FR.device_id.read_back.format(chunks="N D 4 8, 1 0 2 7, 3 9 4 5, K X Q") in read_back
    in_language(twilio.say("oui"), FR)
    assert tracker(product, twilio.call_sid)["slots"]["language"] == "fr"
    assert case_language(product, twilio) == "fr"
    twilio.hang_up()


def test_a_caller_switches_to_spanish_in_the_middle_of_a_call(product: Product) -> None:
    twilio = Twilio(product.settings.rasa_url)
    in_language(twilio.ring(), EN)  # English chosen at the menu
    assert tracker(product, twilio.call_sid)["slots"]["language"] == "en"
    switched = in_language(twilio.say("en español por favor"), ES)
    assert switched.startswith(ES.choice.switched)
    assert "Device ID" in switched  # the question asked again, by the dialogue, in Spanish
    assert tracker(product, twilio.call_sid)["slots"]["language"] == "es"
    twilio.hang_up()
