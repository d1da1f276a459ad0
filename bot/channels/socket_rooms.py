"""What the web chat's Rasa instances share about each conversation's sockets: who is connected,
who sends the kept messages, and the news that one was kept.

The socket.io channel (:mod:`bot.channels.socketio`) needs three things that, with one process,
its own memory answered, and with several instances behind a load balancer only a shared store
can:

- **presence**: whether a socket of a conversation is open on any instance; the last one to
  close (or to vanish with its instance) is told once, so the console notes that the owner left;
- **one at a time**: one conversation's kept messages go to one socket at a time, whichever
  instance holds it;
- **kept notices**: an instance that kept a message for a conversation (it holds none of its
  sockets) says so, and the instances that hold one send it.

:class:`MemoryRooms` is what ``make run`` uses (one process: a dict, asyncio locks, a direct
call); :class:`RedisRooms`, with ``REDIS_URL`` set, keeps them on Redis: a sorted set per
conversation of ``instance:sid`` members scored with their expiry (refreshed by their instance
while the socket is open, removed when it closes; an instance that dies leaves entries that
expire, and the conversation is then reported gone once), a Redis lock with a TTL (renewed while
its holder works), and a pub/sub channel. Times are Redis's own clock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from redis.asyncio import Redis  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "lorex:chat:"
SOCKET_TTL = 60.0  # seconds a socket's entry lives unless its instance renews it
RENEW_EVERY = SOCKET_TTL / 3
LOCK_TTL = 120.0  # seconds a resend holds its lock unless its holder renews it
SWEEP_BATCH = 100

OnKept = Callable[[str], Awaitable[None]]  # a conversation a message was kept for
OnGone = Callable[[str], Awaitable[None]]  # a conversation whose last socket vanished


class Held(Protocol):
    async def renew(self) -> None:
        """Still working: the lock is kept for another TTL (a no-op in memory)."""


class ChatRooms(Protocol):
    async def start(self, on_kept: OnKept, on_gone: OnGone) -> None:
        """From now on, ``on_kept`` hears of kept messages and ``on_gone`` of conversations
        whose every socket vanished with its instance. Idempotent."""

    async def joined(self, conversation_id: str, sid: str) -> None:
        """Socket ``sid`` (of this instance) was confirmed into ``conversation_id``."""

    async def left(self, conversation_id: str, sid: str) -> bool:
        """Socket ``sid`` left ``conversation_id``: whether it was the last one open anywhere
        (told to one caller only)."""

    async def open_anywhere(self, conversation_id: str) -> bool:
        """Whether a socket of ``conversation_id`` is open on any instance."""

    def one_at_a_time(self, conversation_id: str) -> Any:
        """An async context manager: held by one sender of ``conversation_id`` at a time;
        yields a :class:`Held`."""

    async def announce_kept(self, conversation_id: str) -> None:
        """A message was kept for ``conversation_id``: the instances holding its sockets hear."""

    async def close(self) -> None: ...


class _Nothing:
    async def renew(self) -> None:
        return None


class MemoryRooms:
    """One process: its sockets are all the sockets."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._on_kept: OnKept | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, on_kept: OnKept, on_gone: OnGone) -> None:
        self._on_kept = on_kept

    async def joined(self, conversation_id: str, sid: str) -> None:
        self._sockets.setdefault(conversation_id, set()).add(sid)

    async def left(self, conversation_id: str, sid: str) -> bool:
        sockets = self._sockets.get(conversation_id)
        if sockets is None:
            return False
        sockets.discard(sid)
        if sockets:
            return False
        del self._sockets[conversation_id]
        return True

    async def open_anywhere(self, conversation_id: str) -> bool:
        return bool(self._sockets.get(conversation_id))

    @asynccontextmanager
    async def one_at_a_time(self, conversation_id: str) -> AsyncIterator[Held]:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        self._users[conversation_id] = self._users.get(conversation_id, 0) + 1
        try:
            async with lock:
                yield _Nothing()
        finally:
            self._users[conversation_id] -= 1
            if not self._users[conversation_id]:  # forgotten when nobody holds or waits
                del self._users[conversation_id]
                del self._locks[conversation_id]

    async def announce_kept(self, conversation_id: str) -> None:
        if self._on_kept is not None:
            _spawn(self._tasks, self._on_kept(conversation_id))

    async def close(self) -> None:
        await _cancel(self._tasks)


# KEYS[1]: the conversation's sockets; KEYS[2]: the index of conversations with sockets.
# ARGV[1]: TTL (s); ARGV[2]: the conversation; ARGV[3...]: members (instance:sid).
_JOIN = """
local t = redis.call('TIME')
local expires = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[1])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], expires, ARGV[i]) end
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])))
redis.call('ZADD', KEYS[2], expires, ARGV[2])
"""
# The same keys; ARGV[1]: the member, ARGV[2]: the conversation. 1 for the last one out: the
# one that takes the conversation out of the index (a sweep may have done it already).
_LEAVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
return redis.call('ZREM', KEYS[2], ARGV[2])
"""
_OPEN = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
# KEYS[1]: the index; ARGV[1]: the sockets' key prefix; ARGV[2]: at most this many.
# The conversations whose every socket expired, each taken out of the index (by one sweeper).
_SWEEP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local gone = {}
for _, conversation in ipairs(due) do
  local key = ARGV[1] .. conversation
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('ZREM', KEYS[1], conversation)
    table.insert(gone, conversation)
  else
    redis.call('ZADD', KEYS[1], last[2], conversation)
  end
end
return gone
"""


class _RedisHeld:
    def __init__(self, lock: Any) -> None:
        self._lock = lock

    async def renew(self) -> None:
        await self._lock.reacquire()


class RedisRooms:
    """Several instances on one Redis; each :class:`RedisRooms` is one instance."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        socket_ttl: float = SOCKET_TTL,
        lock_ttl: float = LOCK_TTL,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._socket_ttl = socket_ttl
        self._lock_ttl = lock_ttl
        self.instance = uuid.uuid4().hex
        self._mine: dict[str, set[str]] = {}  # this instance's sockets, renewed while open
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._open = client.register_script(_OPEN)
        self._sweep = client.register_script(_SWEEP)
        self._pubsub: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = asyncio.Lock()

    def _sockets_key(self, conversation_id: str) -> str:
        return f"{self._prefix}sockets:{conversation_id}"

    @property
    def _index(self) -> str:
        return f"{self._prefix}present"

    @property
    def _kept_channel(self) -> str:
        return f"{self._prefix}kept"

    async def start(self, on_kept: OnKept, on_gone: OnGone) -> None:
        async with self._started:
            if self._pubsub is not None:
                return
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.subscribe(self._kept_channel)  # subscribed before anything is kept
            self._pubsub = pubsub
            _spawn(self._tasks, self._hear_kept(pubsub, on_kept))
            _spawn(self._tasks, self._renew_and_sweep(on_gone))

    async def joined(self, conversation_id: str, sid: str) -> None:
        self._mine.setdefault(conversation_id, set()).add(sid)
        await self._join(
            keys=[self._sockets_key(conversation_id), self._index],
            args=[self._socket_ttl, conversation_id, self._member(sid)],
        )

    async def left(self, conversation_id: str, sid: str) -> bool:
        mine = self._mine.get(conversation_id)
        if mine is not None:
            mine.discard(sid)
            if not mine:
                del self._mine[conversation_id]
        last = await self._leave(
            keys=[self._sockets_key(conversation_id), self._index],
            args=[self._member(sid), conversation_id],
        )
        return bool(last)

    async def open_anywhere(self, conversation_id: str) -> bool:
        return bool(await self._open(keys=[self._sockets_key(conversation_id)]))

    @asynccontextmanager
    async def one_at_a_time(self, conversation_id: str) -> AsyncIterator[Held]:
        # A Lock object per holder, its token not thread-local: tasks share one thread.
        lock = self._redis.lock(
            f"{self._prefix}sending:{conversation_id}",
            timeout=self._lock_ttl,
            sleep=0.1,
            thread_local=False,
        )
        await lock.acquire()
        try:
            yield _RedisHeld(lock)
        finally:
            with suppress(Exception):  # expired meanwhile: someone else may hold it now
                await lock.release()

    async def announce_kept(self, conversation_id: str) -> None:
        await self._redis.publish(self._kept_channel, conversation_id)

    async def renew(self) -> list[str]:
        """This instance's sockets live another TTL; returns the conversations whose every
        socket expired (their instance died), each to one caller."""
        for conversation_id, sids in list(self._mine.items()):
            if sids:
                await self._join(
                    keys=[self._sockets_key(conversation_id), self._index],
                    args=[self._socket_ttl, conversation_id, *map(self._member, sids)],
                )
        gone = await self._sweep(keys=[self._index], args=[f"{self._prefix}sockets:", SWEEP_BATCH])
        return [_text(conversation_id) for conversation_id in gone]

    async def close(self) -> None:
        await _cancel(self._tasks)
        if self._pubsub is not None:
            with suppress(Exception):
                await self._pubsub.close()
            self._pubsub = None
        await self._redis.close()

    def _member(self, sid: str) -> str:
        return f"{self.instance}:{sid}"

    async def _hear_kept(self, pubsub: Any, on_kept: OnKept) -> None:
        handling: set[asyncio.Task[None]] = set()
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                await _cancel(handling)
                raise
            except Exception as error:  # Redis away: try again shortly
                logger.warning("kept-message notices: %s; retrying", type(error).__name__)
                await asyncio.sleep(1.0)
                continue
            if message is not None and message.get("type") == "message":
                _spawn(handling, on_kept(_text(message["data"])))

    async def _renew_and_sweep(self, on_gone: OnGone) -> None:
        while True:
            await asyncio.sleep(min(RENEW_EVERY, self._socket_ttl / 3))
            try:
                for conversation_id in await self.renew():
                    await on_gone(conversation_id)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                logger.warning("could not renew the web chat's sockets: %s", type(error).__name__)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _spawn(tasks: set[asyncio.Task[None]], work: Awaitable[None]) -> None:
    async def run() -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("web chat rooms: a background step failed")

    task = asyncio.ensure_future(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _cancel(tasks: set[asyncio.Task[None]]) -> None:
    for task in list(tasks):
        task.cancel()
    for task in list(tasks):
        with suppress(BaseException):
            await task
