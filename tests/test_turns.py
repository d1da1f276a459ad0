"""bot/channels/turns.py: the limit on turns the Rasa server works on at once."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.turns import DEFAULT_TURNS_AT_ONCE, limit_turns, turns_at_once


async def test_no_more_turns_than_the_limit_run_at_once_and_the_rest_wait_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RASA_TURNS_AT_ONCE", "2")
    running: set[int] = set()
    most_at_once = 0
    started: list[int] = []

    async def handle(turn: int) -> int:
        nonlocal most_at_once
        running.add(turn)
        started.append(turn)
        most_at_once = max(most_at_once, len(running))
        await asyncio.sleep(0.01)  # waiting for the action server: the others may run
        running.discard(turn)
        return turn * 10

    limited = limit_turns(handle)
    results = await asyncio.gather(*(limited(turn) for turn in range(6)))

    assert results == [0, 10, 20, 30, 40, 50]  # every turn answered, with its own answer
    assert most_at_once == 2
    assert started == [0, 1, 2, 3, 4, 5]  # arrival order


async def test_an_error_in_a_turn_frees_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RASA_TURNS_AT_ONCE", "1")

    async def handle(turn: int) -> int:
        if turn == 0:
            raise RuntimeError("the action server is down")
        return turn

    limited = limit_turns(handle)
    with pytest.raises(RuntimeError):
        await limited(0)
    assert await asyncio.wait_for(limited(1), timeout=1) == 1


def test_the_limit_defaults_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RASA_TURNS_AT_ONCE", raising=False)
    assert turns_at_once() == DEFAULT_TURNS_AT_ONCE
    monkeypatch.setenv("RASA_TURNS_AT_ONCE", "8")
    assert turns_at_once() == 8
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("RASA_TURNS_AT_ONCE", bad)
        with pytest.raises(ValueError, match="RASA_TURNS_AT_ONCE must be a whole number"):
            limit_turns(lambda turn: asyncio.sleep(0))
