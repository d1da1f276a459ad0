"""A new conversation session (after an hour of silence, see domain/session.yml)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.dialogue.state import GATHERING, Conversation, State


class ActionSessionStart(Action):
    """Rasa's session start (slots carried over), plus closing a case left half-gathered: an owner
    who went quiet before giving a Device ID has abandoned it, and the dialogue starts afresh.
    Cases with support, or being guided, stay open: the owner may come back to them."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        services.conversation_cases().close_without_handoff(
            tracker.sender_id, "the conversation went quiet before a Device ID was confirmed"
        )
        events: list[EventType] = [SessionStarted()]
        if domain.get("session_config", {}).get("carry_over_slots_to_new_session", True):
            events.extend(_carried_over(tracker.current_slot_values()))
        events.append(ActionExecuted("action_listen"))
        return events


def _carried_over(slots: dict[str, Any]) -> list[EventType]:
    conversation = Conversation.from_slots(slots)
    if conversation.state in GATHERING or conversation.state is State.CASE_PROOF:
        conversation.move(State.GREETING)
        conversation.resume_code = None
    carried = {**slots, **conversation.as_slots()}
    return [SlotSet(name, value) for name, value in carried.items() if value is not None]
