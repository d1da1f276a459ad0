"""Asking (again) for what the current state expects: the whole question the first time, a short
re-ask after a digression, so the owner is not read the same paragraph twice."""

from __future__ import annotations

from bot.dialogue.reply import Reply
from bot.dialogue.state import Conversation, State
from bot.dialogue.turn import Turn

QUESTIONS = {
    State.DEVICE_ID: "utter_ask_device_id",
    State.OWNER_NAME: "utter_ask_owner_name",
    State.OWNER_EMAIL: "utter_ask_owner_email",
    State.OWNER_PHONE: "utter_ask_owner_phone",
    State.OFFER_AGENT: "utter_reask_offer_agent",
    State.CASE_PROOF: "utter_ask_case_proof",
    State.FINISHED: "utter_anything_else",
}
SHORT = {
    State.DEVICE_ID: "utter_reask_device_id",
    State.OWNER_NAME: "utter_reask_owner_name",
    State.OWNER_EMAIL: "utter_reask_owner_email",
    State.OWNER_PHONE: "utter_reask_owner_phone",
    State.OFFER_AGENT: "utter_reask_offer_agent",
    State.CASE_PROOF: "utter_reask_case_proof",
}


def ask(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """The state's whole question (nothing for states that ask nothing)."""
    if conversation.state is State.STEPS:
        short_step(turn, conversation, reply)
    elif conversation.state in QUESTIONS:
        reply.say(QUESTIONS[conversation.state])


def reask(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """Back to what the state was waiting for, in a few words."""
    if conversation.state is State.STEPS:
        short_step(turn, conversation, reply)
    elif conversation.state in SHORT:
        reply.say(SHORT[conversation.state])


def short_step(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    procedure = turn.services.procedure
    number = conversation.reset_step or 1
    reply.say(
        "utter_reask_step",
        step=number,
        total=procedure.total,
        title=procedure.step(number).title,
    )
