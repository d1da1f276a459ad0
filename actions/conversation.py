"""Small helpers for reading a Rasa tracker, shared by the actions."""

from __future__ import annotations

from rasa_sdk import Tracker

PHONE_CHANNEL = "phone"


def latest_intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def channel_name(tracker: Tracker) -> str:
    """The product's name for the channel the owner is using (``chat`` or ``phone``)."""
    return PHONE_CHANNEL if tracker.get_latest_input_channel() == PHONE_CHANNEL else "chat"
