"""What the dialogue remembers between turns, and what it expects next.

The Rasa adapter (actions/converse.py) keeps each field of :class:`Conversation` in a slot of the
same name, so the tracker store and the agent console see them as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any


class State(str, Enum):
    GREETING = "greeting"  # nothing asked yet
    DEVICE_ID = "device_id"
    OWNER_NAME = "owner_name"
    OWNER_EMAIL = "owner_email"
    OWNER_PHONE = "owner_phone"
    OFFER_AGENT = "offer_agent"  # "shall I pass you to a person?"
    QUEUED = "queued"  # waiting for an agent (or an agent has the case)
    TAKEN_OVER = "taken_over"  # an agent chats; the assistant is paused
    STEPS = "steps"  # guiding the reset steps on the recorder
    FINISHED = "finished"
    REJECTED = "rejected"
    OTHER_ROUTE = "other_route"  # the recorder resets its own way
    CASE_PROOF = "case_proof"  # a returning owner proving a case code is theirs
    CLOSED = "closed"  # the owner cancelled or declined a person


class Expects(str, Enum):
    """What the assistant expects next: the channel contract's ``expects``."""

    NOTHING = "nothing"
    DEVICE_ID = "device_id"
    YES_NO = "yes_no"
    OWNER_NAME = "owner_name"
    OWNER_EMAIL = "owner_email"
    OWNER_PHONE = "owner_phone"
    STEP = "step"
    CASE_PROOF = "case_proof"


EXPECTS = {
    State.GREETING: Expects.NOTHING,
    State.DEVICE_ID: Expects.DEVICE_ID,
    State.OWNER_NAME: Expects.OWNER_NAME,
    State.OWNER_EMAIL: Expects.OWNER_EMAIL,
    State.OWNER_PHONE: Expects.OWNER_PHONE,
    State.OFFER_AGENT: Expects.YES_NO,
    State.QUEUED: Expects.NOTHING,
    State.TAKEN_OVER: Expects.NOTHING,
    State.STEPS: Expects.STEP,
    State.FINISHED: Expects.NOTHING,
    State.REJECTED: Expects.NOTHING,
    State.OTHER_ROUTE: Expects.NOTHING,
    State.CASE_PROOF: Expects.CASE_PROOF,
    State.CLOSED: Expects.NOTHING,
}
# The states where the owner is answering a question about the recorder or its owner.
GATHERING = frozenset({State.DEVICE_ID, State.OWNER_NAME, State.OWNER_EMAIL, State.OWNER_PHONE})
OWNER_DETAILS = (State.OWNER_NAME, State.OWNER_EMAIL, State.OWNER_PHONE)


class OfferReason(str, Enum):
    """Why a person was offered: what "no" goes back to."""

    DEVICE_ID_FAILED = "device_id_failed"  # too many IDs that did not check out
    DEVICE_ID_LIMITED = "device_id_limited"  # the failed-check limiter stopped checking
    NOT_UNDERSTOOD = "not_understood"  # several turns the assistant could not handle
    STEP_TIPS = "step_tips"  # no tips left for a step
    PASSWORD_REFUSED = "password_refused"  # the recorder refused the temporary password
    PASSWORD_EXPIRED = "password_expired"  # asked for the password after it expired
    RESUMED_RELEASE = "resumed_release"  # a resumed case whose password was released earlier


@dataclass
class Conversation:
    """The dialogue's memory of one conversation (one field per Rasa slot)."""

    dialogue_state: State = State.GREETING
    # Where an offer of a person, a queue wait or a take-over returns to (steps resume there).
    return_state: State | None = None
    offer_reason: OfferReason | None = None
    case_id: str | None = None
    device_id: str | None = None  # normalised, and only once the registry confirmed it
    device_model: str | None = None
    device_id_attempts: int = 0
    owner_name: str | None = None
    owner_email: str | None = None
    owner_phone: str | None = None
    guiding: bool = False  # in the steps (the privacy tracker store reads it)
    reset_step: int | None = None
    tips_given: int = 0
    release_ref: str | None = None  # the latest release delivered here (never the password)
    misunderstood: int = 0  # turns in a row the assistant could not handle
    resume_code: str | None = None  # the case code a returning owner is proving
    # Things said once per conversation (e.g. the no-monitor answer), so they are not repeated
    # word for word.
    said: list[str] = field(default_factory=list)
    # The language the conversation is held in (bot/dialogue/language.py): None until the first
    # message; settled once a clear message, a request or the phone's choice decided it.
    language: str | None = None
    language_settled: bool = False
    language_pending: str | None = None

    @property
    def state(self) -> State:
        return self.dialogue_state

    @property
    def expects(self) -> Expects:
        return EXPECTS[self.dialogue_state]

    def move(self, state: State) -> None:
        self.dialogue_state = state
        self.misunderstood = 0
        self.guiding = state is State.STEPS

    def as_slots(self) -> dict[str, Any]:
        """Every field as a slot value (enums by value)."""
        values: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            values[item.name] = value.value if isinstance(value, Enum) else value
        return values

    @classmethod
    def from_slots(cls, slots: dict[str, Any]) -> Conversation:
        """The conversation as the slots hold it; unknown or missing values take defaults."""
        conversation = cls()
        for item in fields(cls):
            value = slots.get(item.name)
            if value is None:
                continue
            current = getattr(conversation, item.name)
            if item.name in ("dialogue_state", "return_state"):
                value = _enum(State, value)
            elif item.name == "offer_reason":
                value = _enum(OfferReason, value)
            elif isinstance(current, bool):
                value = bool(value)
            elif isinstance(current, int) or item.name == "reset_step":
                value = int(value)
            elif isinstance(current, list):
                value = list(value)
            if value is not None:
                setattr(conversation, item.name, value)
        return conversation


def _enum(kind: type[Enum], value: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return None
