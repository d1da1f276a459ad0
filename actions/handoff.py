"""Handing the conversation to a human agent."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.conversation import channel_name, latest_intent


class ActionQueueCase(Action):
    """Queues the conversation's case for an agent and pauses the assistant for the handoff."""

    def name(self) -> str:
        return "action_queue_case"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return queue_for_agent(dispatcher, tracker)


def queue_for_agent(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Queue the conversation's case, tell the owner where they stand, and pause the assistant."""
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
    if queued.already_queued:
        dispatcher.utter_message(
            response="utter_case_already_queued", case_id=case.code, position=queued.position
        )
    elif case.device_id:
        dispatcher.utter_message(
            response="utter_case_queued",
            case_id=case.code,
            model=tracker.get_slot("device_model"),
            position=queued.position,
        )
    else:
        dispatcher.utter_message(
            response="utter_case_queued_without_device",
            case_id=case.code,
            position=queued.position,
        )
    # reset_step is kept: an agent who helped with a step can hand back to the same step.
    return [SlotSet("case_id", case.code), SlotSet("guiding", False), ConversationPaused()]


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
