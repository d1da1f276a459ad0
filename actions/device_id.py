"""Gathering and checking the Device ID (the ``device_id_form``)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.conversation import channel_name
from actions.handoff import queue_for_agent
from bot.channels.client import CLIENT_ADDRESS_KEY
from bot.devices.check_limits import limited_check, subjects_for
from bot.devices.checks import CheckResult, Outcome, check_device_id
from bot.handoff.owner_details import Answer, parse_email, parse_name, parse_phone

OWNER_SLOTS = ["owner_name", "owner_email", "owner_phone"]
# What the assistant says when an answer about the owner cannot be used.
UNCLEAR_RESPONSES = {
    "owner_name": "utter_owner_name_unclear",
    "owner_email": "utter_owner_email_unclear",
    "owner_phone": "utter_owner_phone_unclear",
}

# Which response explains each refusal; its {variables} come from CheckResult.details.
REFUSAL_RESPONSES = {
    Outcome.EMPTY: "utter_device_id_not_understood",
    Outcome.BAD_CHARACTERS: "utter_device_id_bad_characters",
    Outcome.TOO_SHORT: "utter_device_id_too_short",
    Outcome.TOO_LONG: "utter_device_id_too_long",
    Outcome.WRONG_PATTERN: "utter_device_id_wrong_pattern",
    Outcome.NOT_FOUND: "utter_device_id_not_found",
}
ROUTE_RESPONSES = {"n831": "utter_route_n831", "home_app": "utter_route_home_app"}
# A wrong-pattern value is read back only when it misses the pattern by this many characters or
# fewer: anything further off may not be an ID at all (a password, a phone number).
MAX_MISMATCHES_READ_BACK = 2
# The only variables each response may receive: everything passed to a response also travels
# with the bot's message into the conversation's events, which the agent console shows.
RESPONSE_VARIABLES: dict[str, tuple[str, ...]] = {
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


class ActionStartCase(Action):
    """Opens (or reuses) the conversation's case before the form asks for the Device ID.

    A Device ID already in the triggering message is copied into the slot, so the form validates
    it on activation instead of asking for it again.
    """

    def name(self) -> str:
        return "action_start_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        case = services.conversation_cases().start_gathering(
            tracker.sender_id, channel_name(tracker)
        )
        events: list[EventType] = [
            SlotSet("case_id", case.code),
            SlotSet("device_id_outcome", None),
            SlotSet("device_id_attempts", 0),
            SlotSet("device_id_limited", False),
            # A reset steps guide in progress has just been superseded (its case abandoned).
            SlotSet("guiding", False),
            SlotSet("reset_step", None),
            SlotSet("tips_given", 0),
        ]
        mentioned = next(tracker.get_latest_entity_values("device_id"), None)
        if mentioned:
            events.append(SlotSet("device_id", mentioned))
        return events


class ValidateDeviceIdForm(FormValidationAction):
    def name(self) -> str:
        return "validate_device_id_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        # The owner's details only matter once support will release a password for the recorder.
        # rasa_sdk asks for the first missing slot of this list (overriding a validation's
        # requested_slot None), so a form that is over must say so here: nothing more to ask.
        outcome = tracker.get_slot("device_id_outcome")
        if outcome == "supported":
            return domain_slots
        if outcome in ("exhausted", "other_route"):
            return []
        return [slot for slot in domain_slots if slot not in OWNER_SLOTS]

    async def validate_owner_name(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        answer = parse_name(str(slot_value or ""), _skips())
        return _owner_detail("owner_name", answer, dispatcher)

    async def validate_owner_email(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        answer = parse_email(str(slot_value or ""), _skips())
        return _owner_detail("owner_email", answer, dispatcher)

    async def validate_owner_phone(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        answer = parse_phone(str(slot_value or ""), _skips())
        return _owner_detail("owner_phone", answer, dispatcher)

    async def validate_device_id(
        self,
        slot_value: Any,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> dict[str, Any]:
        # The NLU's normalised entity; the slot's own value may be raw text (from_text mapping).
        candidate = next(tracker.get_latest_entity_values("device_id"), None)
        if candidate is None:
            # Nothing ID-shaped at all: explain what to look for; not counted as an attempt.
            dispatcher.utter_message(response="utter_device_id_not_understood")
            return {"device_id": None}

        result = limited_check(
            services.check_limiter(),
            subjects_for(conversation=tracker.sender_id, client_address=_client_address(tracker)),
            lambda: check_device_id(candidate, services.registry(), services.formats()),
        )
        if result is None:
            # Too many failed checks for this conversation, its client or everyone: nothing is
            # checked; the form ends and a person is offered (who can look the recorder up).
            return {
                "device_id": None,
                "device_id_limited": True,
                "device_id_outcome": "exhausted",
                "requested_slot": None,
            }
        if result.outcome is Outcome.OK:
            assert result.device is not None
            dispatcher.utter_message(
                response="utter_device_id_confirmed",
                **_variables("utter_device_id_confirmed", result),
            )
            return {
                "device_id": result.value,
                "device_model": result.device.model,
                "device_id_outcome": "supported",
            }
        if result.outcome is Outcome.OTHER_ROUTE:
            assert result.device is not None
            return {
                "device_id": result.value,
                "device_model": result.device.model,
                "device_id_outcome": "other_route",
                "requested_slot": None,
            }

        response = _refusal_response(result)
        dispatcher.utter_message(response=response, **_variables(response, result))
        attempts = int(tracker.get_slot("device_id_attempts") or 0) + 1
        if attempts >= services.formats().max_attempts:
            return {
                "device_id": None,
                "device_id_attempts": attempts,
                "device_id_outcome": "exhausted",
                "requested_slot": None,
            }
        return {"device_id": None, "device_id_attempts": attempts}


class ActionConcludeDeviceId(Action):
    """Runs when the form ends: queue a supported recorder, explain another recovery route, or,
    after too many attempts, offer a person."""

    def name(self) -> str:
        return "action_conclude_device_id"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        outcome = tracker.get_slot("device_id_outcome")
        if outcome == "supported":
            return queue_for_agent(dispatcher, tracker)
        if outcome == "exhausted":
            limited = tracker.get_slot("device_id_limited")
            dispatcher.utter_message(
                response="utter_device_id_limit" if limited else "utter_offer_human"
            )
            return []
        device = services.registry().find_by_device_id(tracker.get_slot("device_id") or "")
        if outcome != "other_route" or device is None:
            # The form ended without an outcome (it should not); a person can always help.
            dispatcher.utter_message(response="utter_offer_human")
            return [SlotSet("device_id_outcome", "exhausted")]
        route = services.formats().family(device.family).route
        dispatcher.utter_message(response=ROUTE_RESPONSES[route], model=device.model)
        services.conversation_cases().close_without_handoff(
            tracker.sender_id, f"the {device.model} has its own recovery route ({route})"
        )
        return []


def _skips() -> frozenset[str]:
    return services.support_centre().skip_answers


def _owner_detail(slot: str, answer: Answer, dispatcher: CollectingDispatcher) -> dict[str, Any]:
    if answer.unclear:
        dispatcher.utter_message(response=UNCLEAR_RESPONSES[slot])
    return {slot: answer.value}


def _client_address(tracker: Tracker) -> str | None:
    """The address the chat channels put in the message's metadata; a phone call has none."""
    metadata = tracker.latest_message.get("metadata") or {}
    address = metadata.get(CLIENT_ADDRESS_KEY) if isinstance(metadata, dict) else None
    return str(address) if address else None


def _refusal_response(result: CheckResult) -> str:
    if result.outcome is Outcome.SERIAL_NUMBER:
        return "utter_device_id_serial_known" if result.device else "utter_device_id_serial"
    if result.outcome is Outcome.WRONG_PATTERN:
        mismatches = int(result.details.get("mismatch_count", 0))
        if mismatches > MAX_MISMATCHES_READ_BACK:
            return "utter_device_id_wrong_shape"
    return REFUSAL_RESPONSES[result.outcome]


def _variables(response: str, result: CheckResult) -> dict[str, Any]:
    """The variables ``response`` uses, and no others."""
    known: dict[str, Any] = {key: str(value) for key, value in result.details.items()}
    # What was typed, chunked for reading back: the checks only group a value that fits a
    # pattern, but utter_device_id_wrong_pattern quotes it too.
    known.setdefault("grouped", services.formats().group(result.value))
    if result.device is not None:
        known.setdefault("model", result.device.model)
    return {name: known[name] for name in RESPONSE_VARIABLES[response] if name in known}
