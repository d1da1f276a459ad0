"""Walking the owner through the reset steps on the recorder, one at a time."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from actions.conversation import PHONE_CHANNEL, channel_name, latest_intent
from actions.handoff import queue_for_agent
from bot.guide.navigation import GuideTurn, Navigation, navigate
from bot.guide.wording import Channel

# Intents that move through the steps.
NAVIGATION = {
    "have_temporary_password": Navigation.START,
    "step_done": Navigation.NEXT,
    "affirm": Navigation.NEXT,
    "go_back": Navigation.BACK,
    "repeat": Navigation.REPEAT,
    "step_help": Navigation.HELP,
}
# Questions answered from the guide's content, whether or not the steps have started.
ANSWERS = {
    "missing_equipment": "missing_equipment",
    "temp_password_rejected": "temp_password_rejected",
    "ask_password_rules": "password_rules",
    "share_password": "password_warning",
    "deny": "waiting",
}
# Messages that end by offering a person.
OFFERS_AN_AGENT = {"temp_password_rejected", "no_more_tips"}
# Small talk during the steps: the usual answer, then a reminder of where the owner is.
SMALL_TALK = {
    "out_of_scope": "utter_out_of_scope",
    "thank": "utter_you_are_welcome",
    "bot_challenge": "utter_iamabot",
}


class ActionResetGuide(Action):
    def name(self) -> str:
        return "action_reset_guide"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        procedure = services.procedure()
        channel = guide_channel(tracker)
        intent = latest_intent(tracker)
        guiding = bool(tracker.get_slot("guiding"))
        step = _whole(tracker.get_slot("reset_step"))
        tips_given = _whole(tracker.get_slot("tips_given")) or 0

        if intent == "affirm" and tracker.get_slot("agent_offered"):
            return [SlotSet("agent_offered", False), *queue_for_agent(dispatcher, tracker)]

        if intent in ANSWERS:
            dispatcher.utter_message(text=procedure.message(ANSWERS[intent], channel))
            if guiding and step:
                dispatcher.utter_message(text=procedure.message("navigation_hint", channel))
            return [SlotSet("agent_offered", ANSWERS[intent] in OFFERS_AN_AGENT)]

        if intent == "have_temporary_password" or (guiding and intent in NAVIGATION):
            turn = navigate(procedure, step, NAVIGATION[intent or ""], tips_given)
            return show_step(dispatcher, tracker, turn, channel)

        if guiding and step:
            # Anything else mid-procedure: answer briefly, then show the current step again.
            if intent in SMALL_TALK:
                dispatcher.utter_message(response=SMALL_TALK[intent])
            turn = navigate(procedure, step, Navigation.REPEAT, tips_given)
            return show_step(dispatcher, tracker, turn, channel)

        dispatcher.utter_message(response="utter_not_guiding")
        return []



def guide_channel(tracker: Tracker) -> Channel:
    return "voice" if channel_name(tracker) == PHONE_CHANNEL else "chat"


def show_step(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    turn: GuideTurn,
    channel: Channel,
) -> list[EventType]:
    """Say ``turn``'s step and move the conversation's case along with it."""
    cases = services.conversation_cases()
    # Rasa's socket.io channel passes a custom payload's keys to emit() as arguments, so the
    # card travels under `data` (it reaches the browser as the event's payload).
    dispatcher.utter_message(text=turn.render(channel), json_message={"data": _step_card(turn)})
    if turn.finished:
        cases.complete(tracker.sender_id)
        return [
            SlotSet("guiding", False),
            SlotSet("reset_step", None),
            SlotSet("tips_given", 0),
            SlotSet("agent_offered", False),
        ]
    no_more_tips = services.procedure().wording("no_more_tips")
    events: list[EventType] = [
        SlotSet("guiding", True),
        SlotSet("reset_step", turn.step_number),
        SlotSet("tips_given", turn.tips_given),
        SlotSet("agent_offered", turn.tip == no_more_tips),
    ]
    if not tracker.get_slot("guiding"):
        case = cases.start_guiding(tracker.sender_id, channel_name(tracker))
        events.append(SlotSet("case_id", case.code))
    return events


def _step_card(turn: GuideTurn) -> dict[str, Any]:
    """Structured form of the step, for clients that draw step cards (the web widget)."""
    return {
        "type": "reset_step",
        "step": turn.step_number,
        "total": services.procedure().total,
        "finished": turn.finished,
        "picture": turn.picture,
        "sensitive_input": turn.sensitive_input,
    }


def _whole(value: Any) -> int | None:
    return int(value) if value is not None else None
