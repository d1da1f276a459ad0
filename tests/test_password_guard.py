"""The PasswordGuard NLU component, on messages as the intent classifier leaves them (no model
needed)."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.password_guard import SHARE_PASSWORD_INTENT, PasswordGuard


def classified(
    text: str, intent: str, runner_up: str = "out_of_scope", runner_up_confidence: float = 0.2
) -> Message:
    """``text`` as the intent classifier and the FallbackClassifier left it: ``intent`` first
    (0.7), then ``runner_up``, then one more intent far behind."""
    ranking = [
        {"name": intent, "confidence": 0.7},
        {"name": runner_up, "confidence": runner_up_confidence},
        {"name": "goodbye", "confidence": 0.01},
    ]
    return Message(data={TEXT: text, INTENT: ranking[0], INTENT_RANKING_KEY: ranking})


def guarded(message: Message) -> str:
    # The thresholds config.yml gives it (the pipeline's FallbackClassifier's).
    guard = PasswordGuard({"fallback_threshold": 0.5, "fallback_ambiguity_threshold": 0.1})
    (result,) = guard.process([message])
    name: str = result.get(INTENT)["name"]
    return name


@pytest.mark.parametrize("text", ["Tr0ub4dor&3", "my password is Fluffy#2019", "pwd: tiGer4life"])
def test_a_password_shaped_message_becomes_share_password(text: str) -> None:
    assert guarded(classified(text, "greet")) == SHARE_PASSWORD_INTENT


@pytest.mark.parametrize(
    "text", ["Oakley Maplecroft", "Sage Kestrelton", "sage.kestrelton2@example.org", "Marlow"]
)
def test_share_password_without_a_password_is_taken_back(text: str) -> None:
    # The owner's name and email, asked for to verify ownership, must not be hidden and refused.
    confident = classified(text, SHARE_PASSWORD_INTENT, "out_of_scope", runner_up_confidence=0.8)
    assert guarded(confident) == "out_of_scope"
    assert SHARE_PASSWORD_INTENT not in [r["name"] for r in confident.get(INTENT_RANKING_KEY)]
    # The classifier's runner-up is often a 2% guess ("request_human" for an email address), which
    # would end the owner's details form: it faces the fallback test like any prediction.
    guess = classified(text, SHARE_PASSWORD_INTENT, "request_human", runner_up_confidence=0.02)
    assert guarded(guess) == "nlu_fallback"


@pytest.mark.parametrize(
    "text", ["can I tell you my password", "I'll use the same one as before", "my old pw"]
)
def test_share_password_stays_where_the_message_speaks_of_a_password(text: str) -> None:
    assert guarded(classified(text, SHARE_PASSWORD_INTENT)) == SHARE_PASSWORD_INTENT


def test_other_intents_are_left_alone() -> None:
    assert guarded(classified("Oakley Maplecroft", "out_of_scope", "greet")) == "out_of_scope"


@pytest.mark.parametrize("text", ["i tried Summer2023!", "I tried Summer2023! and it didn't work"])
def test_a_password_the_owner_tried_becomes_share_password(text: str) -> None:
    assert guarded(classified(text, "temp_password_rejected")) == SHARE_PASSWORD_INTENT


@pytest.mark.parametrize("text", ["I tried step 3", "I tried that, it didn't work"])
def test_saying_what_was_tried_is_not_a_password(text: str) -> None:
    assert guarded(classified(text, "step_help")) == "step_help"
    # Nor does "tried" alone keep a share_password the classifier guessed.
    taken_back = classified(text, SHARE_PASSWORD_INTENT, "step_help", runner_up_confidence=0.8)
    assert guarded(taken_back) == "step_help"
