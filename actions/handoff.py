"""Handing the conversation to a human agent."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.conversation import channel_name, latest_intent
from bot.cases.conversation import QueuedCase
from bot.handoff.owner_details import given


class ActionQueueCase(Action):
    """Queues the conversation's case for an agent and says how long the wait should be.

    The assistant stays available while the owner waits (questions still get answers); it is
    paused only when an agent takes over the chat.
    """

    def name(self) -> str:
        return "action_queue_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return queue_for_agent(dispatcher, tracker)


def queue_for_agent(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Queue the conversation's case, pass on the owner's details, say where the owner stands."""
    device_id = tracker.get_slot("device_id")
    if tracker.get_slot("device_id_outcome") != "supported":
        device_id = None
    queued = services.conversation_cases().queue_for_agent(
        tracker.sender_id,
        channel_name(tracker),
        device_id=device_id,
        reason=_reason(tracker, device_id),
    )
    case = queued.case
    if not queued.already_queued and case.device_id:
        services.conversation_cases().record_owner_statement(
            case.code,
            name=given(tracker.get_slot("owner_name")),
            email=given(tracker.get_slot("owner_email")),
            phone=given(tracker.get_slot("owner_phone")),
        )
    if queued.already_queued:
        dispatcher.utter_message(response="utter_case_already_queued", case_id=case.code)
    elif case.device_id:
        dispatcher.utter_message(
            response="utter_case_queued", case_id=case.code, model=tracker.get_slot("device_model")
        )
    else:
        dispatcher.utter_message(response="utter_case_queued_without_device", case_id=case.code)
    tell_wait(dispatcher, queued)
    # reset_step is kept: an agent who helped with a step can hand back to the same step.
    return [SlotSet("case_id", case.code), SlotSet("guiding", False)]


def tell_wait(dispatcher: CollectingDispatcher, queued: QueuedCase) -> None:
    """Where the owner stands: position and expected wait, or when support opens."""
    centre = services.support_centre()
    now = services.now()
    if not centre.is_open(now):
        opening = centre.next_opening(now)
        dispatcher.utter_message(
            response="utter_support_closed",
            case_id=queued.case.code,
            opening=f"{opening:%A} at {opening:%-I:%M %p} ({centre.time_zone.key} time)",
        )
    elif queued.position == 0:
        dispatcher.utter_message(response="utter_agent_has_case")
    else:
        dispatcher.utter_message(
            response="utter_queue_position",
            position=queued.position,
            minutes=centre.expected_wait_minutes(queued.position),
        )


class ActionCloseCase(Action):
    """The owner declined a person after failed Device ID attempts."""

    def name(self) -> str:
        return "action_close_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        services.conversation_cases().close_without_handoff(
            tracker.sender_id, "the owner could not give a Device ID and declined an agent"
        )
        dispatcher.utter_message(response="utter_case_closed")
        return []


def _reason(tracker: Tracker, device_id: str | None) -> str:
    if device_id:
        return f"Device ID {device_id} checked; an agent must release a temporary password"
    if latest_intent(tracker) == "request_human":
        return "the owner asked for a person"
    if tracker.get_slot("guiding"):
        return "the temporary password did not work"
    return "the Device ID could not be confirmed; the owner accepted an agent"
