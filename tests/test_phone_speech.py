"""Wording for the ear: chat formatting removed, codes spelt, passwords read one character at a
time, Device IDs read back in the label's chunks; and phone.yml's wording checked for the ear."""

from __future__ import annotations

import pytest

from bot.devices.formats import load_formats
from bot.guide.wording import voice_problems
from bot.phone.content import load_phone_content
from bot.phone.speech import (
    for_the_ear,
    read_back,
    spell_password,
    written_email,
    written_number,
)

CONTENT = load_phone_content()


@pytest.mark.parametrize(
    ("chat", "ear"),
    [
        ("I need its **Device ID**. What is it?", "I need its Device ID. What is it?"),
        (
            "Three places:\n1. On the label.\n2. In the app: **Settings > Device Info**.",
            "Three places: On the label. In the app: Settings, then Device Info.",
        ),
        ("Go to https://www.lorex.com/support now", "Go to the Lorex website now."),
        ("Click **OK** at the bottom.", "select OK at the bottom."),
        ("Right-click and choose Info", "press the right mouse button and choose Info."),
        ("Thanks, ND48 1027 3945 KXQ is a registered N841.",
         "Thanks, N D 4 8 1 0 2 7 3 9 4 5 KXQ is a registered N 8 4 1."),
        ("I've opened support case **LX-JCRD9K**.", "I've opened support case L X J C R D 9 K."),
        ("Step 3 of 10: Log in", "Step 3 of 10: Log in."),
        ('Its name? (You can say "skip".)', "Its name? You can say skip."),
    ],
)
def test_for_the_ear(chat: str, ear: str) -> None:
    assert for_the_ear(chat) == ear
    assert voice_problems(for_the_ear(chat)) == []


def test_read_back_in_the_labels_chunks() -> None:
    formats = load_formats()
    assert read_back("ND4810273945KXQ", formats, CONTENT) == "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q"
    assert read_back("LRX104592837", formats, CONTENT) == "L R X, 1 0 4, 5 9 2, 8 3 7"


def test_passwords_are_spelt_one_character_at_a_time() -> None:
    assert spell_password("Ka7-", CONTENT) == [
        "capital K, as in kilo",
        "small A, as in alfa",
        "the number 7",
        "the symbol dash",
    ]


def test_every_letter_has_a_spelling_word() -> None:
    assert set(CONTENT.spelling_words) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_the_phone_wording_is_written_for_the_ear() -> None:
    wording = [
        CONTENT.welcome, CONTENT.goodbye, CONTENT.step_waiting, *CONTENT.reprompts,
        CONTENT.keypad.help, CONTENT.queue.placed, CONTENT.password.offer_repeat,
    ]
    for text in wording:
        assert voice_problems(text.replace("{", "").replace("}", "").replace("_", " ")) == []


@pytest.mark.parametrize(
    ("speech", "written"),
    [
        ("zion dot juniperfield at example dot com", "zion.juniperfield@example.com"),
        ("it's dana underscore w at example dot org", "it's dana_w@example.org"),
        ("Zion.Juniperfield@example.com", "Zion.Juniperfield@example.com"),
        ("skip", "skip"),
    ],
)
def test_spoken_email_addresses_are_written(speech: str, written: str) -> None:
    assert written_email(speech) == written


def test_phone_numbers_are_grouped() -> None:
    assert written_number("2025550110") == "202 555 0110"
    assert written_number("12025550110") == "+1 202 555 0110"
    assert written_number("5550110") == "5550110"
