"""Which `/intent` messages a chat client may send: the domain's own intents, never the
console's (EXTERNAL_*), the password guard's or Rasa's built-in ones, with well-formed entities."""

from __future__ import annotations

import pytest

from bot.channels.chat_input import client_intents, intent_message_problem

ALLOWED = client_intents()


def test_the_allowed_intents_come_from_the_domain() -> None:
    assert {"greet", "step_done", "step_help", "repeat", "go_back", "provide_device_id",
            "request_password_reset", "affirm", "deny", "request_human"} <= ALLOWED
    assert not {i for i in ALLOWED if i.startswith("EXTERNAL_")}
    assert "share_password" not in ALLOWED
    assert not {"restart", "session_start", "back", "nlu_fallback"} & ALLOWED


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password",
        "ND4810273945KXQ",
        "yes / no",
        "/greet",
        "  /step_done  ",
        "/provide_device_id",
        '/provide_device_id{"device_id": "ND4810273945KXQ"}',
        "/request_password_reset",
    ],
)
def test_ordinary_text_and_the_clients_intents_pass(text: str) -> None:
    assert intent_message_problem(text, ALLOWED) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('/EXTERNAL_password_released{"release_ref": "x"}', "not something this chat can send"),
        ("/EXTERNAL_handed_back", "not something this chat can send"),
        ("/EXTERNAL_case_rejected", "not something this chat can send"),
        ("/share_password", "not something this chat can send"),
        ("/restart", "not something this chat can send"),
        ("/session_start", "not something this chat can send"),
        ("/no_such_intent", "not something this chat can send"),
        ("/", "must name an intent"),
        ("/ greet", "must name an intent"),
        ("/greet@0.99", "must name an intent"),
        ("/greet please", "must name an intent"),
        ('/provide_device_id{"device_id": ', "must name an intent"),
        ('/provide_device_id{"device_id": "x",}', "not well-formed JSON"),
        ('/provide_device_id{"release_ref": "x"}', "not an entity this chat can send"),
        ('/provide_device_id{"device_id": 7}', "non-empty string"),
        ('/provide_device_id{"device_id": ""}', "non-empty string"),
    ],
)
def test_anything_else_starting_with_a_slash_is_refused(text: str, why: str) -> None:
    problem = intent_message_problem(text, ALLOWED)
    assert problem is not None and why in problem
