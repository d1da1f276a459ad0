"""Questions answered in any state (digressions): from the FAQ, from the guide's content, and from
the state itself (case code, any update, the wait, support hours)."""

from __future__ import annotations

from bot.dialogue import gathering, prompts, support
from bot.dialogue.reply import Reply
from bot.dialogue.state import Conversation, OfferReason, State
from bot.dialogue.turn import Turn
from bot.dialogue.understanding import Heard

# Answers that live with the guide's content (data/content/reset_steps.yml messages).
GUIDE_ANSWERS = {"missing_equipment": "missing_equipment", "ask_password_rules": "password_rules"}
# Long answers said in full once; asked again, the short form.
ONCE = {"missing_equipment": "utter_missing_equipment_again"}
DEVICE_ANSWERS = {
    "ask_serial_vs_device_id": "utter_serial_vs_device_id",
    "ask_why_no_self_reset": "utter_why_no_self_reset",
}
STATUS = {
    State.GREETING: "utter_status_no_case",
    State.CLOSED: "utter_status_no_case",
    State.DEVICE_ID: "utter_status_gathering",
    State.OWNER_NAME: "utter_status_gathering",
    State.OWNER_EMAIL: "utter_status_gathering",
    State.OWNER_PHONE: "utter_status_gathering",
    State.FINISHED: "utter_status_finished",
    State.REJECTED: "utter_status_rejected",
    State.OTHER_ROUTE: "utter_status_other_route",
}
BEFORE_SUPPORT = frozenset(
    {State.GREETING, State.CLOSED, State.DEVICE_ID, State.OWNER_NAME, State.OWNER_EMAIL,
     State.OWNER_PHONE}
)  # fmt: skip


def answer(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """Answer a question and return to where the owner was; False when it is not a question."""
    intent = heard.intent or ""
    procedure = turn.services.procedure
    if intent == "temp_password_rejected":
        reply.text(procedure.message("temp_password_rejected", turn.wording))
        support.offer_agent(conversation, reply, OfferReason.PASSWORD_REFUSED)
        return True
    if intent in ONCE and intent in conversation.said:
        reply.say(ONCE[intent])
    elif intent in GUIDE_ANSWERS:
        reply.text(procedure.message(GUIDE_ANSWERS[intent], turn.wording))
        conversation.said.append(intent)
    elif intent == "ask_device_id_location":
        gathering.where_to_find(reply)
    elif intent in DEVICE_ANSWERS:
        reply.say(DEVICE_ANSWERS[intent])
    elif intent == "ask_status":  # "any update?", "how long is the wait?", "where am I?"
        if status(turn, conversation, reply):
            return True  # the status already says what comes next
    elif intent in turn.services.faq.intents:
        reply.text(turn.services.faq.answer(intent, turn.wording) or "")
    elif intent == "ask_case_code":
        case_code(conversation, reply)
    elif intent == "ask_hours":
        hours(turn, reply)
    else:
        return False
    prompts.reask(turn, conversation, reply)
    return True


def case_code(conversation: Conversation, reply: Reply) -> None:
    """The case's code; with none yet, an owner back about an earlier case is asked for it."""
    if conversation.case_id:
        reply.say("utter_case_code", case_id=conversation.case_id)
    else:
        reply.say("utter_no_case_code")


def hours(turn: Turn, reply: Reply) -> None:
    centre = turn.services.centre
    now = turn.services.now()
    reply.say("utter_support_hours", hours=centre.hours_words(), zone=centre.zone_name)
    if centre.is_open(now):
        reply.say("utter_support_open_now")
    else:
        reply.say(
            "utter_support_closed_now",
            opening=centre.opening_words(centre.next_opening(now)),
        )


def status(turn: Turn, conversation: Conversation, reply: Reply) -> bool:
    """ "Any update?", "how long is the wait?", "how long does this take?", "where am I?": one
    question, answered from the state and the case. True when the answer already says what
    happens next (no re-ask needed)."""
    state = conversation.state
    if state is State.QUEUED:
        case = turn.services.cases.current(turn.conversation_id)
        if case is not None:
            reply.say("utter_status_queued", case_id=case.code)
            support.tell_wait(turn, conversation, reply, turn.services.cases.position(case))
            return True
    if state is State.STEPS:
        number = conversation.reset_step or 1
        reply.say(
            "utter_where_am_i",
            step=number,
            total=turn.services.procedure.total,
            title=turn.services.procedure.step(number).title,
        )
        password_validity(turn, conversation, reply)
        return True
    if state is State.OFFER_AGENT:  # "how long would I wait?"
        waiting = turn.services.cases.waiting()
        support.tell_wait(turn, conversation, reply, waiting + 1, if_queued=True)
        return False
    if state in BEFORE_SUPPORT:
        # Nothing is with support yet: how the whole process goes, and how long it takes.
        reply.text(turn.services.faq.answer("ask_status", turn.wording) or "")
    if state in STATUS:
        reply.say(STATUS[state], case_id=conversation.case_id or "")
    return False


def password_validity(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """Whether the temporary password released here still works (it expires at the end of its
    day)."""
    if conversation.release_ref is None:
        return
    expires_at = turn.services.release_expiry(conversation.release_ref)
    if expires_at is None:
        return
    if expires_at <= turn.services.now():
        reply.say("utter_password_expired")
    else:
        until = turn.services.centre.until_words(expires_at)
        reply.say("utter_password_valid_until", valid_until=until)
