"""The channel contract as the phone reads it: the turn payload that ends every assistant turn
(what the assistant now expects, the step, whether it understood), and the intents the channel
sends for keys and confirmed answers. Nothing here reads the assistant's wording.

The payload (design of issue 14, section 2) is a JSON-only custom message::

    {"data": {"type": "turn", "state": "steps", "expects": "step", "step": 3, "total": 10,
              "sensitive_input": false, "case": "LX-JCRD9K", "understood": true}}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EXPECTS = frozenset(
    {"nothing", "device_id", "yes_no", "owner_name", "owner_email", "owner_phone", "step",
     "case_proof"}
)
# Controller states after which the call is over: the assistant has said what the caller can do
# next (a rejection ends with the other routes), so the channel says goodbye and hangs up.
ENDING_STATES = frozenset({"finished", "rejected", "closed"})


@dataclass(frozen=True)
class Turn:
    state: str
    expects: str
    step: int | None = None
    total: int | None = None
    sensitive_input: bool = False
    case: str | None = None
    understood: bool = True  # False: the assistant could not handle the message (re-asked)

    @property
    def ends_call(self) -> bool:
        return self.expects == "nothing" and self.state in ENDING_STATES

    @property
    def prompt_kind(self) -> str:
        """Which hints, timeout and keys the next ``<Gather>`` uses."""
        if self.ends_call:
            return "finished"
        if self.expects == "step":
            return "private_step" if self.sensitive_input else "steps"
        if self.expects == "nothing":
            return "default"
        return self.expects


def payload(message: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The custom payload of type ``kind`` in one of the assistant's messages, if it has one."""
    custom = message.get("custom")
    data = custom.get("data") if isinstance(custom, Mapping) else None
    if isinstance(data, dict) and data.get("type") == kind:
        return data
    return None


def turn_of(messages: Iterable[Mapping[str, Any]]) -> Turn | None:
    """The last turn payload among ``messages`` (None when there is none, or it is malformed)."""
    found: Turn | None = None
    for message in messages:
        data = payload(message, "turn")
        if data is None:
            continue
        expects = data.get("expects")
        if expects not in EXPECTS:
            continue
        step, total = data.get("step"), data.get("total")
        found = Turn(
            state=str(data.get("state") or ""),
            expects=str(expects),
            step=step if isinstance(step, int) else None,
            total=total if isinstance(total, int) else None,
            sensitive_input=data.get("sensitive_input") is True,
            case=data.get("case") if isinstance(data.get("case"), str) else None,
            understood=data.get("understood") is not False,
        )
    return found


def intent_message(intent: str, entities: Mapping[str, str] | None = None) -> str:
    """Rasa's ``/intent`` or ``/intent{"entity": "value"}`` text, parsed without NLU."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(dict(entities))}"
