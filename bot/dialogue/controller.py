"""Every assistant turn: the repair patterns, defined once and tried in order in every state, then
what the state itself expects, then "cannot handle".

Each pattern is a function ``(turn, conversation, reply, heard) -> bool`` that either handles the
message (True) or leaves it to the next. The order is the design's (issue 14): what the console
or the system triggered is never an owner's answer; a password is never kept; a correction
replaces what it corrects; "a person" works everywhere and keeps the owner's place; a question is
answered and the owner is brought back with a short re-ask.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bot.dialogue import answers, gathering, prompts, steps, support
from bot.dialogue.reply import Reply
from bot.dialogue.state import GATHERING, OWNER_DETAILS, Conversation, OfferReason, State
from bot.dialogue.turn import Turn
from bot.dialogue.understanding import Heard
from bot.guide.navigation import GuideTurn, Navigation, navigate

Pattern = Callable[[Turn, Conversation, Reply, Heard], bool]

# Turns in a row the assistant cannot handle before it offers a person.
MAX_NOT_UNDERSTOOD = 3
# What a short answer at the owner's name may really be (then the NLU's word wins, if sure).
CHANGES_COURSE = (
    "cancel", "start_over", "goodbye", "request_human", "correction", "have_temporary_password",
    "request_password_reset", "thank", "bot_challenge",
)  # fmt: skip
# A request for a person beside another request counts from this confidence.
PERSON_TOO = 0.1
# Questions are safe to answer on a guess (they change nothing): after a fallback, the NLU's best
# guess is taken from this confidence when it is one of them.
QUESTION_GUESS = 0.35
QUESTIONS = frozenset(
    {
        "ask_status", "ask_case_code", "ask_hours", "ask_password_again",
        "ask_device_id_location", "ask_serial_vs_device_id", "ask_why_no_self_reset",
        "ask_password_rules", "missing_equipment", "ask_recordings", "ask_cost", "ask_legit",
    }
)  # fmt: skip
# States where a new reset request or a Device ID starts gathering afresh.
AT_REST = frozenset(
    {State.GREETING, State.CLOSED, State.FINISHED, State.REJECTED, State.OTHER_ROUTE}
)


def respond(turn: Turn, conversation: Conversation, heard: Heard) -> Reply:
    reply = Reply()
    if heard.is_system_event():
        system_event(turn, conversation, reply, heard)
        return reply
    if conversation.case_id:
        turn.services.cases.touch(turn.conversation_id)
        if turn.language_changed:
            turn.services.cases.set_language(turn.conversation_id, turn.language)
    if heard.case_code():
        # The Device ID extractor reads a case code's letters and digits as an attempt at an ID.
        heard = replace(heard, device_id=None)
    heard = _second_chance(heard)
    for pattern in PATTERNS:
        if pattern(turn, conversation, reply, heard):
            break
    if reply.understood:
        conversation.misunderstood = 0
    return reply


def system_event(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> None:
    """What the agent console did (Rasa's API, EXTERNAL_ intents): whatever the owner was being
    asked, this comes first and is never taken as their answer."""
    if heard.is_("EXTERNAL_password_released"):
        support.deliver_password(turn, conversation, reply, heard.entities.get("release_ref"))
    elif heard.is_("EXTERNAL_case_rejected"):
        support.reject(turn, conversation, reply, heard.entities.get("rejection_reason"))
    elif heard.is_("EXTERNAL_handed_back"):
        support.handed_back(turn, conversation, reply)


def password_shaped(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    if not heard.is_("share_password") or heard.device_id:
        return False
    reply.text(turn.services.procedure.message("password_warning", turn.wording))
    prompts.reask(turn, conversation, reply)
    return True


def language_request(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """ "en español por favor": said in the language asked for, then the question of the moment
    again, whole (the owner may not have understood it the first time)."""
    if not turn.language_asked:
        return False
    reply.say("utter_language_changed")
    if conversation.state is State.GREETING:
        reply.say("utter_greet")
    else:
        prompts.ask(turn, conversation, reply)
    return True


def correction(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """A new Device ID replaces the one before and is checked; "wait, wrong one" goes back to
    the answer before."""
    state = conversation.state
    if state in OWNER_DETAILS and gathering.corrected_answer(turn, conversation, reply, heard):
        return True
    if heard.device_id and state not in (State.DEVICE_ID, State.CASE_PROOF):
        if state is State.QUEUED and heard.device_id != conversation.device_id:
            gathering.correct_queued(turn, conversation, reply, heard.device_id)
            return True
        if state in (State.QUEUED, State.STEPS, State.TAKEN_OVER):
            if conversation.device_id is None:
                reply.say("utter_device_id_not_needed")
                prompts.reask(turn, conversation, reply)
                return True
            if heard.device_id != conversation.device_id:
                reply.say("utter_device_id_after_queue", grouped=_grouped(turn, conversation))
                prompts.reask(turn, conversation, reply)
                return True
            return False
        gathering.check(turn, conversation, reply, heard.device_id)
        return True
    if heard.is_("correction") and state in GATHERING:
        if gathering.plainly_answers(turn, conversation, heard):
            return False  # "zion@example.com" at the email question is the answer, not a fix
        if heard.device_id and state is State.DEVICE_ID:
            # "wait wrong one, it's ND48…": the ID given is the answer, checked as one.
            gathering.check(turn, conversation, reply, heard.device_id)
        else:
            gathering.correct(turn, conversation, reply)
        return True
    return False


def clear_answer(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """An answer to the question asked wins over a guess of the NLU's: a Device ID while it is
    asked, an email or phone number that parses, a name the NLU was not sure was anything else."""
    state = conversation.state
    if state is State.DEVICE_ID and heard.device_id:
        gathering.check(turn, conversation, reply, heard.device_id)
        return True
    if state in OWNER_DETAILS:
        # Text that reads as a name is one unless the NLU is sure it asks to change course
        # (a question cannot read as a name: its words are not a name's).
        changes_course = heard.confident and heard.is_(*CHANGES_COURSE)
        if state is not State.OWNER_NAME or not changes_course:
            return gathering.owner_detail(turn, conversation, reply, heard)
    if state is State.OFFER_AGENT and heard.yes_or_no():
        return support.answer_offer(
            turn, conversation, reply, replace(heard, intent=heard.yes_or_no())
        )
    if state is State.QUEUED and gathering.late_owner_detail(turn, conversation, reply, heard):
        return True
    if state is State.CASE_PROOF and gathering.looks_like_proof(turn, heard):
        support.prove_case(turn, conversation, reply, heard.device_id or heard.text)
        return True
    return False


def returning_owner(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    code = heard.case_code()
    if code and code != conversation.case_id and conversation.state is not State.CASE_PROOF:
        support.start_resume(turn, conversation, reply, code)
        return True
    return False


def cancel(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    state = conversation.state
    if heard.is_("start_over"):
        if state is State.STEPS:
            steps.start(turn, conversation, reply)
        else:
            gathering.start(turn, conversation, reply, heard)
        return True
    if not heard.is_("cancel"):
        return False
    if state in GATHERING or state in (State.OFFER_AGENT, State.CASE_PROOF):
        turn.services.cases.close_without_handoff(turn.conversation_id, "the owner cancelled")
        conversation.resume_code = None
        conversation.return_state = None
        conversation.move(State.CLOSED)
        reply.say("utter_cancelled")
    elif state is State.QUEUED:
        turn.services.cases.withdraw(turn.conversation_id, "the owner cancelled while waiting")
        conversation.return_state = None
        conversation.move(State.CLOSED)
        reply.say("utter_cancelled_queue", case_id=conversation.case_id)
    elif state is State.STEPS:
        conversation.return_state = State.STEPS
        conversation.move(State.CLOSED)
        reply.say("utter_steps_paused", step=conversation.reset_step)
    else:
        reply.say("utter_nothing_to_cancel")
    return True


def human_handoff(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    # "I forgot my password, can I talk to someone": the person wins over the other request,
    # asked for in words (the NLU's ranking of a second request is not reliable) or seen by the NLU.
    also_a_person = not heard.is_("bot_challenge", "ask_legit") and (
        heard.asks_for_a_person()
        or (
            heard.is_("request_password_reset")
            and heard.mentions_a_person()
            and heard.ranks("request_human", PERSON_TOO)
        )
    )
    if not (heard.is_("request_human") or also_a_person):
        return False
    if conversation.state is State.CLOSED and conversation.return_state is State.STEPS:
        conversation.move(State.STEPS)
    support.queue(turn, conversation, reply, _handoff_reason(conversation))
    return True


def new_goal(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """The owner changes what they want: a reset, or the steps with a password in hand."""
    state = conversation.state
    if heard.is_("have_temporary_password"):  # at a step too: a new one starts at step 1
        steps.start(turn, conversation, reply)
        return True
    if not heard.is_("request_password_reset", "provide_device_id"):
        return False
    if state in AT_REST or (state is State.OFFER_AGENT and conversation.return_state in AT_REST):
        gathering.start(turn, conversation, reply, heard)
        return True
    if state is State.STEPS and heard.is_("request_password_reset"):
        # After a release, "I need a (new) temporary password": the same case goes back to an
        # agent, keeping its place.
        support.queue(turn, conversation, reply, "the owner needs a new temporary password")
        return True
    if state is State.QUEUED:
        return answers.status(turn, conversation, reply) or True
    return False


def repeat(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    if heard.is_("ask_password_again"):
        support.password_again(turn, conversation, reply)
        return True
    if heard.is_("repeat") and conversation.state is not State.STEPS:
        if conversation.state in prompts.QUESTIONS:
            prompts.ask(turn, conversation, reply)
        else:
            answers.status(turn, conversation, reply)
        return True
    return False


def digression(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    if conversation.state is State.DEVICE_ID and heard.is_("ask_device_id_location"):
        gathering.where_to_find(reply)
        prompts.reask(turn, conversation, reply)
        return True
    return answers.answer(turn, conversation, reply, heard)


def clarification(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """ "What do you mean?", "I'm stuck" (one intent, step_help): what the question means. At a
    step the guide's tips answer it, and at the Device ID where to find it (the state's answer)."""
    if not heard.is_("step_help") or conversation.state in (State.STEPS, State.DEVICE_ID):
        return False
    explanation = CLARIFY.get(conversation.state)
    if explanation:
        reply.say(explanation)
    if conversation.state is State.OTHER_ROUTE:
        gathering.say_route(turn, conversation, reply)
        return True
    if conversation.state in prompts.QUESTIONS:
        prompts.reask(turn, conversation, reply)
    elif not explanation:
        reply.say("utter_what_i_do")
    return True


def chitchat(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    state = conversation.state
    if heard.is_("greet"):
        if state in AT_REST:
            reply.say("utter_greet")
        else:
            reply.say("utter_greet_again")
            prompts.reask(turn, conversation, reply)
        return True
    if heard.is_("thank"):
        reply.say("utter_you_are_welcome")
        if state is not State.STEPS:
            prompts.reask(turn, conversation, reply)
        return True
    if heard.is_("bot_challenge"):
        reply.say("utter_iamabot")
        prompts.reask(turn, conversation, reply)
        return True
    if heard.is_("goodbye"):
        reply.say(GOODBYES.get(state, "utter_goodbye"), case_id=conversation.case_id or "")
        return True
    return False


def expected_answer(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """What the state is waiting for."""
    state = conversation.state
    if state is State.DEVICE_ID:
        return gathering.device_id_answer(turn, conversation, reply, heard)
    if state in OWNER_DETAILS:
        return gathering.owner_detail(turn, conversation, reply, heard)
    if state is State.STEPS:
        return steps.answer(turn, conversation, reply, heard)
    if state is State.OFFER_AGENT:
        return support.answer_offer(turn, conversation, reply, heard)
    if state is State.CASE_PROOF and heard.is_("deny"):  # "never mind", "no"
        return cancel(turn, conversation, reply, replace(heard, intent="cancel"))
    if state is State.FINISHED and heard.is_("affirm"):
        conversation.move(State.GREETING)
        reply.say("utter_greet")
        return True
    if state is State.FINISHED and heard.is_("deny"):
        reply.say("utter_goodbye")
        return True
    paused_steps = state is State.CLOSED and conversation.return_state is State.STEPS
    if paused_steps and heard.is_("affirm", "step_done", "repeat"):  # "continue"
        conversation.move(State.STEPS)
        support.show_step(turn, conversation, reply, _repeat_step(turn, conversation))
        return True
    if state is State.GREETING and heard.is_("affirm"):
        gathering.start(turn, conversation, reply, heard)
        return True
    return False


def cannot_handle(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """Not understood here: a short, state-specific nudge; after a few in a row, a person."""
    reply.understood = False
    conversation.misunderstood += 1
    state = conversation.state
    if state in OWNER_DETAILS:
        gathering.unclear_detail(conversation, reply)
    elif heard.is_("out_of_scope") and state in AT_REST:
        reply.say("utter_out_of_scope")
    elif state is State.OTHER_ROUTE:
        reply.say("utter_not_understood_other_route")
        gathering.say_route(turn, conversation, reply)
    elif conversation.misunderstood > 1 and state in NOT_UNDERSTOOD_AGAIN:
        reply.say(NOT_UNDERSTOOD_AGAIN[state])
    else:
        reply.say(NOT_UNDERSTOOD.get(state, "utter_default"), case_id=conversation.case_id or "")
        if state is State.STEPS:
            prompts.short_step(turn, conversation, reply)
    if conversation.misunderstood >= MAX_NOT_UNDERSTOOD and state not in (
        State.QUEUED,
        State.OFFER_AGENT,
    ):
        support.offer_agent(conversation, reply, OfferReason.NOT_UNDERSTOOD)
    return True


PATTERNS: tuple[Pattern, ...] = (
    password_shaped,
    language_request,
    returning_owner,
    correction,
    clear_answer,
    cancel,
    human_handoff,
    new_goal,
    repeat,
    digression,
    clarification,
    chitchat,
    expected_answer,
    cannot_handle,
)

CLARIFY = {
    State.OWNER_NAME: "utter_explain_owner_details",
    State.OWNER_EMAIL: "utter_explain_owner_details",
    State.OWNER_PHONE: "utter_explain_owner_details",
    State.OFFER_AGENT: "utter_explain_offer_agent",
    State.CASE_PROOF: "utter_explain_case_proof",
    State.QUEUED: "utter_explain_queued",
    State.OTHER_ROUTE: "utter_explain_other_route",
}
NOT_UNDERSTOOD = {
    State.GREETING: "utter_default",
    State.CLOSED: "utter_default",
    State.DEVICE_ID: "utter_device_id_not_understood",
    State.OFFER_AGENT: "utter_reask_offer_agent",
    State.QUEUED: "utter_not_understood_queued",
    State.STEPS: "utter_not_understood_step",
    State.CASE_PROOF: "utter_case_proof_needed",
    State.FINISHED: "utter_not_understood_finished",
    State.REJECTED: "utter_not_understood_rejected",
    State.OTHER_ROUTE: "utter_not_understood_other_route",
}
# The second time in a row: shorter, so the owner is not read the same paragraph again.
NOT_UNDERSTOOD_AGAIN = {
    State.DEVICE_ID: "utter_device_id_still_not_understood",
    State.GREETING: "utter_default_again",
    State.CLOSED: "utter_default_again",
}
GOODBYES = {
    State.QUEUED: "utter_goodbye_queued",
    State.STEPS: "utter_goodbye_steps",
}


def _second_chance(heard: Heard) -> Heard:
    """A question the NLU was not quite sure of is answered rather than not understood."""
    guess = heard.best_guess() if heard.is_("nlu_fallback") else None
    if guess and guess[0] in QUESTIONS and guess[1] >= QUESTION_GUESS:
        return replace(heard, intent=guess[0], confidence=guess[1])
    return heard


def _handoff_reason(conversation: Conversation) -> str:
    if conversation.state is State.STEPS:
        return f"the owner asked for a person at reset step {conversation.reset_step}"
    if conversation.device_id:
        return f"Device ID {conversation.device_id} checked; the owner asked for a person"
    return "the owner asked for a person"


def _grouped(turn: Turn, conversation: Conversation) -> str:
    return turn.services.formats.group(conversation.device_id or "")


def _repeat_step(turn: Turn, conversation: Conversation) -> GuideTurn:
    return navigate(
        turn.services.procedure, conversation.reset_step, Navigation.REPEAT, conversation.tips_given
    )
