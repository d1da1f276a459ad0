"""Rasa's lock store (endpoints.yml's ``lock_store``): one turn at a time per conversation.

With one instance (no ``REDIS_URL``), Rasa's own in-memory lock store, as before. With several,
the fair lock on Redis of :mod:`bot.cluster.conversation_lock`, which fixes what Rasa's
``RedisLockStore`` gets wrong across instances (see there). Rasa builds this class by name from
endpoints.yml; it reaches the process's services through :func:`bot.bootstrap.rasa_process`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockStore

from bot.bootstrap import rasa_process


class ConversationLockStore(LockStore):
    def __init__(self, endpoint_config: Any = None) -> None:
        super().__init__()
        self._shared = rasa_process().conversation_locks
        self._local = InMemoryLockStore()

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        if self._shared is None:
            async with self._local.lock(
                conversation_id, lock_lifetime, wait_time_in_seconds
            ) as held:
                yield held
            return
        async with self._shared.hold(conversation_id):
            # Rasa's callers only wait for the lock; they do not look inside it.
            yield TicketLock(conversation_id)

    # Rasa's ticket-level interface, used only by its own lock() (the in-memory case).
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return self._local.get_lock(conversation_id)

    def delete_lock(self, conversation_id: str) -> None:
        self._local.delete_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        self._local.save_lock(lock)
