"""The one action the dialogue policy calls after every user message: reads the conversation from
the slots and the message from the tracker, lets the controller (bot/dialogue) decide, and sends
its messages with the contract payload that ends every turn."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import services
from bot.channels.client import CLIENT_ADDRESS_KEY, LANGUAGE_KEY
from bot.dialogue.controller import respond
from bot.dialogue.language import settle as settle_language
from bot.dialogue.reply import turn_payload
from bot.dialogue.state import Conversation, State
from bot.dialogue.turn import PHONE, Turn
from bot.dialogue.understanding import Heard
from bot.localisation import ENGLISH

# Entities the controller reads besides the Device ID (the console's EXTERNAL_ intents).
ENTITIES = ("release_ref", "rejection_reason")


class ActionConverse(Action):
    def name(self) -> str:
        return "action_converse"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        before = Conversation.from_slots(tracker.current_slot_values())
        conversation = Conversation.from_slots(tracker.current_slot_values())
        message = heard(tracker)
        channel = channel_name(tracker)
        # A console event (EXTERNAL_ intent) carries no words of the owner's.
        asked = not message.is_system_event() and settle_language(
            conversation,
            message.text,
            _metadata(tracker).get(LANGUAGE_KEY),
            client_decides=channel == PHONE,
        )
        language = conversation.language or ENGLISH
        turn = Turn(
            conversation_id=tracker.sender_id,
            channel=channel,
            client_address=_client_address(tracker),
            services=services.dialogue_services(language),
            language=language,
            language_asked=asked,
            language_changed=before.language not in (None, language),
        )
        reply = respond(turn, conversation, message)
        for said in reply.messages:
            extra: dict[str, Any] = {}
            if said.payload is not None:
                # Rasa's socket.io channel passes a custom payload's keys to emit() as
                # arguments, so the payload travels under `data`.
                extra["json_message"] = {"data": said.payload}
            if said.response:
                # The language goes with each response: the slot changes after they are rendered.
                dispatcher.utter_message(
                    response=said.response, language=language, **said.variables, **extra
                )
            else:
                dispatcher.utter_message(text=said.text, **extra)
        procedure = turn.services.procedure
        sensitive = bool(
            conversation.state is State.STEPS
            and conversation.reset_step
            and procedure.step(conversation.reset_step).sensitive_input
        )
        position = None
        if conversation.state is State.QUEUED:
            case = turn.services.cases.current(turn.conversation_id)
            position = turn.services.cases.position(case) if case else None
        payload = turn_payload(conversation, procedure.total, sensitive, reply.understood, position)
        dispatcher.utter_message(json_message={"data": payload})
        changed = conversation.as_slots()
        unchanged = before.as_slots()
        return [SlotSet(name, value) for name, value in changed.items() if unchanged[name] != value]


def heard(tracker: Tracker) -> Heard:
    message = tracker.latest_message or {}
    intent = message.get("intent") or {}
    entities = {
        entity["entity"]: str(entity.get("value"))
        for entity in message.get("entities") or []
        if entity.get("entity") in ENTITIES
    }
    return Heard(
        text=str(message.get("text") or ""),
        intent=intent.get("name"),
        confidence=float(intent.get("confidence") or 0.0),
        device_id=next(tracker.get_latest_entity_values("device_id"), None),
        entities=entities,
        ranking=tuple(
            (str(item.get("name")), float(item.get("confidence") or 0.0))
            for item in message.get("intent_ranking") or []
        ),
    )


def channel_name(tracker: Tracker) -> str:
    """The product's name for the channel the owner is using (``chat`` or ``phone``)."""
    return PHONE if tracker.get_latest_input_channel() == PHONE else "chat"


def _metadata(tracker: Tracker) -> dict[str, Any]:
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata if isinstance(metadata, dict) else {}


def _client_address(tracker: Tracker) -> str | None:
    """The address the chat channels put in the message's metadata; a phone call has none."""
    address = _metadata(tracker).get(CLIENT_ADDRESS_KEY)
    return str(address) if address else None
