"""bot/nlu/parse_memo.py: which NLU answers are kept, and that a kept one is handed out as new."""

from __future__ import annotations

from typing import Any

import pytest

from bot.nlu.parse_memo import ParseMemo, is_memorable


def parse_data(
    text: str, intent: str, entities: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "text": text,
        "intent": {"name": intent, "confidence": 0.97},
        "entities": entities or [],
        "intent_ranking": [{"name": intent, "confidence": 0.97}],
        "text_tokens": [(0, len(text))],
    }


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("done", "step_done"),
        ("ok done", "step_done"),
        ("go back", "go_back"),
        ("can you repeat that", "repeat"),
        ("I'm stuck", "step_help"),
        ("yes", "affirm"),
        ("thanks", "thank"),
    ],
)
def test_navigation_messages_are_kept(text: str, intent: str) -> None:
    memo = ParseMemo()
    memo.keep(text, parse_data(text, intent))

    assert memo.get(text) == parse_data(text, intent)
    assert memo.get(text.upper()) is None  # the exact text only


@pytest.mark.parametrize(
    ("text", "intent", "entities"),
    [
        # What the conversation store would hide, or the conversation depends on.
        ("my password is Tiger2024", "share_password", []),
        ("K7px9Q2m", "step_done", []),  # password-shaped, whatever the intent
        ("sunshine", "out_of_scope", []),  # typed at the new-password step, it is hidden
        ("I forgot my password", "request_password_reset", []),
        ("Oakley Maplecroft", "nlu_fallback", []),
        ("ND4810273945KXQ", "provide_device_id", [{"entity": "device_id"}]),
        ("done ND4810273945KXQ", "step_done", [{"entity": "device_id"}]),
        ("", "step_done", []),
    ],
)
def test_other_messages_are_not_kept(text: str, intent: str, entities: list[Any]) -> None:
    memo = ParseMemo()
    answer = parse_data(text, intent, entities)

    memo.keep(text, answer)

    assert not is_memorable(text, answer)
    assert memo.get(text) is None and len(memo) == 0


def test_a_kept_answer_is_a_copy_each_time() -> None:
    memo = ParseMemo()
    original = parse_data("done", "step_done")
    memo.keep("done", original)
    original["intent"]["name"] = "changed after keeping"

    first = memo.get("done")
    assert first is not None
    first["intent"]["name"] = "changed by its user"  # as the tracker store's masking does

    assert memo.get("done") == parse_data("done", "step_done")


def test_the_least_recently_used_wording_goes_first() -> None:
    memo = ParseMemo(capacity=2)
    memo.keep("done", parse_data("done", "step_done"))
    memo.keep("next", parse_data("next", "step_done"))
    memo.get("done")
    memo.keep("go back", parse_data("go back", "go_back"))

    assert len(memo) == 2
    assert memo.get("next") is None
    assert memo.get("done") is not None and memo.get("go back") is not None
