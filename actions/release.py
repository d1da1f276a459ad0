"""What the assistant does when the agent console acts: a temporary password was released, the
case was rejected, or the agent handed the chat back. Each is an ``EXTERNAL_`` intent the console
triggers through Rasa's API."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.guide import guide_channel, show_step
from bot.cases.status import CaseStatus
from bot.guide.navigation import Navigation, navigate
from bot.handoff.desk import release_expiry


class ActionDeliverTemporaryPassword(Action):
    """Gives the released password (by reference: the channel puts the value in) and starts the
    reset steps at step 1."""

    def name(self) -> str:
        return "action_deliver_temporary_password"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reference = next(tracker.get_latest_entity_values("release_ref"), None)
        expires_at = release_expiry(services.database(), reference) if reference else None
        if reference is None or expires_at is None:
            dispatcher.utter_message(response="utter_temporary_password_unavailable")
            return []
        centre = services.support_centre()
        local = expires_at.astimezone(centre.time_zone)
        dispatcher.utter_message(
            response="utter_temporary_password",
            valid_until=f"{local:%-I:%M %p} tonight ({centre.time_zone.key} time)",
            json_message={
                "data": {
                    "type": "temporary_password",
                    "temporary_password": {"reference": reference},
                }
            },
        )
        # A fresh password always starts the procedure from the top: logging in comes first.
        turn = navigate(services.procedure(), None, Navigation.START, 0)
        return show_step(dispatcher, tracker, turn, guide_channel(tracker))


class ActionExplainRejection(Action):
    def name(self) -> str:
        return "action_explain_rejection"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        centre = services.support_centre()
        key = next(tracker.get_latest_entity_values("rejection_reason"), None)
        reason = centre.rejection_reasons.get(key or "")
        if reason is None:
            dispatcher.utter_message(response="utter_case_rejected_unknown_reason")
        else:
            dispatcher.utter_message(text=reason.tell_user)
            dispatcher.utter_message(text=centre.alternatives_text(reason))
        return [SlotSet("guiding", False), SlotSet("reset_step", None)]


class ActionHandedBack(Action):
    """The agent ended a live chat: carry on with the steps if a password was released."""

    def name(self) -> str:
        return "action_handed_back"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        case = services.conversation_cases().current(tracker.sender_id)
        if case is None or case.status not in (CaseStatus.RELEASED, CaseStatus.GUIDING):
            dispatcher.utter_message(response="utter_handed_back")
            return []
        dispatcher.utter_message(response="utter_handed_back_to_steps")
        step = tracker.get_slot("reset_step")
        turn = navigate(
            services.procedure(),
            int(step) if step else None,
            Navigation.REPEAT if step else Navigation.START,
            0,
        )
        return show_step(dispatcher, tracker, turn, guide_channel(tracker))
