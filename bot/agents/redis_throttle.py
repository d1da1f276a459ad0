"""The console's login throttle on Redis, shared by several console processes.

The same counters, limits and windows as :class:`bot.agents.throttle.MemoryThrottle`: each
counter is a hash ``<prefix>login:<key>`` of its attempts and the time of the last one, and
checking and counting every counter of an attempt is one Lua script, so parallel attempts on
several consoles see each other. Times are Redis's own clock (one clock for every process),
unless a ``clock`` is given (tests). A counter's key expires once it would be forgotten anyway;
Redis's memory bounds the number of counters (no counter is pushed out for another).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)

from bot.agents.throttle import FORGET_AFTER, MAX_DELAY, AttemptCounter

DEFAULT_PREFIX = "lorex:"

# KEYS: the counters. ARGV: now ('' for Redis's clock), FORGET_AFTER, MAX_DELAY, the key's
# lifetime in ms, then each counter's free attempts. Returns the seconds to wait, as text
# (Redis would round a number to a whole one).
_ADMIT = """
local now
if ARGV[1] == '' then
  local time = redis.call('TIME')
  now = tonumber(time[1]) + tonumber(time[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local forget_after, max_delay = tonumber(ARGV[2]), tonumber(ARGV[3])
local wait, counts = 0, {}
for i, key in ipairs(KEYS) do
  local held = redis.call('HMGET', key, 'count', 'last')
  local count, last = tonumber(held[1]) or 0, tonumber(held[2]) or 0
  if now - last > forget_after then count = 0 end
  counts[i] = count
  local free = tonumber(ARGV[4 + i])
  if count >= free then
    wait = math.max(wait, last + math.min(2 ^ (count - free), max_delay) - now)
  end
end
if wait > 0 then return string.format('%.6f', wait) end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'count', counts[i] + 1, 'last', string.format('%.6f', now))
  redis.call('PEXPIRE', key, ARGV[4])
end
return '0'
"""
# KEYS: the counters; ARGV: '1' for a counter a success clears, '0' for one it gives an
# attempt back to.
_SUCCEEDED = """
for i, key in ipairs(KEYS) do
  if ARGV[i] == '1' then
    redis.call('DEL', key)
  else
    local count = tonumber(redis.call('HGET', key, 'count'))
    if count and count > 0 then redis.call('HSET', key, 'count', count - 1) end
  end
end
return 0
"""


class RedisThrottle:
    """:class:`~bot.agents.throttle.LoginThrottle` on Redis."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        clock: Callable[[], float] | None = None,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._redis = client
        self._clock = clock
        self._prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._succeeded = client.register_script(_SUCCEEDED)
        # Kept a second past being forgotten: the script, not the expiry, decides at the border.
        self._lifetime_ms = math.ceil(FORGET_AFTER * 1000) + 1000

    def admit(self, *counters: AttemptCounter) -> float:
        if not counters:
            return 0.0
        now = "" if self._clock is None else repr(float(self._clock()))
        wait = self._admit(
            keys=[self._key(counter) for counter in counters],
            args=[
                now,
                FORGET_AFTER,
                MAX_DELAY,
                self._lifetime_ms,
                *(counter.free_attempts for counter in counters),
            ],
        )
        return max(0.0, float(wait))

    def succeeded(self, *counters: AttemptCounter) -> None:
        if counters:
            self._succeeded(
                keys=[self._key(counter) for counter in counters],
                args=["1" if counter.cleared_by_success else "0" for counter in counters],
            )

    def close(self) -> None:
        self._redis.close()

    def _key(self, counter: AttemptCounter) -> str:
        return f"{self._prefix}login:{counter.key}"
