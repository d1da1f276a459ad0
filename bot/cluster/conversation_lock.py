"""One turn at a time per conversation, across every Rasa instance: a fair lock on Redis.

Rasa's own ``RedisLockStore`` keeps each conversation's ticket queue as one JSON value that every
instance reads, changes and writes back, in three separate commands. Two instances taking a ticket
at the same moment can both get the same number and work on the same conversation at once, and a
release (read, remove, then delete the key if no one waits) can delete a ticket issued in between.
Its tickets also live a fixed 60 s: when an instance dies mid-turn, the conversation's next
message waits that long, longer than Twilio waits for a webhook's answer.

So this line is two sorted sets per conversation (tickets by number, and by the time each must be
renewed by), changed only by Lua scripts (each one atomic on
Redis), on Redis's clock (one clock for every machine):

* taking a ticket: the next number from a counter, added with the time its holder must renew it
  by;
* holding: the holder renews its ticket every ``lifetime / 3``; a ticket not renewed in
  ``lifetime`` (its instance died or hangs) is dropped by whoever looks next;
* the lock is held by the lowest live ticket; waiters poll every ``poll`` seconds;
* releasing: the ticket is removed.

Tickets are served in the order they were taken, as with Rasa's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)

from bot.cluster.renewal import keep_renewed

DEFAULT_PREFIX = "lorex:lock:"
# Seconds without renewal after which a ticket is dropped: how long a dead instance holds up its
# conversations. Renewed every third of it, so a busy event loop has two chances.
DEFAULT_LIFETIME = 6.0
DEFAULT_POLL = 0.02  # seconds between two looks while waiting (a turn takes milliseconds)
# A conversation's keys outlive its last turn by this long (then Redis forgets them).
IDLE_EXPIRY_SECONDS = 3600

# KEYS: the line (tickets by number), their deadlines (by renewal deadline), the counter.
# ARGV: lifetime (ms), idle expiry (s). Returns the new ticket's number.
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local number = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], number, number)
redis.call('ZADD', KEYS[2], ms + tonumber(ARGV[1]), number)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return number
"""
# KEYS: the line, the deadlines. ARGV: the ticket, lifetime (ms). Drops the tickets past their
# deadline and renews this one; returns 1 if it is first in line, 0 if it waits, -1 if it was
# dropped (not renewed in time).
_LOOK = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ms)
for _, number in ipairs(expired) do
  redis.call('ZREM', KEYS[1], number)
  redis.call('ZREM', KEYS[2], number)
end
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return -1 end
redis.call('ZADD', KEYS[2], 'XX', ms + tonumber(ARGV[2]), ARGV[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0)
if first[1] == ARGV[1] then return 1 end
return 0
"""
# KEYS: the line, the deadlines. ARGV: the ticket.
_GIVE_UP = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


class LockLost(Exception):
    """A ticket was dropped before its turn came: it was not renewed within its lifetime."""


class RedisConversationLocks:
    """Per-conversation fair locks on Redis, shared by every instance using ``client``."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        lifetime: float = DEFAULT_LIFETIME,
        poll: float = DEFAULT_POLL,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._redis = client
        self._lifetime_ms = int(lifetime * 1000)
        self._renew_every = lifetime / 3
        self._poll = poll
        self._prefix = prefix
        self._take = client.register_script(_TAKE)
        self._look = client.register_script(_LOOK)
        self._give_up = client.register_script(_GIVE_UP)

    def _keys(self, conversation_id: str) -> list[str]:
        """The line, the deadlines, the counter (one hash slot: the braces)."""
        base = f"{self._prefix}{{{conversation_id}}}"
        return [f"{base}:line", f"{base}:deadlines", f"{base}:next"]

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        """Wait for ``conversation_id``'s turn, hold it while the block runs, then give it up."""
        keys = self._keys(conversation_id)
        ticket = int(
            await asyncio.to_thread(
                self._take, keys=keys, args=[self._lifetime_ms, IDLE_EXPIRY_SECONDS]
            )
        )
        queue = keys[:2]
        try:
            await self._wait_for(queue, ticket)
            renewing = asyncio.create_task(
                keep_renewed(
                    lambda: int(self._look(keys=queue, args=[ticket, self._lifetime_ms])) != -1,
                    self._renew_every,
                    "a conversation lock",
                )
            )
            try:
                yield
            finally:
                renewing.cancel()
        finally:
            await asyncio.to_thread(self._give_up, keys=queue, args=[ticket])

    async def _wait_for(self, queue: list[str], ticket: int) -> None:
        # Each look renews the ticket too, so a long wait keeps its place.
        while True:
            place = int(
                await asyncio.to_thread(self._look, keys=queue, args=[ticket, self._lifetime_ms])
            )
            if place == 1:
                return
            if place == -1:
                raise LockLost(f"a turn's ticket expired while it waited (ticket {ticket})")
            await asyncio.sleep(self._poll)
