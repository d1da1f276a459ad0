"""The phone channel in English, Spanish and French, over HTTP as Twilio calls it.

The same real Sanic server, signed requests and stand-in dialogue as tests/test_phone_channel.py
(the dialogue's own wording is not what is tested here: its replies come back in the language
the channel hands it in each message's metadata). What is tested is the channel's part: the
language menu before the welcome (each line in its own voice), the choice by key or by a word in
any of the three languages, the silent or unclear answer (asked once, then English), a switch
later in the call, and the whole channel wording, voice and recogniser in the call's language:
<Say language=... voice=...>, <Gather language=...>, the Device ID heard and read back.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from bot.channels.client import LANGUAGE_KEY
from bot.db import UTC, Database
from bot.devices.registry import DeviceRegistry
from bot.phone.content import PhoneContent, load_phone_languages
from tests.conftest import WriteCsv
from tests.test_phone_channel import (
    PUBLIC,
    TOKEN,
    Phone,
    gather,
    provided,
    serving,
    spoken,
)

LANGUAGES = load_phone_languages()
EN, ES, FR = LANGUAGES["en"], LANGUAGES["es"], LANGUAGES["fr"]
VOICE = "/webhooks/phone/voice"


@pytest.fixture
def phone(
    database: Database, write_devices_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Phone]:
    """The channel as it runs: every language offered."""
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    with serving(database, contents=LANGUAGES) as served:
        yield served


def ring(phone: Phone) -> ET.Element:
    return phone.twiml(VOICE, CallStatus="ringing")


def says(twiml: ET.Element) -> list[ET.Element]:
    return list(twiml.iter("Say"))


def in_language(twiml: ET.Element, content: PhoneContent) -> None:
    """Everything ``twiml`` says is in ``content``'s voice, and it listens in its language."""
    assert says(twiml), ET.tostring(twiml)
    for say in says(twiml):
        assert (say.get("voice"), say.get("language")) == (content.voice, content.language), (
            ET.tostring(say)
        )
    listening = twiml.find("Gather")
    if listening is not None:
        assert listening.get("language") == content.language


def languages_sent(phone: Phone) -> list[str]:
    """The language each message to the dialogue carried in its metadata."""
    return [(message.metadata or {}).get(LANGUAGE_KEY) for message in phone.dialogue.received]


# --- the content (every string in every language: tests/test_localisation.py) --------------------


def test_each_language_has_its_own_voice_recogniser_and_key() -> None:
    assert {content.language for content in LANGUAGES.values()} == {"en-US", "es-US", "fr-CA"}
    assert len({content.voice for content in LANGUAGES.values()}) == 3
    assert [LANGUAGES[code].choice.key for code in ("en", "es", "fr")] == ["1", "2", "3"]


# --- the menu ------------------------------------------------------------------------------------


def test_a_call_starts_with_the_language_menu_each_line_in_its_own_voice(phone: Phone) -> None:
    twiml = ring(phone)
    menu = gather(twiml)
    assert menu.get("input") == "dtmf speech"
    lines = says(twiml)
    assert [say.text for say in lines] == [EN.choice.option, ES.choice.option, FR.choice.option]
    assert [(say.get("voice"), say.get("language")) for say in lines] == [
        (content.voice, content.language) for content in (EN, ES, FR)
    ]
    hints = menu.get("hints") or ""
    assert "español" in hints and "français" in hints and "english" in hints
    assert phone.dialogue.received == []  # nothing reaches the dialogue before the choice


def test_a_call_held_in_spanish_to_the_device_id_read_back(phone: Phone) -> None:
    ring(phone)
    welcome = phone.press("2")
    in_language(welcome, ES)
    assert spoken(welcome).startswith(ES.welcome)
    assert gather(welcome).get("hints") == ES.hint("device_id")
    assert phone.dialogue.received[0].text == "/request_password_reset"
    read_back = phone.say(
        "ene de Nicolás de cuatro ocho, diez veintisiete, treinta y nueve cuarenta y cinco, "
        "ka equis cu"
    )
    in_language(read_back, ES)
    assert ES.device_id.read_back.format(chunks="N D 4 8, 1 0 2 7, 3 9 4 5, K X Q") in spoken(
        read_back
    )
    assert len(phone.dialogue.received) == 1  # nothing passed on before the caller confirms
    phone.say("sí")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")
    assert languages_sent(phone) == ["es", "es"]


def test_a_call_held_in_french_to_the_device_id_read_back(phone: Phone) -> None:
    ring(phone)
    welcome = phone.say("français")
    in_language(welcome, FR)
    assert spoken(welcome).startswith(FR.welcome)
    read_back = phone.say(
        "èn comme Nicolas dé quarante-huit dix vingt-sept trente-neuf quarante-cinq ka ixe cu"
    )
    in_language(read_back, FR)
    assert FR.device_id.read_back.format(chunks="N D 4 8, 1 0 2 7, 3 9 4 5, K X Q") in spoken(
        read_back
    )
    phone.say("non")
    retry = phone.silence()
    in_language(retry, FR)
    read_back = phone.say("N D quatre huit un zéro deux sept trois neuf quatre cinq K X Q")
    assert "N D 4 8" in spoken(read_back)
    phone.press("1")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")
    assert set(languages_sent(phone)) == {"fr"}


def test_the_keys_work_in_every_language(phone: Phone) -> None:
    ring(phone)
    phone.press("3")
    twiml = phone.press("634810273945597")  # N=6 D=3 ... K=5 X=9 Q=7
    in_language(twiml, FR)
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(twiml)


@pytest.mark.parametrize(
    ("said", "language"),
    [
        ("español", "es"),
        ("Espanol", "es"),
        ("spanish please", "es"),
        ("en español por favor", "es"),
        ("français", "fr"),
        ("francais", "fr"),
        ("French", "fr"),
        ("le français s'il vous plaît", "fr"),
        ("english", "en"),
        ("inglés", "en"),
        ("anglais", "en"),
        ("dos", "es"),
        ("trois", "fr"),
    ],
)
def test_the_language_can_be_said_in_any_of_the_three(
    phone: Phone, said: str, language: str
) -> None:
    ring(phone)
    welcome = phone.say(said)
    in_language(welcome, LANGUAGES[language])
    assert spoken(welcome).startswith(LANGUAGES[language].welcome)
    assert languages_sent(phone) == [language]


@pytest.mark.parametrize("unclear", ["", "banana", "9"])
def test_silence_or_an_unclear_answer_is_asked_once_then_english(
    phone: Phone, unclear: str
) -> None:
    first = ring(phone)

    def answer() -> ET.Element:
        if unclear.isdigit():
            return phone.press(unclear)
        return phone.say(unclear) if unclear else phone.silence()

    again = answer()
    assert [say.text for say in says(again)] == [say.text for say in says(first)]
    assert phone.dialogue.received == []
    english = answer()
    assert spoken(english).startswith(EN.welcome)
    in_language(english, EN)
    assert languages_sent(phone) == ["en"]


def test_the_chosen_language_is_kept_with_the_call(phone: Phone) -> None:
    ring(phone)
    call = phone.channel.calls.get(phone.call_sid)
    assert call is not None and call.language is None  # not chosen yet
    phone.press("2")
    call = phone.channel.calls.get(phone.call_sid)
    assert call is not None and call.language == "es"


# --- switching later in the call -----------------------------------------------------------------


def test_the_caller_switches_language_mid_call(phone: Phone) -> None:
    ring(phone)
    phone.press("1")
    switched = phone.say("en español por favor")
    in_language(switched, ES)
    assert spoken(switched).startswith(ES.choice.switched)
    assert languages_sent(phone)[-1] == "es"  # the dialogue answers in Spanish from now on
    in_language(phone.say("no entiendo"), ES)  # and keeps speaking it
    back = phone.say("in English please")
    in_language(back, EN)
    assert languages_sent(phone)[-1] == "en"


def test_a_switch_during_the_read_back_reads_it_back_in_the_new_language(phone: Phone) -> None:
    ring(phone)
    phone.press("1")
    phone.say("N as in Nancy D four eight, ten twenty seven, 3945 K X Q")
    twiml = phone.say("en français s'il vous plaît")
    in_language(twiml, FR)
    assert FR.device_id.read_back.format(chunks="N D 4 8, 1 0 2 7, 3 9 4 5, K X Q") in spoken(
        twiml
    )
    phone.say("oui")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")
    assert languages_sent(phone)[-1] == "fr"


def test_a_name_that_is_a_language_does_not_switch(phone: Phone) -> None:
    """Only a request to switch switches: "French" in a sentence is the caller's words."""
    phone.dialogue.first_expects = "nothing"
    ring(phone)
    phone.press("1")
    phone.say("my details")  # asks for the email: a sentence goes to the dialogue as said
    twiml = phone.say("my name is Dana French and I speak english")
    in_language(twiml, EN)
    assert phone.dialogue.received[-1].text == "my name is Dana French and I speak english"
    assert languages_sent(phone)[-1] == "en"


# --- the channel's own listening, in the call's language ------------------------------------------


def test_start_again_is_heard_in_the_call_s_language(phone: Phone) -> None:
    ring(phone)
    phone.press("2")
    assert "N D 4 8" in spoken(phone.say("ene de cuatro ocho"))
    twiml = phone.say("empezar de nuevo")
    assert spoken(twiml) == ES.device_id.start_again
    in_language(twiml, ES)


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("2", "zion punto juniperfield arroba example punto com"),
        ("3", "zion point juniperfield arobase example point com"),
    ],
)
def test_an_email_address_said_in_the_call_s_language_reaches_the_dialogue_written(
    phone: Phone, key: str, said: str
) -> None:
    phone.dialogue.first_expects = "nothing"
    ring(phone)
    phone.press(key)
    phone.say("my details")  # the stand-in asks for the email
    phone.say(said)
    assert phone.dialogue.received[-1].text == "zion.juniperfield@example.com"


def test_the_dialogue_s_chat_wording_is_made_speakable_in_the_call_s_language(
    phone: Phone,
) -> None:
    ring(phone)
    phone.press("3")
    text = spoken(phone.say("help"))  # the stand-in answers with a menu path
    assert f"Settings, {FR.ear.then} Device Info" in text


def test_on_hold_the_caller_hears_when_support_opens_in_the_call_s_language(phone: Phone) -> None:
    ring(phone)
    phone.press("2")
    phone.say("ene de cuatro ocho uno cero dos siete tres nueve cuatro cinco ka equis cu")
    held = phone.say("sí")
    assert held.find("Enqueue") is not None
    in_language(held, ES)

    async def no_dialogue(sid: str, text: str, language: str) -> list[dict[str, Any]]:
        raise AssertionError("the wait URL never reaches the dialogue")

    sunday_noon = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)  # 12:00 in Toronto; closed Sundays
    flow = replace(phone.channel._flow(no_dialogue), now=lambda: sunday_noon)
    call = phone.channel.calls.get(phone.call_sid)
    twiml = ET.fromstring(str(asyncio.run(flow.wait({"CallSid": phone.call_sid}, call)).to_xml()))
    in_language(twiml, ES)
    assert spoken(twiml).startswith("El soporte está cerrado en este momento. Abre el lunes a las")


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("2", "tengo el caso ele equis cuatro ka siete cu nueve eme"),
        ("3", "j'ai le dossier èl ixe quatre ka sept cu neuf èm"),
    ],
)
def test_a_case_code_spelt_in_the_call_s_language_reaches_the_dialogue_written(
    phone: Phone, key: str, said: str
) -> None:
    ring(phone)
    phone.press(key)
    phone.say(said)
    assert phone.dialogue.received[-1].text == "LX-4K7Q9M"


@pytest.mark.parametrize(
    ("key", "said"),
    [
        ("2", "cuatro uno seis, cinco cincuenta y cinco, cero uno cero uno"),
        ("3", "quatre un six, cinq cinq cinq, zéro cent un"),
    ],
)
def test_a_phone_number_said_in_the_call_s_language_reaches_the_dialogue_written(
    phone: Phone, key: str, said: str
) -> None:
    phone.dialogue.first_expects = "nothing"
    ring(phone)
    phone.press(key)
    phone.say("my details")
    phone.say("zion.juniperfield@example.com")  # the stand-in asks for the phone number next
    phone.say(said)
    assert phone.dialogue.received[-1].text == "416 555 0101"


def test_a_failure_behind_the_channel_is_apologised_for_in_the_call_s_language(
    phone: Phone,
) -> None:
    ring(phone)
    phone.press("3")
    phone.dialogue.broken = True
    twiml = phone.say("j'ai oublié mon mot de passe")
    in_language(twiml, FR)
    assert spoken(twiml).startswith(FR.technical_problem.split("{phone}")[0])
    assert twiml.find("Hangup") is not None
