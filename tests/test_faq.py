"""The FAQ answers (data/content/faq.yml through bot/faq.py): the real file, and the errors a
broken copy of it gives."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.content import ContentError
from bot.faq import FAQ_FILE, load_faq
from bot.guide.procedure import load_procedure

REPO = Path(__file__).resolve().parent.parent
QUESTION_INTENTS = {
    "ask_recordings",
    "ask_cost",
    "ask_status",
    "ask_legit",
    "missing_equipment",
    "temp_password_rejected",
    "ask_password_rules",
}
SUPPORT_NUMBER = "1-888-425-6739"


def domain_intents() -> set[str]:
    intents: set[str] = set()
    for path in (REPO / "domain").glob("*.yml"):
        intents.update(yaml.safe_load(path.read_text()).get("intents") or [])
    return intents


def test_the_real_file_answers_every_question_intent_on_both_channels() -> None:
    faq = load_faq()
    assert faq.intents == QUESTION_INTENTS
    assert faq.intents <= domain_intents()
    for intent in QUESTION_INTENTS:
        assert faq.answer(intent, "chat")
        assert faq.answer(intent, "voice")


def test_the_answers_say_what_the_reference_says() -> None:
    faq = load_faq()
    # A password reset on the recorder changes the admin password only.
    assert "recordings stay" in (faq.answer("ask_recordings", "chat") or "")
    # The procedure's own length, and the temporary password's end-of-day expiry.
    duration = faq.answer("ask_status", "chat") or ""
    assert f"{load_procedure().total} short steps" in duration
    assert "end of the day" in duration
    # Somewhere to check with Lorex directly, said as digits on the phone.
    assert SUPPORT_NUMBER in (faq.answer("ask_legit", "chat") or "")
    assert "1 888 425 6739" in (faq.answer("ask_legit", "voice") or "")


def test_the_guides_own_answers_are_not_written_twice() -> None:
    faq = load_faq()
    procedure = load_procedure()
    for intent, message in [
        ("missing_equipment", "missing_equipment"),
        ("temp_password_rejected", "temp_password_rejected"),
        ("ask_password_rules", "password_rules"),
    ]:
        for channel in ("chat", "voice"):
            assert faq.answer(intent, channel) == procedure.message(message, channel)


def test_voice_answers_are_fit_to_be_read_aloud() -> None:
    faq = load_faq()
    for intent in faq.intents:
        voice = faq.answer(intent, "voice") or ""
        assert "**" not in voice and "http" not in voice and "click" not in voice.lower()
        assert "{" not in voice and "{" not in (faq.answer(intent, "chat") or "")


def test_an_intent_without_an_entry_has_no_answer() -> None:
    assert load_faq().answer("ask_hours", "chat") is None


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        load_faq().answer("ask_cost", "sms")  # type: ignore[arg-type]


def test_the_default_file_is_loaded_once() -> None:
    assert load_faq() is load_faq()
    assert load_faq(FAQ_FILE) is load_faq(FAQ_FILE)


def broken(tmp_path: Path, questions: str) -> Path:
    path = tmp_path / "faq.yml"
    path.write_text("questions:\n" + questions)
    return path


@pytest.mark.parametrize(
    ("questions", "problem"),
    [
        ("  ask_cost:\n    chat: Free.\n", r"faq\.yml:3: question 'ask_cost' has no 'voice'"),
        (
            "  ask_cost:\n    chat: Free.\n    voice: See **www.lorex.com**\n",
            r"faq\.yml:3: question 'ask_cost': 'voice' is read aloud but has markup",
        ),
        (
            "  ask_cost:\n    chat: Free.\n    voice: Free.\n    sms: Free.\n",
            r"faq\.yml:3: question 'ask_cost' has unknown key\(s\) sms",
        ),
        (
            "  ask_cost:\n    guide_message: no_such_message\n",
            r"faq\.yml:3: question 'ask_cost': no guide message 'no_such_message'",
        ),
        (
            "  ask_cost:\n    guide_message: password_rules\n    chat: Free.\n",
            r"faq\.yml:3: question 'ask_cost': either 'guide_message' or 'chat' and 'voice'",
        ),
        (
            "  ask_cost:\n    chat: It takes {minutes} minutes.\n    voice: Soon.\n",
            r"faq\.yml:3: question 'ask_cost': 'chat' has unknown placeholder \{minutes\}",
        ),
        ("  ask_cost: Free.\n", r"faq\.yml:2: question 'ask_cost' must be a mapping"),
        ("  ask_cost:\n    chat: '  '\n    voice: Free.\n", r"'chat' is empty"),
    ],
)
def test_a_broken_file_is_refused_naming_the_file_and_entry(
    tmp_path: Path, questions: str, problem: str
) -> None:
    with pytest.raises(ContentError, match=problem):
        load_faq(broken(tmp_path, questions))


def test_a_file_without_questions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "faq.yml"
    path.write_text("answers: {}\n")
    with pytest.raises(ContentError, match=r"faq\.yml:1: .*'questions'"):
        load_faq(path)
