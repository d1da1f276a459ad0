"""Gathering what support needs: the Device ID (checked against the registry, with limits), then
the owner's name, email and phone, each accepted only when it looks like one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.devices.check_limits import limited_check, subjects_for
from bot.devices.checks import CheckResult, Outcome, check_device_id
from bot.dialogue import prompts, support
from bot.dialogue.reply import Reply
from bot.dialogue.state import Conversation, OfferReason, State
from bot.dialogue.turn import Turn
from bot.dialogue.understanding import Heard, after_correcting_words
from bot.handoff.owner_details import Answer, given, parse_email, parse_name, parse_phone

# Which response explains each refusal; its {variables} come from CheckResult.details.
REFUSALS = {
    Outcome.EMPTY: "utter_device_id_not_understood",
    Outcome.BAD_CHARACTERS: "utter_device_id_bad_characters",
    Outcome.TOO_SHORT: "utter_device_id_too_short",
    Outcome.TOO_LONG: "utter_device_id_too_long",
    Outcome.WRONG_PATTERN: "utter_device_id_wrong_pattern",
    Outcome.NOT_FOUND: "utter_device_id_not_found",
}
ROUTES = {"n831": "utter_route_n831", "home_app": "utter_route_home_app"}
# A wrong-pattern value is read back only when it misses the pattern by this many characters or
# fewer: anything further off may not be an ID at all (a password, a phone number).
MAX_MISMATCHES_READ_BACK = 2
# The only variables each response may receive: they travel with the bot's message into the
# conversation's events, which the agent console shows.
VARIABLES: dict[str, tuple[str, ...]] = {
    "utter_device_id_confirmed": ("grouped", "model"),
    "utter_device_id_not_understood": (),
    "utter_device_id_bad_characters": ("bad_characters",),
    "utter_device_id_too_short": ("length", "expected"),
    "utter_device_id_too_long": ("length", "expected"),
    "utter_device_id_wrong_pattern": ("grouped", "example"),
    "utter_device_id_wrong_shape": ("example",),
    "utter_device_id_serial_known": ("model",),
    "utter_device_id_serial": (),
    "utter_device_id_not_found": ("grouped",),
}
PARSERS = {
    State.OWNER_NAME: parse_name,
    State.OWNER_EMAIL: parse_email,
    State.OWNER_PHONE: parse_phone,
}
UNCLEAR = {
    State.OWNER_NAME: "utter_owner_name_unclear",
    State.OWNER_EMAIL: "utter_owner_email_unclear",
    State.OWNER_PHONE: "utter_owner_phone_unclear",
}
NEXT_DETAIL = {State.OWNER_NAME: State.OWNER_EMAIL, State.OWNER_EMAIL: State.OWNER_PHONE}
PREVIOUS = {
    State.OWNER_NAME: State.DEVICE_ID,
    State.OWNER_EMAIL: State.OWNER_NAME,
    State.OWNER_PHONE: State.OWNER_EMAIL,
}
# Where the Device ID is: the widget shows these pictures with the answer.
LOCATION_PICTURES = {"type": "pictures", "pictures": ["label", "info-screen"]}


def start(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> None:
    """A reset request: open (or reuse) the case, then check the ID given or ask for it."""
    case = turn.services.cases.start_gathering(
        turn.conversation_id, turn.channel, language=turn.language
    )
    conversation.case_id = case.code
    conversation.device_id = conversation.device_model = None
    conversation.device_id_attempts = 0
    conversation.owner_name = conversation.owner_email = conversation.owner_phone = None
    conversation.reset_step = None
    conversation.tips_given = 0
    conversation.return_state = None
    conversation.move(State.DEVICE_ID)
    if heard.device_id:
        check(turn, conversation, reply, heard.device_id)
    else:
        prompts.ask(turn, conversation, reply)


def where_to_find(reply: Reply) -> None:
    reply.say("utter_device_id_location", payload=LOCATION_PICTURES)


def device_id_answer(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """The answer to "what is the Device ID?"; False when the message is not one."""
    if heard.device_id:
        check(turn, conversation, reply, heard.device_id)
        return True
    if heard.is_("deny", "step_help"):  # "I don't have it", "I can't find it"
        where_to_find(reply)
        prompts.reask(turn, conversation, reply)
        return True
    if heard.is_("provide_device_id"):
        reply.say("utter_device_id_not_understood")
        return True
    return False


def check(turn: Turn, conversation: Conversation, reply: Reply, candidate: str) -> None:
    services = turn.services
    if conversation.state is not State.DEVICE_ID:
        # A Device ID given elsewhere (a correction, or unprompted): gathering starts again
        # from it, on the conversation's case.
        case = services.cases.start_gathering(
            turn.conversation_id, turn.channel, language=turn.language
        )
        conversation.case_id = case.code
        conversation.move(State.DEVICE_ID)
    result = counted_check(turn, candidate)
    if result is None:
        # Too many failed checks for this conversation, its client or everyone: nothing is
        # checked; a person can look the recorder up.
        reply.say("utter_device_id_limit")
        support.offer_agent(conversation, reply, OfferReason.DEVICE_ID_LIMITED, None)
        return
    if result.outcome is Outcome.OK:
        assert result.device is not None
        conversation.device_id = result.value
        conversation.device_model = result.device.model
        reply.say(
            "utter_device_id_confirmed", **_variables(turn, "utter_device_id_confirmed", result)
        )
        conversation.move(State.OWNER_NAME)
        prompts.ask(turn, conversation, reply)
        return
    if result.outcome is Outcome.OTHER_ROUTE:
        assert result.device is not None
        route = services.formats.family(result.device.family).route
        reply.say(ROUTES[route], model=result.device.model)
        services.cases.close_without_handoff(
            turn.conversation_id,
            f"the {result.device.model} has its own recovery route ({route})",
        )
        # Only the model: support releases no password for it, so no case gets its Device ID.
        conversation.device_id = None
        conversation.device_model = result.device.model
        conversation.move(State.OTHER_ROUTE)
        return
    response = _refusal(result)
    reply.say(response, **_variables(turn, response, result))
    conversation.device_id_attempts += 1
    if conversation.device_id_attempts >= services.formats.max_attempts:
        support.offer_agent(conversation, reply, OfferReason.DEVICE_ID_FAILED, "utter_offer_human")


def owner_detail(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """The answer to a question about the owner; False when the message is not one (then the
    repair patterns have it), so a question is never taken as a name."""
    state = conversation.state
    answer: Answer = PARSERS[state](heard.text, turn.services.centre.skip_answers)
    if answer.unclear:
        return False
    setattr(conversation, state.value, answer.value)
    if state in NEXT_DETAIL:
        conversation.move(NEXT_DETAIL[state])
        prompts.ask(turn, conversation, reply)
    else:
        support.queue(
            turn,
            conversation,
            reply,
            f"Device ID {conversation.device_id} checked; "
            "an agent must release a temporary password",
        )
    return True


def plainly_answers(turn: Turn, conversation: Conversation, heard: Heard) -> bool:
    """Whether the message is an email address or phone number given where one is asked (an
    answer, whatever the NLU guessed of it)."""
    state = conversation.state
    if state not in (State.OWNER_EMAIL, State.OWNER_PHONE) or after_correcting_words(heard.text):
        return False
    return not PARSERS[state](heard.text, turn.services.centre.skip_answers).unclear


def late_owner_detail(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """An email address or phone number given while the case waits for an agent ("oh my email is
    …"): added to the case for the agent, where the owner skipped it or gave another."""
    if heard.device_id or heard.case_code() or conversation.case_id is None:
        return False
    skips = frozenset[str]()
    for state in (State.OWNER_EMAIL, State.OWNER_PHONE):
        answer = PARSERS[state](heard.text, skips)
        if not answer.unclear and answer.value:
            setattr(conversation, state.value, answer.value)
            turn.services.cases.record_owner_statement(
                conversation.case_id,
                name=given(conversation.owner_name),
                email=given(conversation.owner_email),
                phone=given(conversation.owner_phone),
            )
            reply.say("utter_owner_detail_added", case_id=conversation.case_id)
            return True
    return False


def looks_like_proof(turn: Turn, heard: Heard) -> bool:
    """Whether the message could prove a case is the owner's: a Device ID, an email address or
    a phone number (anything else goes to the repair patterns, and is not a failed proof)."""
    skips = frozenset[str]()
    return bool(
        heard.device_id
        or not parse_email(heard.text, skips).unclear
        or not parse_phone(heard.text, skips).unclear
    )


def say_route(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """The recorder's own way to reset its password, again."""
    if conversation.device_model is None:
        return
    route = turn.services.formats.family_for_model(conversation.device_model).route
    reply.say(ROUTES[route], model=conversation.device_model)


def correct_queued(turn: Turn, conversation: Conversation, reply: Reply, candidate: str) -> None:
    """Another Device ID while the case waits in the queue: checked, and put on the same case."""
    services = turn.services
    result = counted_check(turn, candidate)
    if result is None:
        reply.say("utter_device_id_limit_queued")
        return
    current = services.formats.group(conversation.device_id or "")
    if result.outcome is Outcome.OTHER_ROUTE:
        reply.say("utter_device_id_after_queue", grouped=current)
        return
    if result.outcome is not Outcome.OK:
        response = _refusal(result)
        reply.say(response, **_variables(turn, response, result))
        return
    assert result.device is not None
    case = services.cases.correct_device(turn.conversation_id, result.value)
    if case is None:  # an agent already has the case: they can change it
        reply.say("utter_device_id_after_queue", grouped=current)
        return
    conversation.device_id = result.value
    conversation.device_model = result.device.model
    reply.say(
        "utter_device_id_updated",
        case_id=case.code,
        **_variables(turn, "utter_device_id_confirmed", result),
    )


def unclear_detail(conversation: Conversation, reply: Reply) -> None:
    reply.say(UNCLEAR[conversation.state])


def corrected_answer(turn: Turn, conversation: Conversation, reply: Reply, heard: Heard) -> bool:
    """ "Sorry I mean Zion Juniperfield": the answer that follows the correcting words, to the
    question asked or, if it is not one, to the owner's detail asked before it."""
    state = conversation.state
    rest = after_correcting_words(heard.text)
    if rest is None or heard.device_id or state not in PARSERS:
        return False
    skips = turn.services.centre.skip_answers
    if not PARSERS[state](rest, skips).unclear:
        return owner_detail(turn, conversation, reply, replace(heard, text=rest))
    previous = PREVIOUS[state]
    answer = PARSERS[previous](rest, skips) if previous in PARSERS else None
    if answer is None or answer.unclear:
        return False
    setattr(conversation, previous.value, answer.value)
    reply.say("utter_correction_noted")
    prompts.reask(turn, conversation, reply)
    return True


def correct(turn: Turn, conversation: Conversation, reply: Reply) -> None:
    """ "Wait, wrong one" while gathering: back to the answer before, asked again."""
    state = conversation.state
    if state in PREVIOUS:
        previous = PREVIOUS[state]
        setattr(conversation, previous.value, None)
        if previous is State.DEVICE_ID:
            conversation.device_model = None
        conversation.move(previous)
    reply.say("utter_correction_noted")
    prompts.reask(turn, conversation, reply)


def counted_check(turn: Turn, candidate: str) -> CheckResult | None:
    """``candidate`` checked against the registry, counted by the failed-check limiter (per
    conversation, client address and overall); None once a limit is reached."""
    services = turn.services
    return limited_check(
        services.limiter,
        subjects_for(conversation=turn.conversation_id, client_address=turn.client_address),
        lambda: check_device_id(candidate, services.registry, services.formats),
    )


def _refusal(result: CheckResult) -> str:
    if result.outcome is Outcome.SERIAL_NUMBER:
        return "utter_device_id_serial_known" if result.device else "utter_device_id_serial"
    mismatches = int(result.details.get("mismatch_count", 0))
    if result.outcome is Outcome.WRONG_PATTERN and mismatches > MAX_MISMATCHES_READ_BACK:
        return "utter_device_id_wrong_shape"
    return REFUSALS[result.outcome]


def _variables(turn: Turn, response: str, result: CheckResult) -> dict[str, Any]:
    known: dict[str, Any] = {key: str(value) for key, value in result.details.items()}
    # What was typed, chunked for reading back: the checks only group a value that fits a
    # pattern, but utter_device_id_wrong_pattern quotes it too.
    known.setdefault("grouped", turn.services.formats.group(result.value))
    if result.device is not None:
        known.setdefault("model", result.device.model)
    return {name: known[name] for name in VARIABLES[response] if name in known}
