"""The console's transcript of a conversation, from the tracker Rasa's API returns: a button or
key press shown by what it means, never anything a password-shaped message had."""

from __future__ import annotations

from typing import Any

import pytest
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.nlu.training_data.message import Message

from bot.content import REPO_ROOT
from bot.handoff.rasa_bridge import transcript_lines
from bot.privacy.password_shape import MASK
from bot.privacy.tracker_store import mask_password_messages


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(REPO_ROOT / "domain")


def said(text: str, domain: Domain, channel: str = "socketio") -> UserUttered:
    """A user message as Rasa parses it: `/intent` text by its regex handler."""
    if text.startswith("/"):
        [parsed] = RegexMessageHandler().process([Message.build(text)], domain)
        data = parsed.as_dict()
        return UserUttered(text, data["intent"], data["entities"], data, input_channel=channel)
    return UserUttered(text, {"name": "greet", "confidence": 1.0}, input_channel=channel)


def api_tracker(events: list[Any], domain: Domain) -> dict[str, Any]:
    """The tracker as Rasa's HTTP API returns it (``GET /conversations/<id>/tracker``), after
    the masking tracker store has seen it."""
    tracker = DialogueStateTracker.from_events(
        "web-1", [ActionExecuted("action_session_start"), SessionStarted(), *events], domain.slots
    )
    mask_password_messages(tracker, sensitive_step=8)
    return tracker.current_state(EventVerbosity.ALL)


def lines(events: list[Any], domain: Domain) -> list[tuple[str, str]]:
    return [(line.speaker, line.text) for line in transcript_lines(api_tracker(events, domain))]


def test_button_presses_are_shown_by_meaning(domain: Domain) -> None:
    shown = lines(
        [
            said("/greet", domain),
            BotUttered("Hi, I'm the Lorex recorder assistant."),
            said('/provide_device_id{"device_id":"ND4810273945KXQ"}', domain),
            said("/step_done", domain),
            said("/go_back", domain),
            said("/request_human", domain),
            said("I typed this", domain),
        ],
        domain,
    )
    assert shown == [
        ("user", "(pressed: Hello)"),
        ("assistant", "Hi, I'm the Lorex recorder assistant."),
        ("user", "(Device ID from the photo: ND48 1027 3945 KXQ)"),
        ("user", "(pressed: Done)"),
        ("user", "(pressed: Back)"),
        ("user", "(pressed: Talk to a person)"),
        ("user", "I typed this"),
    ]


def test_a_device_id_keyed_in_on_the_phone_says_so(domain: Domain) -> None:
    shown = lines(
        [said('/provide_device_id{"device_id":"ND4810273945KXQ"}', domain, channel="phone")],
        domain,
    )
    assert shown == [("user", "(Device ID keyed in: ND48 1027 3945 KXQ)")]


@pytest.mark.parametrize(
    "text",
    ['/provide_device_id{"device_id":"hunter22"}', '/provide_device_id{"device_id":"Tr0ub4dor&3"}'],
)
def test_nothing_of_a_password_shaped_press_is_shown(text: str, domain: Domain) -> None:
    shown = lines([said(text, domain)], domain)
    assert shown == [("user", MASK)]
    assert "hunter22" not in str(shown) and "Tr0ub4dor" not in str(shown)


def test_an_unmasked_password_shaped_entity_is_never_shown(domain: Domain) -> None:
    """Even from a tracker stored before the masking knew button messages."""
    message = said('/provide_device_id{"device_id":"hunter22"}', domain)
    tracker = {"events": [message.as_dict()]}
    [line] = transcript_lines(tracker)
    assert "hunter22" not in line.text


def test_console_triggers_are_not_the_owner_speaking(domain: Domain) -> None:
    tracker = {
        "events": [
            {"event": "user", "text": "EXTERNAL: EXTERNAL_password_released", "timestamp": 1},
            {"event": "user", "text": "/EXTERNAL_handed_back", "timestamp": 2},
        ]
    }
    assert transcript_lines(tracker) == []
