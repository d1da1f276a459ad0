"""The support team's side of the conversation: the queue, what the agent console does (release,
reject, hand back), the temporary password again, and resuming a case by its code."""

from __future__ import annotations

from bot.cases.status import CaseStatus
from bot.dialogue import prompts
from bot.dialogue.reply import Reply
from bot.dialogue.state import OWNER_DETAILS, Conversation, OfferReason, State
from bot.dialogue.turn import Turn
from bot.dialogue.understanding import Heard
from bot.guide.navigation import GuideTurn, Navigation, navigate
from bot.handoff.owner_details import given

# A case in one of these is waiting for, or with, an agent.
WITH_SUPPORT = frozenset({CaseStatus.QUEUED, CaseStatus.ASSIGNED})


def queue(turn: Turn, conversation: Conversation, reply: Reply, reason: str) -> None:
    """Put the owner in the support queue (the same case, keeping its place) and say where they
    stand. From the steps, the steps resume at the same step once the agent hands back."""
    cases = turn.services.cases
    before = cases.current(turn.conversation_id)
    queued = cases.queue_for_agent(
        turn.conversation_id,
        turn.channel,
        device_id=conversation.device_id,
        reason=reason,
        language=turn.language,
    )
    case = queued.case
    # The case was with support before (released, guiding, or rejected and now reopened): the
    # owner already has it, so it is not "opened" again. A collecting case never was.
    existing = case.code == conversation.case_id and (
        before is None or before.status is not CaseStatus.COLLECTING
    )
    if not queued.already_queued and conversation.state in OWNER_DETAILS:
        # What was just gathered (a case re-queued later keeps the statement it has).
        cases.record_owner_statement(
            case.code,
            name=given(conversation.owner_name),
            email=given(conversation.owner_email),
            phone=given(conversation.owner_phone),
        )
    from_steps = State.STEPS in (conversation.state, conversation.return_state)
    conversation.return_state = State.STEPS if from_steps else None
    if queued.already_queued:
        reply.say("utter_case_already_queued", case_id=case.code)
    elif from_steps:
        # Passed "back" only if it was with support before (not when the owner came with a
        # temporary password of their own).
        response = (
            "utter_case_back_to_support" if queued.returning else "utter_case_to_support_from_steps"
        )
        reply.say(response, case_id=case.code, step=conversation.reset_step)
    elif case.device_id and conversation.device_model:
        response = "utter_case_queued_existing" if existing else "utter_case_queued"
        reply.say(response, case_id=case.code, model=conversation.device_model)
    elif existing:
        reply.say("utter_case_queued_existing_without_device", case_id=case.code)
    else:
        reply.say("utter_case_queued_without_device", case_id=case.code)
    conversation.case_id = case.code
    conversation.move(State.QUEUED)
    tell_wait(turn, conversation, reply, queued.position)


def tell_wait(
    turn: Turn, conversation: Conversation, reply: Reply, position: int, *, if_queued: bool = False
) -> None:
    """Where the owner stands: the place in line and the wait, or when support opens
    (``if_queued``: where they would stand, if passed to a person now)."""
    centre = turn.services.centre
    now = turn.services.now()
    if if_queued:
        if centre.is_open(now):
            minutes = centre.expected_wait_minutes(position)
            reply.say("utter_wait_if_queued", minutes=minutes)
        else:
            reply.say(
                "utter_support_closed_now", opening=centre.opening_words(centre.next_opening(now))
            )
        return
    if not centre.is_open(now):
        reply.say(
            "utter_support_closed",
            case_id=conversation.case_id,
            opening=centre.opening_words(centre.next_opening(now)),
        )
    elif position == 0:
        reply.say("utter_agent_has_case")
    else:
        reply.say(
            "utter_queue_position",
            position=position,
            minutes=centre.expected_wait_minutes(position),
        )


def deliver_password(turn: Turn, conversation: Conversation, reply: Reply, ref: str | None) -> None:
    """The agent released a temporary password: give it (by reference; the channel puts the
    value in, once) and start the steps at the top, whatever the owner was doing."""
    expires_at = turn.services.release_expiry(ref) if ref else None
    if ref is None or expires_at is None:
        reply.say("utter_temporary_password_unavailable")
        return
    reply.say(
        "utter_temporary_password",
        payload={"type": "temporary_password", "temporary_password": {"reference": ref}},
        valid_until=turn.services.centre.until_words(expires_at),
    )
    conversation.release_ref = ref
    conversation.return_state = None
    show_step(turn, conversation, reply, navigate(turn.services.procedure, None, Navigation.START))


def password_again(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """The owner asks for the temporary password again: while it works, the channel shows or
    reads it again (the widget says when a reload took it away); after, a new one is offered."""
    ref = conversation.release_ref
    if ref is None:
        reply.say("utter_no_password_yet")
        prompts.reask(turn, conversation, reply)
        return
    expires_at = turn.services.release_expiry(ref)
    if expires_at is None or expires_at <= turn.services.now():
        reply.say("utter_password_expired")
        offer_agent(conversation, reply, OfferReason.PASSWORD_EXPIRED, "utter_offer_new_password")
        return
    reply.say(
        "utter_password_again",
        payload={
            "type": "temporary_password_again",
            "reference": ref,
            "valid_until": expires_at.isoformat(),
        },
        valid_until=turn.services.centre.until_words(expires_at),
    )
    prompts.reask(turn, conversation, reply)


def reject(turn: Turn, conversation: Conversation, reply: Reply, key: str | None) -> None:
    centre = turn.services.centre
    reason = centre.rejection_reasons.get(key or "")
    if reason is None:
        reply.say("utter_case_rejected_unknown_reason")
    else:
        voice = turn.wording == "voice"
        reply.text(reason.told(voice=voice))
        reply.text(centre.alternatives_text(reason, voice=voice))
    conversation.reset_step = None
    conversation.return_state = None
    conversation.move(State.REJECTED)


def handed_back(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """The agent ended a live chat: the steps resume where they were, or the assistant is there."""
    case = turn.services.cases.current(turn.conversation_id)
    released = case is not None and case.status in (CaseStatus.RELEASED, CaseStatus.GUIDING)
    if conversation.return_state is State.STEPS or released:
        reply.say("utter_handed_back_to_steps")
        step = conversation.reset_step
        move = Navigation.REPEAT if step else Navigation.START
        conversation.case_id = turn.services.cases.resume_guiding(
            turn.conversation_id, turn.channel, language=turn.language
        ).code
        conversation.return_state = None
        conversation.move(State.STEPS)
        show_step(turn, conversation, reply, navigate(turn.services.procedure, step, move))
        return
    reply.say("utter_handed_back")
    conversation.return_state = None
    conversation.move(State.QUEUED if case and case.status in WITH_SUPPORT else State.GREETING)


def offer_agent(
    conversation: Conversation,
    reply: Reply,
    reason: OfferReason,
    question: str | None = "utter_reask_offer_agent",
) -> None:
    """Ask whether to pass the owner to a person (``question``; None when the message just said
    has asked); "no" goes back to where they were."""
    if conversation.state is not State.OFFER_AGENT:
        conversation.return_state = conversation.state
    conversation.offer_reason = reason
    conversation.move(State.OFFER_AGENT)
    if question:
        reply.say(question)


def answer_offer(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """Yes or no to the offer of a person; False when the message is neither."""
    if heard.is_("affirm"):
        queue(turn, conversation, reply, _offer_reason_words(conversation))
        return True
    if not heard.is_("deny"):
        return False
    reason = conversation.offer_reason
    back = conversation.return_state or State.GREETING
    conversation.offer_reason = None
    conversation.return_state = None
    if reason is OfferReason.DEVICE_ID_FAILED:
        # "No, I'll keep looking": the attempts start again (the failed-check limiter still
        # bounds how many IDs a conversation may try).
        conversation.device_id_attempts = 0
        conversation.move(State.DEVICE_ID)
        reply.say("utter_keep_looking")
        return True
    if reason is OfferReason.DEVICE_ID_LIMITED:
        turn.services.cases.close_without_handoff(
            turn.conversation_id, "the owner could not give a Device ID and declined an agent"
        )
        conversation.move(State.CLOSED)
        reply.say("utter_case_closed")
        return True
    conversation.move(back)
    reply.say("utter_ok_no_agent")
    prompts.reask(turn, conversation, reply)
    return True


# What the agent reads as the reason a case was queued, by why a person was offered.
OFFER_REASONS = {
    OfferReason.DEVICE_ID_FAILED: "the Device ID was not confirmed; the owner accepted an agent",
    OfferReason.DEVICE_ID_LIMITED: "too many Device IDs failed; the owner accepted an agent",
    OfferReason.PASSWORD_REFUSED: "the temporary password did not work",
    OfferReason.PASSWORD_EXPIRED: "the temporary password expired; a new one is needed",
    OfferReason.RESUMED_RELEASE: "the owner resumed the case and needs a new temporary password",
    OfferReason.NOT_UNDERSTOOD: "the assistant could not understand the owner",
}


def _offer_reason_words(conversation: Conversation) -> str:
    if conversation.offer_reason is OfferReason.STEP_TIPS:
        return f"the owner is stuck at reset step {conversation.reset_step}"
    return OFFER_REASONS.get(
        conversation.offer_reason or OfferReason.NOT_UNDERSTOOD, "the owner accepted an agent"
    )


def show_step(turn: Turn, conversation: Conversation, reply: Reply, guide: GuideTurn) -> None:
    """Say ``guide``'s step (with the step card the widget draws) and keep the case in step."""
    procedure = turn.services.procedure
    cases = turn.services.cases
    reply.text(
        guide.render(turn.wording),
        payload={
            "type": "reset_step",
            "step": guide.step_number,
            "total": procedure.total,
            "finished": guide.finished,
            "picture": guide.picture,
            "sensitive_input": guide.sensitive_input,
            # The card's parts, so a client draws it without reading the text's layout.
            "title": procedure.step(guide.step_number).title if guide.step_number else None,
            "parts": {
                name: wording.for_channel(turn.wording) if wording else None
                for name, wording in (
                    ("notice", guide.notice),
                    ("body", guide.body),
                    ("tip", guide.tip),
                    ("hint", guide.hint),
                )
            },
        },
    )
    if guide.finished:
        cases.complete(turn.conversation_id)
        conversation.reset_step = None
        conversation.tips_given = 0
        conversation.move(State.FINISHED)
        return
    if conversation.state is not State.STEPS:
        case = cases.start_guiding(turn.conversation_id, turn.channel, language=turn.language)
        conversation.case_id = case.code
    conversation.reset_step = guide.step_number
    conversation.tips_given = guide.tips_given
    conversation.move(State.STEPS)


def start_resume(turn: Turn, conversation: Conversation, reply: Reply, code: str) -> None:
    """A case code from an owner coming back: ask for proof before showing anything."""
    cases = turn.services.cases
    case = cases.resume_candidate(code)
    if case is None:
        reply.say("utter_case_code_unknown")
        prompts.reask(turn, conversation, reply)
        return
    if case.conversation_id == turn.conversation_id:
        reply.say("utter_case_code_is_this_one", case_id=case.code)
        prompts.reask(turn, conversation, reply)
        return
    if cases.resume_limited(code):
        reply.say("utter_case_proof_limited")
        return
    conversation.resume_code = case.code
    if conversation.state is not State.CASE_PROOF:
        conversation.return_state = conversation.state
    conversation.move(State.CASE_PROOF)
    reply.say("utter_ask_case_proof", case_id=case.code)


def prove_case(turn: Turn, conversation: Conversation, reply: Reply, proof: str) -> None:
    cases = turn.services.cases
    code = conversation.resume_code or ""
    if cases.resume_limited(code):
        reply.say("utter_case_proof_limited")
        conversation.resume_code = None
        conversation.move(conversation.return_state or State.GREETING)
        return
    if not cases.verify_owner(code, proof):
        reply.say("utter_case_proof_failed")
        reply.understood = False
        return
    case = cases.adopt(code, turn.conversation_id, turn.channel)
    conversation.resume_code = None
    conversation.return_state = None
    conversation.case_id = case.code
    conversation.device_id = case.device_id
    device = turn.services.registry.find_by_device_id(case.device_id) if case.device_id else None
    conversation.device_model = device.model if device else None
    reply.say("utter_case_resumed", case_id=case.code)
    if case.status in WITH_SUPPORT:
        conversation.move(State.QUEUED)
        tell_wait(turn, conversation, reply, cases.position(case))
    elif case.status in (CaseStatus.RELEASED, CaseStatus.GUIDING):
        conversation.move(State.GREETING)
        offer_agent(conversation, reply, OfferReason.RESUMED_RELEASE, "utter_resumed_after_release")
    elif case.device_id is None:
        conversation.move(State.DEVICE_ID)
        prompts.ask(turn, conversation, reply)
    else:
        conversation.move(State.OWNER_NAME)
        prompts.ask(turn, conversation, reply)
