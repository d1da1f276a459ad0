"""The PasswordGuard NLU component, on messages as DIET leaves them (no model needed)."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.password_guard import SHARE_PASSWORD_INTENT, PasswordGuard


def classified(text: str, intent: str, runner_up: str = "out_of_scope") -> Message:
    """``text`` as the statistical classifier left it: ``intent`` first, ``runner_up`` second."""
    ranking = [{"name": intent, "confidence": 0.7}, {"name": runner_up, "confidence": 0.2}]
    return Message(data={TEXT: text, INTENT: ranking[0], INTENT_RANKING_KEY: ranking})


def guarded(message: Message) -> str:
    (result,) = PasswordGuard({}).process([message])
    name: str = result.get(INTENT)["name"]
    return name


@pytest.mark.parametrize("text", ["Tr0ub4dor&3", "my password is Fluffy#2019", "pwd: tiGer4life"])
def test_a_password_shaped_message_becomes_share_password(text: str) -> None:
    assert guarded(classified(text, "greet")) == SHARE_PASSWORD_INTENT


@pytest.mark.parametrize(
    "text", ["Oakley Maplecroft", "Sage Kestrelton", "dana@example.com", "Marlow"]
)
def test_share_password_without_a_password_goes_to_the_runner_up(text: str) -> None:
    # The owner's name, asked for to verify ownership, must not be hidden and refused.
    message = classified(text, SHARE_PASSWORD_INTENT, runner_up="out_of_scope")
    assert guarded(message) == "out_of_scope"
    assert [r["name"] for r in message.get(INTENT_RANKING_KEY)] == ["out_of_scope"]


@pytest.mark.parametrize(
    "text", ["can I tell you my password", "I'll use the same one as before", "my old pw"]
)
def test_share_password_stays_where_the_message_speaks_of_a_password(text: str) -> None:
    assert guarded(classified(text, SHARE_PASSWORD_INTENT)) == SHARE_PASSWORD_INTENT


def test_other_intents_are_left_alone() -> None:
    assert guarded(classified("Oakley Maplecroft", "out_of_scope", "greet")) == "out_of_scope"
