"""bot/channels/turns.py: the limit on turns the Rasa server works on at once, and how a turn that
a part of the product failed is answered."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage

from bot.channels import turns
from bot.channels.turns import TurnNotCompleted, limit_turns
from bot.content import CONTENT_DIR, load_mapping
from bot.turn_failures import TurnFailed, end_turn_if_in_one, in_channel_turn

TRY_AGAIN = load_mapping(CONTENT_DIR / "faults.yml")["turn_failed"]


def turn(number: int, output: OutputChannel | None = None) -> UserMessage:
    return UserMessage(str(number), output or CollectingOutputChannel(), f"user-{number}")


def texts(output: CollectingOutputChannel) -> list[str]:
    return [message.get("text") or "" for message in output.messages]


async def test_no_more_turns_than_the_limit_run_at_once_and_the_rest_wait_in_order() -> None:
    running: set[int] = set()
    most_at_once = 0
    started: list[int] = []

    async def handle(message: UserMessage) -> int:
        nonlocal most_at_once
        number = int(message.text or "")
        running.add(number)
        started.append(number)
        most_at_once = max(most_at_once, len(running))
        await asyncio.sleep(0.01)  # waiting for the action server: the others may run
        running.discard(number)
        return number * 10

    limited = limit_turns(handle, at_once=2)
    results = await asyncio.gather(*(limited(turn(number)) for number in range(6)))

    assert results == [0, 10, 20, 30, 40, 50]  # every turn answered, with its own answer
    assert most_at_once == 2
    assert started == [0, 1, 2, 3, 4, 5]  # arrival order


async def test_an_error_in_a_turn_frees_its_place() -> None:
    async def handle(message: UserMessage) -> str | None:
        if message.text == "0":
            raise RuntimeError("the action server is down")
        return message.text

    limited = limit_turns(handle, at_once=1)
    failed = turn(0)
    assert await limited(failed) is None
    assert await asyncio.wait_for(limited(turn(1)), timeout=1) == "1"


class SentAtOnce(OutputChannel):
    """An output that sends as soon as asked (as socket.io's does)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    @classmethod
    def name(cls) -> str:
        return "socketio"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.sent.append((recipient_id, message))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


async def test_a_turn_s_replies_are_sent_when_it_ends_in_order_under_the_channel_s_name() -> None:
    output = SentAtOnce()
    seen_during_turn: list[int] = []

    async def handle(message: UserMessage) -> None:
        assert message.output_channel.name() == "socketio"  # picks channel: variations
        await message.output_channel.send_text_message(message.sender_id, "first")
        await message.output_channel.send_response(message.sender_id, {"custom": {"step": 1}})
        seen_during_turn.append(len(output.sent))

    message = turn(1, output)
    await limit_turns(handle)(message)

    assert seen_during_turn == [0]  # nothing went out while the turn was running
    assert output.sent == [("user-1", {"text": "first"}), ("user-1", {"custom": {"step": 1}})]
    assert message.output_channel is output


async def test_a_failed_part_ends_the_turn_with_the_try_again_answer_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = SentAtOnce()
    database_error = RuntimeError("INSERT ... parameters: my secret text")

    async def handle(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "half an answer")
        try:
            raise database_error
        except Exception as error:  # what Rasa would catch and carry on after
            end_turn_if_in_one("tracker store", error)
            raise AssertionError("inside a channel turn a failure ends it") from error

    with caplog.at_level(logging.ERROR):
        assert await limit_turns(handle)(turn(1, output)) is None

    assert output.sent == [("user-1", {"text": TRY_AGAIN})]  # not "half an answer"
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1 and "tracker store" in errors[0]
    assert "secret" not in caplog.text and "user-1" not in caplog.text


@pytest.mark.parametrize("language", ["es", "fr"])
async def test_the_try_again_answer_is_in_the_client_s_language(language: str) -> None:
    output = SentAtOnce()

    async def handle(message: UserMessage) -> None:
        end_turn_if_in_one("tracker store", RuntimeError("down"))

    message = UserMessage("hola", output, "user-1", metadata={"language": f"{language}-US"})
    assert await limit_turns(handle)(message) is None
    translated = load_mapping(CONTENT_DIR / language / "faults.yml")["turn_failed"]
    assert output.sent == [("user-1", {"text": translated})] and translated != TRY_AGAIN


async def test_an_unexpected_error_is_answered_too_without_its_message_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    output = CollectingOutputChannel()

    async def handle(message: UserMessage) -> None:
        "\ud800 my text".encode()  # a UnicodeEncodeError quotes the text it could not encode

    with caplog.at_level(logging.ERROR):
        await limit_turns(handle)(turn(1, output))

    assert texts(output) == [TRY_AGAIN]
    assert "UnicodeEncodeError" in caplog.text and "my text" not in caplog.text


async def test_a_channel_with_its_own_apology_gets_an_exception_instead() -> None:
    output = CollectingOutputChannel()

    async def handle(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "half an answer")
        raise TurnFailed("action server, action_session_start", "no answer in time")

    with pytest.raises(TurnNotCompleted):
        await limit_turns(handle, failed_turn="raise")(turn(1, output))
    assert output.messages == []


async def test_outside_a_channel_turn_a_failure_stays_the_caller_s_error() -> None:
    # Rasa's HTTP API (the agent console's calls) answers it with an error status.
    assert not in_channel_turn()
    end_turn_if_in_one("tracker store", RuntimeError("database is locked"))  # returns


async def test_a_turn_waiting_long_on_the_action_server_lets_the_next_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turns, "SLOW_CALL", 0.1)
    finished: list[str] = []
    action_server_answers = asyncio.Event()

    async def handle(message: UserMessage) -> None:
        if message.text == "0":
            await turns.waiting_elsewhere(action_server_answers.wait())  # hung
        else:
            await turns.waiting_elsewhere(asyncio.sleep(0.01))  # answered at once
        finished.append(message.text or "")

    limited = limit_turns(handle, at_once=1)
    hung = asyncio.ensure_future(limited(turn(0)))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(limited(turn(1)), limited(turn(2))), timeout=2)
    assert finished == ["1", "2"]  # the place was given up while the call hung
    action_server_answers.set()
    await asyncio.wait_for(hung, timeout=2)
    assert finished == ["1", "2", "0"]
    assert turns._semaphore(1)._value == 1  # every place given back, none twice


async def test_a_quick_call_keeps_the_turn_s_place() -> None:
    order: list[str] = []

    async def handle(message: UserMessage) -> None:
        order.append(f"start {message.text}")
        await turns.waiting_elsewhere(asyncio.sleep(0.05))
        order.append(f"end {message.text}")

    limited = limit_turns(handle, at_once=1)
    await asyncio.gather(limited(turn(0)), limited(turn(1)))
    assert order == ["start 0", "end 0", "start 1", "end 1"]
