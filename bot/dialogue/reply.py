"""What the assistant says in one turn, and the contract payload that ends it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.state import Conversation


@dataclass(frozen=True)
class Message:
    """A domain response by name (``response``, with its variables) or ready text; ``payload`` is
    a custom payload sent with it (the channel contract's ``data``)."""

    response: str | None = None
    text: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] | None = None


@dataclass
class Reply:
    messages: list[Message] = field(default_factory=list)
    # False when the assistant could not handle the message (the phone's reprompt ladder).
    understood: bool = True

    def say(self, response: str, payload: dict[str, Any] | None = None, **variables: Any) -> None:
        self.messages.append(Message(response=response, variables=variables, payload=payload))

    def text(self, text: str, payload: dict[str, Any] | None = None) -> None:
        self.messages.append(Message(text=text, payload=payload))


def turn_payload(
    conversation: Conversation,
    total_steps: int,
    sensitive_input: bool,
    understood: bool,
    position: int | None = None,
) -> dict[str, Any]:
    """The contract that ends every turn: what the assistant now expects (design: the channels
    act on this alone, never on the wording)."""
    steps = conversation.dialogue_state.value == "steps"
    return {
        "type": "turn",
        "state": conversation.dialogue_state.value,
        "expects": conversation.expects.value,
        "step": conversation.reset_step if steps else None,
        "total": total_steps if steps else None,
        "sensitive_input": steps and sensitive_input,
        "case": conversation.case_id,
        "understood": understood,
        # While queued: the place in line (1 = next; 0 = an agent has the case).
        "position": position if conversation.dialogue_state.value == "queued" else None,
        # The language the assistant now speaks here (the widget follows it).
        "language": conversation.language or "en",
    }
