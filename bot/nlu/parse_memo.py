"""The NLU's answers to the short messages owners repeat at every reset step.

A guided reset is mostly "done", "next", "go back" and "repeat that". The pipeline's answer to a
message depends on its text alone (no component of ours or Rasa's in ``config.yml`` reads the
conversation), yet running it is about a fifth of a turn's time (py-spy, ``make bench``). The
memo keeps the answer for such a text, so the pipeline runs once per wording, not once per step.

Only answers the conversation store keeps in the clear even at the new-password step are kept:
a navigation intent, no entities and nothing password-shaped (:func:`should_mask`). So no
password, Device ID or name stays in memory here.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

from bot.privacy.masking import should_mask

# Wordings kept: far more than the ways owners say done, back, repeat, yes or thanks.
DEFAULT_CAPACITY = 1024


class ParseMemo:
    """The most recent navigation messages' parse data, by exact text (capitals and spaces count:
    the pipeline's features see them)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._answers: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, text: str) -> dict[str, Any] | None:
        found = self._answers.get(text)
        if found is None:
            return None
        self._answers.move_to_end(text)
        # A copy: Rasa keeps the parse data in the conversation's events and may change it there.
        return copy.deepcopy(found)

    def keep(self, text: str, parse_data: dict[str, Any]) -> None:
        if not is_memorable(text, parse_data):
            return
        self._answers[text] = copy.deepcopy(parse_data)
        self._answers.move_to_end(text)
        while len(self._answers) > self._capacity:
            self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)


def is_memorable(text: str, parse_data: dict[str, Any]) -> bool:
    intent = (parse_data.get("intent") or {}).get("name")
    return (
        bool(text)
        and parse_data.get("text") == text
        and not parse_data.get("entities")
        and not should_mask(text, intent, at_sensitive_step=True)
    )
