"""bot/patched_rasa.py: the Rasa server's fixes keep Rasa's behaviour (their speed is measured by
``make bench``, not here)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.utils.common import all_subclasses

from bot import patched_rasa
from bot.content import REPO_ROOT

VALID_ANSWER: dict[str, Any] = {
    "events": [{"event": "slot", "name": "device_id", "value": "ND4810273945KXQ"}],
    "responses": [{"text": "Thanks, that is a registered N841."}],
}


@pytest.fixture
def patched() -> Iterator[None]:
    originals = (RemoteAction._validate_action_result, Event.__dict__["resolve_by_type"])
    patched_rasa.apply()
    try:
        yield
    finally:
        RemoteAction._validate_action_result = originals[0]  # type: ignore[method-assign]
        Event.resolve_by_type = originals[1]  # type: ignore[method-assign]


def validate(answer: dict[str, Any]) -> bool:
    return RemoteAction("action_reset_guide", None)._validate_action_result(answer)


@pytest.mark.usefixtures("patched")
def test_a_valid_action_server_answer_passes() -> None:
    assert validate(VALID_ANSWER)
    assert validate({"events": [], "responses": []})


@pytest.mark.usefixtures("patched")
@pytest.mark.parametrize(
    "answer",
    [
        {"events": [{"event": "slot", "value": 1}]},  # a slot event without its name
        {"events": [{"event": "no_such_event"}]},
        {"events": "not a list"},
        {"responses": [["not", "an", "object"]]},
    ],
)
def test_an_invalid_answer_fails_as_rasa_fails_it(answer: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as patched_error:
        validate(answer)
    assert "Failed to validate Action server response from API" in patched_error.value.message
    assert "/custom-actions" in patched_error.value.message

    # Rasa's own check (jsonschema.validate) rejects the same answers with the same error.
    with pytest.raises(ValidationError) as rasa_error:
        jsonschema.validate(answer, RemoteAction.action_response_format_spec())
    assert patched_error.value.message.startswith(rasa_error.value.message)


def test_every_event_type_resolves_to_the_class_rasa_finds() -> None:
    type_names = {cls.type_name for cls in all_subclasses(Event)}
    expected = {name: Event.resolve_by_type(name) for name in type_names}

    patched_rasa.apply()
    try:
        for _ in range(2):  # the second time from what was remembered
            assert {name: Event.resolve_by_type(name) for name in type_names} == expected
        assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
        assert Event.resolve_by_type("topic") is None  # Rasa's backwards compatibility
        with pytest.raises(ValueError, match="Unknown event name"):
            Event.resolve_by_type("no_such_event")
        events = [ActionExecuted("action_listen"), UserUttered("hi"), BotUttered("Hello")]
        assert [Event.from_parameters(e.as_dict()) for e in events] == events
    finally:
        Event.resolve_by_type = staticmethod(patched_rasa._rasa_resolve_by_type)  # type: ignore[method-assign]


def test_the_module_runs_rasas_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.patched_rasa", "--version"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Rasa Version" in result.stdout and "3.6.21" in result.stdout


def test_the_procfile_starts_the_rasa_server_through_it() -> None:
    lines = (REPO_ROOT / "Procfile").read_text().splitlines()
    rasa = next(line for line in lines if line.startswith("rasa:"))
    assert " -m bot.patched_rasa run " in rasa
