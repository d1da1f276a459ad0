"""A message sent again is processed once: the turn records (bot/cluster/turn_records.py), in
memory (one instance) and on a real Redis (several), through one contract."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis

from bot.cluster.turn_records import (
    MemoryTurnRecords,
    RedisTurnRecords,
    TurnRecords,
    client_message_id,
)
from tests.conftest import REDIS_URL

HANG_GUARD = 20.0
REPLY = [{"method": "send_text_message", "args": ["owner", "Hello"], "kwargs": {}}]
MESSAGE = "client:3b0e6f6e-9d7c-4bb6-9a53"


@pytest.fixture(params=["memory", "redis"])
def instances(request: pytest.FixtureRequest) -> Callable[[], TurnRecords]:
    """``instances()`` is another instance's records (memory: the same process's)."""
    if request.param == "memory":
        shared = MemoryTurnRecords()
        return lambda: shared
    prefix = request.getfixturevalue("redis_prefix")
    return lambda: RedisTurnRecords(
        redis.Redis.from_url(REDIS_URL), claim_lifetime=0.6, poll=0.01, prefix=prefix
    )


def run(coroutine: object) -> object:
    return asyncio.run(asyncio.wait_for(coroutine, HANG_GUARD))  # type: ignore[arg-type]


def test_the_first_copy_runs_and_a_later_copy_gets_its_replies(
    instances: Callable[[], TurnRecords],
) -> None:
    first, later = instances(), instances()
    ran: list[str] = []

    async def main() -> None:
        async with first.turn("owner", MESSAGE) as turn:
            assert turn.replies is None and not turn.earlier_attempt
            ran.append("first")
            turn.finish(REPLY)
        async with later.turn("owner", MESSAGE) as copy:
            assert copy.replies == REPLY

    run(main())
    assert ran == ["first"]


def test_a_copy_that_comes_while_the_first_runs_waits_for_its_replies(
    instances: Callable[[], TurnRecords],
) -> None:
    first, copy_instance = instances(), instances()
    order: list[str] = []

    async def first_copy() -> None:
        async with first.turn("owner", MESSAGE) as turn:
            order.append("first starts")
            await asyncio.sleep(0.3)
            order.append("first ends")
            turn.finish(REPLY)

    async def second_copy() -> None:
        await asyncio.sleep(0.05)
        async with copy_instance.turn("owner", MESSAGE) as turn:
            order.append("copy answered")
            assert turn.replies == REPLY

    async def main() -> None:
        await asyncio.gather(first_copy(), second_copy())

    run(main())
    assert order == ["first starts", "first ends", "copy answered"]


def test_a_failed_turn_leaves_no_record_so_its_copy_runs(
    instances: Callable[[], TurnRecords],
) -> None:
    records = instances()

    async def main() -> None:
        async with records.turn("owner", MESSAGE) as turn:
            assert turn.replies is None  # and the turn fails: no finish
        async with records.turn("owner", MESSAGE) as again:
            assert again.replies is None and not again.earlier_attempt
            again.finish(REPLY)

    run(main())


def test_other_messages_and_conversations_are_apart(instances: Callable[[], TurnRecords]) -> None:
    records = instances()

    async def main() -> None:
        async with records.turn("owner", MESSAGE) as turn:
            turn.finish(REPLY)
        async with records.turn("owner", "client:another-message") as other:
            assert other.replies is None
        async with records.turn("someone-else", MESSAGE) as theirs:
            assert theirs.replies is None

    run(main())


@pytest.mark.parametrize("instances", ["redis"], indirect=True)
def test_a_turn_whose_instance_died_runs_again_told_of_the_earlier_attempt(
    instances: Callable[[], TurnRecords],
) -> None:
    dying, survivor = instances(), instances()
    dead: list[object] = []  # kept, so that nothing finalises the dead instance's turn

    async def dies_mid_turn() -> None:
        # SIGKILL, as seen from Redis: the claim is taken, then never renewed nor given up.
        context = dying.turn("owner", MESSAGE)
        dead.append(context)
        await context.__aenter__()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task() and "keep_renewed" in repr(task):
                task.cancel()

    async def main() -> None:
        await dies_mid_turn()
        async with survivor.turn("owner", MESSAGE) as turn:
            assert turn.replies is None
            assert turn.earlier_attempt
            turn.finish(REPLY)
        async with survivor.turn("owner", MESSAGE) as copy:
            assert copy.replies == REPLY

    run(main())


@pytest.mark.parametrize(
    ("key", "message_id"),
    [
        ("3b0e6f6e-9d7c-4bb6-9a53-28c1d1b8e0f4", "client:3b0e6f6e-9d7c-4bb6-9a53-28c1d1b8e0f4"),
        ("w.1733300000.Ab_9", "client:w.1733300000.Ab_9"),
        ("short", None),
        ("x" * 129, None),
        ("has space in it", None),
        ("newline\ninside", None),
        (12345678, None),
        (None, None),
    ],
)
def test_only_a_well_formed_key_becomes_a_message_id(key: object, message_id: str | None) -> None:
    assert client_message_id(key) == message_id
