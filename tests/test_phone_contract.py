"""The phone channel's pure parts of the channel contract: reading the turn payload, the intents
keys and confirmed answers send, one sentence said once per answer, and the support centre's
words for the ear (time zone, what a rejected caller can do next)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.handoff.support_centre import load_support_centre
from bot.phone.content import PHONE_FILE, load_phone_content
from bot.phone.contract import Turn, intent_message, turn_of
from bot.phone.speech import for_the_ear, says_only, without_repeats

REPO = Path(__file__).resolve().parent.parent
CONTENT = load_phone_content()


def turn_message(**data: Any) -> dict[str, Any]:
    return {"recipient_id": "CA1", "custom": {"data": {"type": "turn", **data}}}


def test_the_turn_payload_says_what_is_expected() -> None:
    messages = [
        {"recipient_id": "CA1", "text": "What is the Device ID?"},
        turn_message(state="device_id", expects="device_id", step=None, total=None,
                     sensitive_input=False, case="LX-ABC123"),
    ]
    found = turn_of(messages)
    assert found == Turn("device_id", "device_id", case="LX-ABC123")
    assert found.prompt_kind == "device_id" and found.understood


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"state": "steps", "expects": "step", "step": 3}, "steps"),
        ({"state": "steps", "expects": "step", "step": 8, "sensitive_input": True},
         "private_step"),
        ({"state": "offer_agent", "expects": "yes_no"}, "yes_no"),
        ({"state": "owner_email", "expects": "owner_email"}, "owner_email"),
        ({"state": "queued", "expects": "nothing"}, "default"),
        ({"state": "finished", "expects": "nothing"}, "finished"),
        ({"state": "rejected", "expects": "nothing"}, "finished"),
        ({"state": "closed", "expects": "nothing"}, "finished"),
    ],
)
def test_prompt_kinds_come_from_the_payload(data: dict[str, Any], kind: str) -> None:
    found = turn_of([turn_message(**data)])
    assert found is not None and found.prompt_kind == kind


def test_no_payload_or_a_malformed_one_is_no_turn() -> None:
    assert turn_of([{"text": "Please say the Device ID."}]) is None
    assert turn_of([turn_message(state="x", expects="the moon")]) is None
    assert turn_of([{"custom": {"data": {"type": "reset_step", "step": 1}}}]) is None


def test_understood_false_is_read_and_the_last_payload_wins() -> None:
    messages = [
        turn_message(state="device_id", expects="device_id"),
        turn_message(state="owner_name", expects="owner_name", understood=False),
    ]
    found = turn_of(messages)
    assert found is not None and (found.expects, found.understood) == ("owner_name", False)


def test_intent_messages_are_rasa_s_slash_syntax() -> None:
    assert intent_message("request_human") == "/request_human"
    assert (
        intent_message("provide_device_id", {"device_id": "ND4810273945KXQ"})
        == '/provide_device_id{"device_id": "ND4810273945KXQ"}'
    )


def _domain_intents() -> set[str]:
    intents: set[str] = set()
    for path in sorted((REPO / "domain").glob("*.yml")):
        for entry in (yaml.safe_load(path.read_text()) or {}).get("intents", []):
            intents.add(entry if isinstance(entry, str) else next(iter(entry)))
    return intents


def test_every_intent_the_phone_sends_is_a_domain_intent_a_client_may_send() -> None:
    sent = {CONTENT.first_intent, CONTENT.agent_intent, CONTENT.after_waiting_intent}
    for keymap in CONTENT.keys.values():
        sent |= set(keymap.values())
    sent.add("provide_device_id")
    assert sent <= _domain_intents(), sent - _domain_intents()
    assert not any(i.startswith("EXTERNAL_") or i == "share_password" for i in sent)


def test_the_keypad_by_expectation() -> None:
    assert CONTENT.keys["yes_no"] == {"1": "affirm", "2": "deny"}
    assert CONTENT.keys["step"] == {
        "1": "step_done", "2": "repeat", "3": "go_back", "0": "step_help"
    }
    assert (CONTENT.agent_key, CONTENT.agent_intent) == ("*", "request_human")
    assert CONTENT.first_intent == "request_password_reset"


def test_phone_yml_reads_no_wording_of_the_assistant() -> None:
    text = PHONE_FILE.read_text()
    assert "_markers" not in text and "first_message" not in text
    assert "agent_message" not in text


def test_a_sentence_is_said_once_per_answer() -> None:
    sayings = [
        "I've opened support case L X 1 2 3. Please stay on the line.",
        "An agent is looking at your case now. Please stay on the line.",
        "I'm putting you through to the Lorex support team now.  please stay on the line!",
    ]
    assert without_repeats(sayings) == [
        "I've opened support case L X 1 2 3. Please stay on the line.",
        "An agent is looking at your case now.",
        "I'm putting you through to the Lorex support team now.",
    ]
    assert without_repeats(["Please stay on the line.", "Please stay on the line."]) == [
        "Please stay on the line."
    ]


def test_the_time_zone_is_said_as_a_person_would() -> None:
    centre = load_support_centre()
    assert centre.zone_name == "Eastern time"
    assert "/" not in centre.zone_name and "Toronto" not in centre.zone_name


def test_a_rejected_caller_hears_routes_for_the_ear_and_is_never_asked_for_photos() -> None:
    centre = load_support_centre()
    for reason in centre.rejection_reasons.values():
        told = reason.told(voice=True)
        alternatives = centre.alternatives_text(reason, voice=True)
        spoken = for_the_ear(f"{told} {alternatives}")
        assert ">" not in alternatives and "click" not in spoken.lower()
        assert "1 8 8 8 4 2 5 6 7 3 9" in spoken  # what the caller can do next: call support
        if "photo" in told:
            assert "can't be sent over the phone" in told
    photos = centre.rejection_reasons["photos_needed"]
    assert photos.told(voice=False) == photos.tell_user  # the chat keeps its wording
    assert "My Account > Warranty" in centre.alternatives_text(
        centre.rejection_reasons["owner_not_verified"]
    )


@pytest.mark.parametrize(
    ("speech", "holding"),
    [
        ("hold on", True),
        ("um, give me a minute please", True),
        ("hang on what was the temporary password again", False),
        ("wait a second, which step am I on", False),
    ],
)
def test_hold_on_is_a_request_to_wait_only_when_it_is_all_that_was_said(
    speech: str, holding: bool
) -> None:
    assert says_only(speech, CONTENT.hold_phrases) is holding
