"""The call's state machine alone: each transition from a stored state and an event, no I/O.

The content is the product's (data/content/phone.yml); the events are what the shell would hand
the machine (the dialogue's messages, a case's facts, a revealed password). The whole flow over
HTTP is tests/test_phone_channel.py's.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.devices.check_limits import Reservation, subjects_for
from bot.devices.formats import load_formats
from bot.phone.call_state import Call
from bot.phone.content import load_phone_content, load_phone_languages
from bot.phone.contract import intent_message
from bot.phone.device_id_entry import (
    CountReadBack,
    Forgive,
    Forgiven,
    LookedUp,
    Lookup,
    Pass,
    ReadBackCounted,
)
from bot.phone.machine import MAX_CHECKS_AFTER_QUEUE, CallMachine, chosen_language
from bot.phone.spoken import Resolution, hear
from bot.phone.steps import (
    Answered,
    AskDialogue,
    BackFromAgent,
    BackFromQueue,
    CallerRecorded,
    CaseFacts,
    CheckAgain,
    Dial,
    Enqueue,
    Event,
    Gathered,
    Goodbye,
    Hold,
    LanguageMenu,
    Leave,
    Nothing,
    Prompt,
    QueueFacts,
    RecordCaller,
    Reveal,
    Revealed,
    Step,
)

CONTENT = load_phone_content()
MACHINE = CallMachine(CONTENT, load_formats())
SID = "CA" + "0" * 32
QUEUED = CaseFacts("LX-ABCDEF", on_hold=True)
AGENT = intent_message(CONTENT.agent_intent)


def turn(expects: str, state: str | None = None, **fields: Any) -> dict[str, Any]:
    """The turn payload ending an assistant turn, as the channel collects it."""
    data = {"type": "turn", "state": state or expects, "expects": expects, "step": None,
            "total": None, "sensitive_input": False, "case": None, **fields}
    return {"custom": {"data": data}}


def answered(*messages: dict[str, Any], case: CaseFacts | None = None) -> Answered:
    return Answered(messages, (), True, case)


def asking(kind: str = "device_id", **fields: Any) -> Call:
    call = Call(SID, "+14165550101", prompt_kind=kind, last_prompt=["What is the Device ID?"])
    return dataclasses.replace(call, **fields)


def step(call: Call, *events: Event) -> tuple[Call, Step]:
    """The call after ``events``, one transition each, and what the last one came to."""
    assert events
    result: Step = Nothing()
    for event in events:
        call, result = MACHINE.transition(call, event)
    return call, result


def test_a_transition_leaves_the_state_it_was_given_alone() -> None:
    before = asking(reprompts=1, id_pieces=())
    kept = dataclasses.asdict(before)
    after, _ = step(before, Gathered("", ""))
    assert dataclasses.asdict(before) == kept
    assert after is not before and after.reprompts == 2


def test_silence_climbs_the_reprompt_ladder_then_asks_for_an_agent() -> None:
    call = asking()
    said: list[Step] = []
    for _ in CONTENT.reprompts:
        call, reply = step(call, Gathered("", ""))
        said.append(reply)
    assert all(isinstance(reply, Prompt) and reply.kind == "device_id" for reply in said)
    assert CONTENT.keypad.help in " ".join(said[1].sayings)  # type: ignore[union-attr]
    call, last = step(call, Gathered("", ""))
    assert last == AskDialogue(AGENT) and call.reprompts == 0


def test_silence_at_a_step_is_waited_for_gently() -> None:
    call, reply = step(asking("steps"), Gathered("", ""))
    assert reply == Prompt((CONTENT.step_waiting,), "steps") and call.waits == 1
    assert call.reprompts == 0 and call.last_prompt == ["What is the Device ID?"]


def test_star_asks_for_an_agent_whatever_was_asked() -> None:
    call, command = step(asking(id_pieces=(), keys="634"), Gathered("", CONTENT.agent_key))
    assert command == AskDialogue(AGENT) and call.keys == ""


@pytest.mark.parametrize(
    ("kind", "gathered", "command"),
    [
        ("device_id", Gathered("N D 4 8", ""), Lookup(pieces=hear("N D 4 8", CONTENT).pieces)),
        ("owner_email", Gathered("dana at example dot com", ""), AskDialogue("dana@example.com")),
        ("owner_phone", Gathered("", "2025550110#"), AskDialogue("202 555 0110")),
        ("yes_no", Gathered("", "1"), AskDialogue("/affirm")),
        ("case_proof", Gathered("", "634810273945597"), Lookup(keys="634810273945597")),
    ],
)
def test_what_is_asked_decides_where_an_answer_goes(
    kind: str, gathered: Gathered, command: Step
) -> None:
    assert step(asking(kind), gathered)[1] == command


COUNTED = Reservation(subjects_for(conversation=SID), datetime(2026, 12, 4, tzinfo=timezone.utc))
PROVIDED = AskDialogue('/provide_device_id{"device_id": "ND4810273945KXQ"}')


def test_a_reading_the_registry_holds_is_read_back_and_only_a_yes_passes_it_on() -> None:
    pieces = hear("N D 4 8 1 0 2 7 3 9 4 5 K X Q", CONTENT).pieces
    call, command = step(asking(), Gathered("N D 4 8 1 0 2 7 3 9 4 5 K X Q", ""))
    assert command == Lookup(pieces=pieces)
    found = Resolution("ND4810273945KXQ", ("ND4810273945KXQ", "NB4810273945KXQ"), True, False)
    call, read_back = step(call, LookedUp(Lookup(pieces=pieces), found, COUNTED))
    assert isinstance(read_back, Prompt) and read_back.kind == "confirm"
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in read_back.sayings[0]
    assert call.counted == COUNTED and call.candidates == found.found
    _, forgive = step(call, Gathered("yes", ""))  # confirmed: its counted failure taken back
    assert isinstance(forgive, Forgive) and forgive.counted == COUNTED
    assert step(call, Gathered("yes", ""), Forgiven(forgive.then))[1] == PROVIDED
    no, count = step(call, Gathered("no", ""))  # the next reading is counted before it is read
    assert count == CountReadBack() and no.counted is None and no.candidate == 1
    _, next_one = step(no, ReadBackCounted(COUNTED))
    assert isinstance(next_one, Prompt) and "N B 4 8" in next_one.sayings[0]
    limited, agent = step(no, ReadBackCounted(None))
    assert agent == AskDialogue(AGENT, (CONTENT.device_id.too_many,))
    assert limited.device_id_limited and limited.candidates == ()


def test_what_entry_passes_on_reaches_the_dialogue() -> None:
    lookup = Lookup(pieces=hear("X X 1 2 3 4 5 6 7 8 9 0 X X X", CONTENT).pieces)
    missing = Resolution("XX1234567890XXX", (), True, False)
    call, forgive = step(asking(), LookedUp(lookup, missing, COUNTED))
    assert forgive == Forgive(COUNTED, Pass("XX1234567890XXX"))  # the dialogue counts it
    assert step(call, Forgiven(forgive.then))[1] == AskDialogue("XX1234567890XXX")
    refused, agent = step(asking(), LookedUp(lookup, None, None))  # past a failed-check limit
    assert agent == AskDialogue(AGENT, (CONTENT.device_id.too_many,))
    assert refused.device_id_limited


def test_a_turn_the_dialogue_could_not_handle_is_its_re_ask_once_then_the_ladder() -> None:
    not_understood = answered({"text": "Sorry?"}, turn("device_id", understood=False))
    call, first = step(asking(), not_understood)
    assert first == Prompt(("Sorry?",), "device_id") and call.reprompts == 1
    call, second = step(call, not_understood)
    assert isinstance(second, Prompt) and CONTENT.keypad.help in " ".join(second.sayings)


def test_a_queued_case_puts_the_caller_on_hold_once_with_the_number_recorded() -> None:
    call, command = step(asking(), answered({"text": "Stay on the line."}, turn("nothing"),
                                            case=QUEUED))
    assert isinstance(command, RecordCaller) and isinstance(command.then, Enqueue)
    assert call.enqueued
    call, held = step(call, CallerRecorded(command.then, recorded=True))
    assert held == command.then and call.caller_recorded
    dialled = CallMachine(CONTENT, load_formats(), dial_mode=True)
    _, dial = dialled.transition(asking(caller_recorded=True), answered(case=QUEUED))
    assert isinstance(dial, Dial) and dial.case_code == QUEUED.code


def test_the_password_is_revealed_spelt_and_kept_until_it_expires() -> None:
    reference = {"custom": {"data": {"type": "temporary_password",
                                     "temporary_password": {"reference": "ref-1"}}}}
    step_one = {"text": "Step 1 of 10."}
    call, command = step(asking(), answered({"text": "Good news."}, reference, step_one,
                                            turn("step", "steps")))
    assert command == Reveal(reference, ("Good news.",))
    until = datetime.now(timezone.utc) + timedelta(hours=1)
    call, spelt = step(call, Revealed("K7", until, None, ("Good news.",)))
    assert isinstance(spelt, Prompt) and spelt.pause_between and spelt.kind == "password"
    assert "capital K, as in kilo" in spelt.sayings and "K7" not in spelt.sayings
    assert (call.password, call.password_until, call.reading_password) == ("K7", until, True)
    call, steps = step(call, Gathered("ready", ""))
    assert steps == Prompt(("Step 1 of 10.",), "steps") and not call.reading_password
    gone, unavailable = step(asking(), Revealed(None, None, None, ()))
    assert unavailable == Prompt((CONTENT.password.unavailable,), "default")
    assert gone.password is None


def test_the_end_of_the_dialogue_ends_the_call() -> None:
    _, reply = step(asking(), answered({"text": "Goodbye."}, turn("nothing", "finished")))
    assert reply == Goodbye(("Goodbye.",), farewell=False)
    _, rejected = step(asking(), answered({"text": "Sorry."}, turn("nothing", "rejected")))
    assert rejected == Goodbye(("Sorry.",), farewell=True)


def test_on_hold_the_caller_hears_where_they_stand_until_it_is_time_to_leave() -> None:
    call = asking(enqueued=True)
    assert MACHINE.on_hold(call, QueueFacts(QUEUED, position=2, minutes=10)) == Hold(
        (CONTENT.queue.position.format(position=2, minutes=10),)
    )
    released = CaseFacts(QUEUED.code, on_hold=False)
    assert MACHINE.on_hold(call, QueueFacts(released)) == Leave()
    pushed = dataclasses.replace(call, pending=[{"text": "News."}])
    assert MACHINE.on_hold(pushed, QueueFacts(QUEUED)) == Leave()


def test_back_from_hold_with_nothing_said_yet_waits_briefly_then_asks_again() -> None:
    call = asking(enqueued=True)
    released = CaseFacts(QUEUED.code, on_hold=False)
    replies = []
    for _ in range(MAX_CHECKS_AFTER_QUEUE + 1):
        call, reply = step(call, BackFromQueue("leave", released))
        replies.append(reply)
    assert replies[0] == CheckAgain((CONTENT.queue.back_with_nothing,), pause=2)
    assert all(reply == CheckAgain((), pause=2) for reply in replies[1:-1])
    assert replies[-1] == Prompt(("What is the Device ID?",), "device_id")
    assert step(asking(enqueued=True), BackFromQueue("hangup", None))[1] == Nothing()


def test_back_from_hold_or_the_agent_the_messages_pushed_meanwhile_are_spoken() -> None:
    pushed = [{"text": "Step 3 of 10."}, turn("step", "steps")]
    call = asking(enqueued=True, pending=pushed)
    after, reply = step(call, BackFromQueue("leave", None))
    assert reply == Prompt(("Step 3 of 10.",), "steps")
    assert after.pending_taken == 2 and not after.enqueued
    _, back = step(asking(pending=pushed), BackFromAgent(None))
    assert back == Prompt((CONTENT.handoff.back_from_agent, "Step 3 of 10."), "steps")


# --- the caller's language -----------------------------------------------------------------------

LANGUAGES = load_phone_languages()
MULTILINGUAL = CallMachine(LANGUAGES["en"], load_formats(), contents=LANGUAGES)


def test_one_language_starts_with_the_welcome_several_with_the_menu() -> None:
    call, step = MACHINE.call_comes_in(Call(SID, None))
    assert call.language == "en" and step == MACHINE.first_turn()
    call, step = MULTILINGUAL.call_comes_in(Call(SID, None))
    assert call.language is None and isinstance(step, LanguageMenu)
    assert [line.language for line in step.lines] == ["en-US", "es-US", "fr-CA"]


def test_the_menu_is_asked_once_more_then_the_call_is_in_english() -> None:
    call, _ = MULTILINGUAL.call_comes_in(Call(SID, None))
    call, step = MULTILINGUAL.transition(call, Gathered("", ""))
    assert isinstance(step, LanguageMenu) and call.language is None
    call, step = MULTILINGUAL.transition(call, Gathered("", ""))
    assert call.language == "en"
    assert isinstance(step, AskDialogue) and step.before == (LANGUAGES["en"].welcome,)


@pytest.mark.parametrize(
    ("speech", "digits", "chosen"),
    [("", "3", "fr"), ("Español", "", "es"), ("english or french", "", None)],
)
def test_the_choice_is_a_key_or_one_language_named(
    speech: str, digits: str, chosen: str | None
) -> None:
    assert chosen_language(LANGUAGES, speech, digits) == chosen


def test_a_switch_reads_the_channel_s_own_question_again_in_the_new_language() -> None:
    call = asking("confirm", language="en", candidates=("ND4810273945KXQ",))
    call, step = MULTILINGUAL.transition(call, Gathered("en español por favor", ""))
    assert call.language == "es"
    assert isinstance(step, Prompt) and step.sayings[0] == LANGUAGES["es"].choice.switched
    assert "N D 4 8" in step.sayings[1] and step.sayings[1].startswith("Escuché")
