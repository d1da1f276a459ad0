"""The reset procedure: the real content file, navigation, and load-time validation."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.content import ContentError
from bot.guide.procedure import (
    DEFAULT_PATH,
    MESSAGE_PLACEHOLDERS,
    GuideTurn,
    Navigation,
    Procedure,
    load_procedure,
    navigate,
)
from bot.guide.wording import Wording

URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|ca|net|org)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def procedure() -> Procedure:
    return load_procedure()


def all_wordings(procedure: Procedure) -> Iterator[tuple[str, Wording]]:
    for step in procedure.steps:
        yield f"step {step.id}", Wording(step.text, step.voice)
        yield f"step {step.id} title", Wording(step.title, step.title)
        for number, tip in enumerate(step.tips, start=1):
            yield f"step {step.id} tip {number}", tip
    for key in procedure.messages:
        yield f"message {key}", procedure.messages[key]


# --- the real file -------------------------------------------------------------------------


def test_real_file_loads_with_the_expected_shape(procedure: Procedure) -> None:
    assert 9 <= procedure.total <= 11
    ids = [step.id for step in procedure.steps]
    assert len(set(ids)) == len(ids)
    assert [step.number for step in procedure.steps] == list(
        range(1, procedure.total + 1)
    )
    assert set(MESSAGE_PLACEHOLDERS) <= set(procedure.messages)
    for step in procedure.steps:
        assert 2 <= len(step.tips) <= 4, step.id


def test_default_procedure_is_cached(procedure: Procedure) -> None:
    assert load_procedure() is procedure
    assert (
        load_procedure(DEFAULT_PATH) is not procedure
    )  # an explicit path is read afresh
    assert load_procedure(DEFAULT_PATH) == procedure


def test_procedure_follows_the_support_article(procedure: Procedure) -> None:
    chat = [step.text for step in procedure.steps]
    assert "HDMI" in chat[0] and "VGA" in chat[0] and "USB mouse" in chat[0]
    order = [
        "Main Menu",
        "admin",
        "Settings",
        "pencil",
        "Modify Password",
        "Old Password",
    ]
    positions = [
        next(i for i, text in enumerate(chat) if word in text) for word in order
    ]
    assert positions == sorted(positions)
    new_password = next(step for step in procedure.steps if step.sensitive_input)
    assert "8 to 32" in new_password.text and "Confirm Password" in new_password.text
    assert "OK" in procedure.steps[-2].text and "bottom" in procedure.steps[-2].text
    assert "safe" in procedure.steps[-1].text


def test_firmware_menu_variants_are_in_the_user_settings_tips(
    procedure: Procedure,
) -> None:
    step = next(step for step in procedure.steps if "Account" in step.text)
    tips = " ".join(tip.text for tip in step.tips)
    assert "ACCOUNT" in tips and "Users" in tips and "Setting" in tips


def test_exactly_one_sensitive_step_and_it_is_the_new_password(
    procedure: Procedure,
) -> None:
    sensitive = [step for step in procedure.steps if step.sensitive_input]
    assert [step.id for step in sensitive] == ["new-password"]
    assert "New Password" in sensitive[0].text
    turn = navigate(procedure, sensitive[0].number - 1, Navigation.NEXT)
    assert turn.sensitive_input
    assert not navigate(procedure, None, Navigation.START).sensitive_input


def test_voice_wording_is_written_for_the_ear(procedure: Procedure) -> None:
    for where, wording in all_wordings(procedure):
        voice = wording.voice
        assert voice.strip(), where
        for mark in ("**", "#", "[", "]", "`", ">"):
            assert mark not in voice, f"{where}: {mark!r} in {voice!r}"
        assert not re.search(r"click", voice, re.IGNORECASE), f"{where}: {voice!r}"
        assert not URL.search(voice), f"{where}: {voice!r}"


def test_chat_wording_is_present(procedure: Procedure) -> None:
    for where, wording in all_wordings(procedure):
        assert wording.text.strip(), where
    for step in procedure.steps:
        assert step.title.strip() and len(step.title) <= 40, step.id


def test_fixed_messages_say_what_they_must(procedure: Procedure) -> None:
    def chat(key: str) -> str:
        return procedure.message(key, "chat")

    assert procedure.message("navigation_hint", "voice") == (
        "Say done or press 1, repeat or 2, back or 3, help or 0."
    )
    assert "done" in chat("navigation_hint") and "stuck" in chat("navigation_hint")
    assert "agent" in chat("no_more_tips")
    assert "Forgot device password" in chat("missing_equipment")
    assert "My Account > Warranty" in chat("missing_equipment")
    assert "end of the day" in chat("temp_password_rejected")
    assert "case-sensitive" in chat("temp_password_rejected")
    assert "8 to 32" in chat("password_rules")
    assert "hidden" in chat("password_warning")
    assert "ready" in procedure.message("waiting", "voice")


def test_message_lookup_errors(procedure: Procedure) -> None:
    with pytest.raises(KeyError, match="no message 'nope'"):
        procedure.message("nope", "chat")
    with pytest.raises(ValueError, match="unknown channel 'sms'"):
        procedure.message("completed", "sms")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a value"):
        procedure.message("step_header", "chat")
    header = procedure.message("step_header", "chat", number=2, total=9, title="Log in")
    assert header == "Step 2 of 9: Log in"


def test_step_lookup(procedure: Procedure) -> None:
    assert procedure.step(1).id == procedure.steps[0].id
    assert procedure.step(procedure.total) is procedure.steps[-1]
    for bad in (0, -1, procedure.total + 1):
        with pytest.raises(ValueError, match=f"there is no step {bad}"):
            procedure.step(bad)


# --- navigation ----------------------------------------------------------------------------


def test_start_begins_at_step_one(procedure: Procedure) -> None:
    turn = navigate(procedure, None, Navigation.START)
    first = procedure.step(1)
    assert (turn.step_number, turn.finished, turn.tips_given) == (1, False, 0)
    assert turn.header is not None and turn.body is not None and turn.hint is not None
    assert turn.header.text == f"Step 1 of {procedure.total}: {first.title}"
    assert turn.body == Wording(first.text, first.voice)
    assert turn.hint == procedure.messages["navigation_hint"]
    assert turn.tip is None and turn.notice is None
    assert turn.picture == first.picture
    # START from anywhere starts over
    assert navigate(procedure, 5, Navigation.START).step_number == 1


def test_next_walks_through_every_step_to_completion(procedure: Procedure) -> None:
    turn = navigate(procedure, None, Navigation.START)
    seen = []
    while not turn.finished:
        assert turn.step_number is not None
        seen.append(turn.step_number)
        step = procedure.step(turn.step_number)
        chat = turn.render("chat")
        assert chat.startswith(
            f"Step {step.number} of {procedure.total}: {step.title}\n\n"
        )
        assert step.text in chat
        voice = turn.render("voice")
        assert voice.startswith(
            f"Step {step.number} of {procedure.total}. {step.title}."
        )
        assert step.voice in voice
        turn = navigate(procedure, turn.step_number, Navigation.NEXT)
    assert seen == list(range(1, procedure.total + 1))
    assert turn.step_number is None and turn.header is None and turn.hint is None
    assert turn.render("chat") == procedure.message("completed", "chat")
    assert turn.render("voice") == procedure.message("completed", "voice")


def test_back_moves_to_the_previous_step(procedure: Procedure) -> None:
    turn = navigate(procedure, 4, Navigation.BACK, tips_given=2)
    assert turn.step_number == 3 and turn.tips_given == 0 and turn.notice is None


def test_back_on_the_first_step_stays_there(procedure: Procedure) -> None:
    turn = navigate(procedure, 1, Navigation.BACK)
    assert turn.step_number == 1 and not turn.finished
    assert turn.notice == procedure.messages["already_first_step"]
    parts = turn.parts("chat")
    assert parts[0] == procedure.message("already_first_step", "chat")
    assert parts[1].startswith("Step 1 of ")


def test_repeat_repeats_the_current_step(procedure: Procedure) -> None:
    shown = navigate(procedure, 2, Navigation.NEXT)
    repeated = navigate(procedure, 3, Navigation.REPEAT, tips_given=1)
    assert repeated.step_number == 3
    assert repeated.render("chat") == shown.render("chat")
    assert repeated.tips_given == 1  # tips already given for this step stay given
    assert navigate(procedure, None, Navigation.REPEAT) == navigate(
        procedure, None, Navigation.START
    )


def test_help_gives_each_tip_then_offers_an_agent(procedure: Procedure) -> None:
    no_more = procedure.messages["no_more_tips"]
    for step in procedure.steps:
        given = 0
        for tip in step.tips:
            turn = navigate(procedure, step.number, Navigation.HELP, given)
            assert turn.step_number == step.number and turn.tip == tip
            assert (
                turn.body is None
            )  # the instruction is not repeated; REPEAT does that
            assert turn.tips_given == given + 1
            given = turn.tips_given
        for _ in range(2):
            turn = navigate(procedure, step.number, Navigation.HELP, given)
            assert turn.tip == no_more and turn.tips_given == given
        # NEXT starts the following step with no tips used
        assert navigate(procedure, step.number, Navigation.NEXT, given).tips_given == 0


def test_help_render(procedure: Procedure) -> None:
    step = procedure.step(3)
    turn = navigate(procedure, 3, Navigation.HELP)
    header = f"Step 3 of {procedure.total}: {step.title}"
    hint = procedure.message("navigation_hint", "chat")
    assert turn.render("chat") == f"{header}\n\n{step.tips[0].text}\n\n{hint}"
    voice_hint = procedure.message("navigation_hint", "voice")
    assert turn.render("voice").endswith(f"{step.tips[0].voice} {voice_hint}")


@pytest.mark.parametrize("action", [Navigation.NEXT, Navigation.BACK, Navigation.HELP])
def test_moves_before_the_start_are_refused(
    procedure: Procedure, action: Navigation
) -> None:
    with pytest.raises(ValueError, match="before the guide has started"):
        navigate(procedure, None, action)


@pytest.mark.parametrize("current", [0, -1, 99, True, "2"])
@pytest.mark.parametrize("action", list(Navigation))
def test_invalid_current_step_is_refused(
    procedure: Procedure, current: Any, action: Navigation
) -> None:
    with pytest.raises(ValueError, match="invalid current step"):
        navigate(procedure, current, action)


def test_invalid_tips_given_and_action_are_refused(procedure: Procedure) -> None:
    with pytest.raises(ValueError, match="tips_given"):
        navigate(procedure, 1, Navigation.HELP, -1)
    with pytest.raises(ValueError):
        navigate(procedure, 1, "jump")  # type: ignore[arg-type]
    assert navigate(procedure, 1, "next").step_number == 2  # type: ignore[arg-type]


def test_render_rejects_an_unknown_channel(procedure: Procedure) -> None:
    with pytest.raises(ValueError, match="unknown channel"):
        navigate(procedure, None, Navigation.START).render("sms")  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(list(Navigation)), max_size=40))
def test_any_sequence_of_moves_stays_on_a_real_step(moves: list[Navigation]) -> None:
    procedure = load_procedure()
    turn: GuideTurn = navigate(procedure, None, Navigation.START)
    for move in moves:
        if turn.finished:
            turn = navigate(procedure, None, Navigation.START)
        turn = navigate(procedure, turn.step_number, move, turn.tips_given)
        if turn.finished:
            assert turn.step_number is None
            continue
        assert turn.step_number is not None
        assert 1 <= turn.step_number <= procedure.total
        assert turn.header is not None
        assert turn.header.text.startswith(
            f"Step {turn.step_number} of {procedure.total}: "
        )
        assert 0 <= turn.tips_given <= len(procedure.step(turn.step_number).tips)
        assert "\n" not in turn.render("voice")


# --- validation: every problem names the file and the line ---------------------------------


def real_content() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def dump(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "reset_steps.yml"
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, line: str, occurrence: int = 1) -> int:
    """1-based number of the ``occurrence``-th line that is exactly ``line`` (stripped)."""
    found = [
        number
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if text.strip() == line
    ]
    return found[occurrence - 1]


def step_line(path: Path, step_id: str, occurrence: int = 1) -> int:
    return line_of(path, f"- id: {step_id}", occurrence)


def message_line(path: Path, key: str) -> int:
    return line_of(path, f"{key}:") + 1  # a mapping's line is its first key's


Mutation = Callable[[dict[str, Any]], None]
Where = Callable[[Path], int]


def _set_step(index: int, key: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["steps"][index][key] = value

    return mutate


def _del_step(index: int, key: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        del data["steps"][index][key]

    return mutate


def _set_message(key: str, variant: str, value: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["messages"][key][variant] = value

    return mutate


def _step_id(index: int) -> str:
    return str(real_content()["steps"][index]["id"])


def _at_step(index: int, occurrence: int = 1) -> Where:
    return lambda path: step_line(path, _step_id(index), occurrence)


def _at_first_tip(index: int) -> Where:
    def where(path: Path) -> int:
        lines = path.read_text(encoding="utf-8").splitlines()
        start = step_line(path, _step_id(index))
        return next(
            number
            for number, text in enumerate(lines, 1)
            if number > start and text.strip().startswith("- text:")
        )

    return where


def _at_message(key: str) -> Where:
    return lambda path: message_line(path, key)


def _duplicate_id(data: dict[str, Any]) -> None:
    data["steps"][1]["id"] = data["steps"][0]["id"]


def _two_sensitive(data: dict[str, Any]) -> None:
    data["steps"][0]["sensitive_input"] = True


def _no_sensitive(data: dict[str, Any]) -> None:
    for step in data["steps"]:
        step["sensitive_input"] = False


def _drop_message(data: dict[str, Any]) -> None:
    del data["messages"]["waiting"]


def _one_tip(data: dict[str, Any]) -> None:
    data["steps"][2]["tips"] = data["steps"][2]["tips"][:1]


def _tip_without_voice(data: dict[str, Any]) -> None:
    del data["steps"][2]["tips"][0]["voice"]


def _new_password_index() -> int:
    steps = real_content()["steps"]
    return next(i for i, step in enumerate(steps) if step["sensitive_input"])


BROKEN: list[tuple[str, Mutation, Where, str]] = [
    ("duplicate id", _duplicate_id, _at_step(0, occurrence=2), "duplicate step id"),
    ("empty text", _set_step(2, "text", "  "), _at_step(2), "'text' is empty"),
    ("missing voice", _del_step(3, "voice"), _at_step(3), "has no 'voice'"),
    ("missing title", _del_step(3, "title"), _at_step(3), "has no 'title'"),
    ("text not text", _set_step(3, "text", 42), _at_step(3), "must be text"),
    ("markdown voice", _set_step(4, "voice", "Select **OK**."), _at_step(4), "markup"),
    ("click in voice", _set_step(4, "voice", "Click OK."), _at_step(4), "'click'"),
    (
        "url in voice",
        _set_step(4, "voice", "See www.lorex.com."),
        _at_step(4),
        "web address",
    ),
    ("markdown title", _set_step(4, "title", "**OK**"), _at_step(4), "markup"),
    (
        "bad id",
        _set_step(1, "id", "Main Menu"),
        lambda p: line_of(p, "- id: Main Menu"),
        "slug",
    ),
    ("unknown key", _set_step(1, "voise", "x"), _at_step(1), "unknown key(s) voise"),
    ("picture missing", _del_step(1, "picture"), _at_step(1), "has no 'picture'"),
    ("bad picture", _set_step(1, "picture", "Main Menu"), _at_step(1), "'picture'"),
    (
        "sensitive not bool",
        _set_step(1, "sensitive_input", "no"),
        _at_step(1),
        "true or false",
    ),
    ("one tip", _one_tip, _at_step(2), "2 to 4 'tips'"),
    ("tip without voice", _tip_without_voice, _at_first_tip(2), "tip 1 has no 'voice'"),
    (
        "two sensitive steps",
        _two_sensitive,
        lambda path: step_line(path, _step_id(_new_password_index())),
        "only one step may have 'sensitive_input: true'",
    ),
    (
        "no sensitive step",
        _no_sensitive,
        lambda path: line_of(path, "steps:"),
        "no step has",
    ),
    (
        "missing message",
        _drop_message,
        lambda path: line_of(path, "messages:") + 1,
        "waiting",
    ),
    (
        "message without voice",
        lambda data: data["messages"]["waiting"].pop("voice"),
        _at_message("waiting"),
        "message 'waiting' has no 'voice'",
    ),
    (
        "unknown placeholder",
        _set_message("step_header", "text", "Step {numbr} of {total}"),
        _at_message("step_header"),
        "unknown placeholder {numbr}",
    ),
    (
        "unbalanced brace",
        _set_message("step_header", "voice", "Step {number of {total}"),
        _at_message("step_header"),
        "message 'step_header' 'voice'",
    ),
    (
        "positional placeholder",
        _set_message("step_header", "text", "Step {} of {total}"),
        _at_message("step_header"),
        "unknown placeholder {}",
    ),
    (
        "placeholder in a plain message",
        _set_message("completed", "text", "Well done, {name}!"),
        _at_message("completed"),
        "allowed: none",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where", "expected"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_content_names_file_and_line(
    tmp_path: Path, mutate: Mutation, where: Where, expected: str
) -> None:
    data = real_content()
    mutate(data)
    path = dump(tmp_path, data)
    with pytest.raises(ContentError) as caught:
        load_procedure(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{where(path)}: "), message
    assert expected in message, message


def test_unmodified_dump_loads(tmp_path: Path, procedure: Procedure) -> None:
    """The broken variants above differ from a valid file only by their mutation."""
    assert load_procedure(dump(tmp_path, real_content())) == procedure


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "reset_steps.yml"
    path.write_text(
        "steps:\n  - id: a\n    title: [unclosed\nmessages: {}\n", encoding="utf-8"
    )
    with pytest.raises(ContentError, match=rf"^{re.escape(str(path))}:[1-9]\d*: "):
        load_procedure(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "reset_steps.yml"
    path.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ContentError, match=rf"^{re.escape(str(path))}:1: "):
        load_procedure(path)


def test_empty_steps_and_unknown_top_level_keys(tmp_path: Path) -> None:
    data = real_content()
    data["steps"] = []
    path = dump(tmp_path, data)
    with pytest.raises(
        ContentError, match=rf"^{re.escape(str(path))}:1: 'steps' must be"
    ):
        load_procedure(path)
    data = real_content()
    data["extras"] = {}
    path = dump(tmp_path, data)
    with pytest.raises(ContentError, match="unknown key"):
        load_procedure(path)
