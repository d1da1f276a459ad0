"""One turn at a time per conversation across instances: the fair lock on a real Redis
(bot/cluster/conversation_lock.py), and the lock store Rasa builds from endpoints.yml."""

from __future__ import annotations

import asyncio
import base64

import pytest
import redis
from rasa.core.lock_store import InMemoryLockStore, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.bootstrap import rasa_process
from bot.cluster.conversation_lock import _TAKE, RedisConversationLocks
from tests.conftest import REDIS_URL

HANG_GUARD = 20.0  # seconds: a test that waits longer has hung, whatever the machine's load


def instance(prefix: str, lifetime: float = 6.0) -> RedisConversationLocks:
    """Another instance: its own client (own connections) on the same Redis."""
    return RedisConversationLocks(redis.Redis.from_url(REDIS_URL), lifetime=lifetime, prefix=prefix)


def test_two_instances_never_run_one_conversations_turns_at_once(redis_prefix: str) -> None:
    instances = [instance(redis_prefix), instance(redis_prefix)]
    inside: list[int] = []
    overlaps: list[tuple[int, ...]] = []
    done: list[int] = []

    async def turn(number: int) -> None:
        async with instances[number % 2].hold("conversation-1"):
            inside.append(number)
            if len(inside) > 1:
                overlaps.append(tuple(inside))
            await asyncio.sleep(0.002)  # the turn waits on the action server
            inside.remove(number)
            done.append(number)

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(*(turn(n) for n in range(40))), HANG_GUARD)

    asyncio.run(main())
    assert overlaps == []
    assert sorted(done) == list(range(40))


def test_turns_are_served_in_the_order_they_came(redis_prefix: str) -> None:
    first, second = instance(redis_prefix), instance(redis_prefix)
    served: list[str] = []

    async def turn(locks: RedisConversationLocks, name: str) -> None:
        async with locks.hold("conversation-1"):
            served.append(name)

    async def main() -> None:
        async with first.hold("conversation-1"):
            waiting = []
            for number, name in enumerate("abcdef"):
                waiting.append(asyncio.create_task(turn((first, second)[number % 2], name)))
                await asyncio.sleep(0.05)  # each has taken its ticket before the next comes
        await asyncio.wait_for(asyncio.gather(*waiting), HANG_GUARD)

    asyncio.run(main())
    assert served == list("abcdef")


def test_other_conversations_do_not_wait(redis_prefix: str) -> None:
    locks = instance(redis_prefix)

    async def main() -> None:
        async with locks.hold("conversation-1"), locks.hold("conversation-2"):
            return

    asyncio.run(asyncio.wait_for(main(), HANG_GUARD))


def test_a_turn_held_by_a_dead_instance_is_freed_once_its_ticket_lapses(
    redis_prefix: str,
) -> None:
    # An instance took the conversation's ticket, then died (SIGKILL): it never renews nor
    # releases it. The next turn, on another instance, goes ahead once the ticket lapses.
    client = redis.Redis.from_url(REDIS_URL)
    base = f"{redis_prefix}{{conversation-1}}"
    client.register_script(_TAKE)(
        keys=[f"{base}:line", f"{base}:deadlines", f"{base}:next"], args=[500, 60]
    )
    survivor = instance(redis_prefix, lifetime=0.5)
    served: list[str] = []

    async def main() -> None:
        async with survivor.hold("conversation-1"):
            served.append("next turn")

    asyncio.run(asyncio.wait_for(main(), HANG_GUARD))
    assert served == ["next turn"]


def test_a_live_turn_longer_than_the_lifetime_keeps_the_conversation(redis_prefix: str) -> None:
    # Renewal: a slow turn (an action server taking its time) is not overtaken.
    first, second = instance(redis_prefix, lifetime=0.3), instance(redis_prefix, lifetime=0.3)
    events: list[str] = []

    async def slow() -> None:
        async with first.hold("conversation-1"):
            events.append("slow starts")
            await asyncio.sleep(1.0)
            events.append("slow ends")

    async def quick() -> None:
        await asyncio.sleep(0.1)
        async with second.hold("conversation-1"):
            events.append("quick")

    async def main() -> None:
        await asyncio.wait_for(asyncio.gather(slow(), quick()), HANG_GUARD)

    asyncio.run(main())
    assert events == ["slow starts", "slow ends", "quick"]


def _lock_store(monkeypatch: pytest.MonkeyPatch, redis_url: str | None) -> LockStore:
    if redis_url:
        monkeypatch.setenv("REDIS_URL", redis_url)
        monkeypatch.setenv("VAULT_KEY", base64.urlsafe_b64encode(bytes(32)).decode())
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
    return LockStore.create(
        EndpointConfig(type="bot.channels.lock_store.ConversationLockStore")
    )


def test_endpoints_lock_store_is_in_memory_without_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _lock_store(monkeypatch, None)
    assert rasa_process().conversation_locks is None

    async def main() -> None:
        async with store.lock("conversation-1"):
            assert store.get_lock("conversation-1") is not None

    asyncio.run(main())
    assert isinstance(store._local, InMemoryLockStore)  # type: ignore[attr-defined]


def test_endpoints_lock_store_is_shared_on_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    store = _lock_store(monkeypatch, REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL)
    conversation = "lock-store-test-conversation"

    async def main() -> None:
        async with store.lock(conversation):
            assert client.exists(f"lorex:lock:{{{conversation}}}:line")
            assert store.get_lock(conversation) is None  # nothing in this process's memory

    asyncio.run(main())
    assert not client.zcard(f"lorex:lock:{{{conversation}}}:line")
