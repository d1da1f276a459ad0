"""Slowing down password guessing at the console's login.

Each login attempt is counted against one or more counters (the account, the client's address,
or a browser the agent has logged in with before) *when it starts*, in one step that checks and
counts together: a parallel flood then gets only the free attempts checked, instead of every
attempt that arrived before the first failure was known. Beyond its free attempts a counter makes
the next attempt wait 1 s, 2 s, 4 s ... up to :data:`MAX_DELAY` after the previous one; a
quarter of an hour without attempts starts it afresh.

:class:`LoginThrottle` is the interface the console uses; :class:`MemoryThrottle` keeps the
counts in the console process (one process; a restart forgetting them is harmless), bounded in
size; :class:`bot.agents.redis_throttle.RedisThrottle` keeps them on Redis, shared by several
console processes. :func:`bot.bootstrap.login_throttle` chooses by ``REDIS_URL``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

FREE_ATTEMPTS = 3
# An address is shared by everyone behind one office's proxy: its allowance covers several agents'
# typos; it is there to stop one client trying a password on many accounts.
ADDRESS_FREE_ATTEMPTS = 20
MAX_DELAY = 300.0
FORGET_AFTER = 900.0
MAX_KEYS = 50_000  # about 10 MB; the least recently used counts are forgotten first


@dataclass(frozen=True)
class AttemptCounter:
    """One thing attempts are counted against.

    ``cleared_by_success``: a successful login wipes the count (an account, a known browser);
    otherwise it only takes back its own attempt (an address shared with others, where a
    success says nothing about the other attempts)."""

    key: str
    free_attempts: int = FREE_ATTEMPTS
    cleared_by_success: bool = True


class LoginThrottle(Protocol):
    def admit(self, *counters: AttemptCounter) -> float:
        """Atomically: count an attempt on every counter and return 0, or, if any of them must
        still wait, return the seconds to wait and count nothing."""

    def succeeded(self, *counters: AttemptCounter) -> None:
        """The attempt admitted with ``counters`` logged in."""


@dataclass
class _Attempts:
    count: int = 0
    last: float = 0.0


class MemoryThrottle:
    """:class:`LoginThrottle` in this process's memory, for at most ``max_keys`` counters."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._attempts: OrderedDict[str, _Attempts] = OrderedDict()  # least recently used first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._attempts)

    def admit(self, *counters: AttemptCounter) -> float:
        with self._lock:
            now = self._clock()
            self._forget_stale(now)
            wait = max((self._wait(counter, now) for counter in counters), default=0.0)
            for counter in counters:
                attempts = self._current(counter.key, now)
                if wait == 0:
                    if attempts is None:
                        attempts = self._attempts[counter.key] = _Attempts()
                    attempts.count += 1
                    attempts.last = now
                if attempts is not None:
                    # Kept as recently used even when refused: the counter of an account under
                    # attack must not be the one a flood of new usernames pushes out.
                    self._attempts.move_to_end(counter.key)
            while len(self._attempts) > self._max_keys:
                self._attempts.popitem(last=False)
            return wait

    def succeeded(self, *counters: AttemptCounter) -> None:
        with self._lock:
            for counter in counters:
                if counter.cleared_by_success:
                    self._attempts.pop(counter.key, None)
                elif (attempts := self._attempts.get(counter.key)) is not None:
                    attempts.count = max(0, attempts.count - 1)

    def _current(self, key: str, now: float) -> _Attempts | None:
        attempts = self._attempts.get(key)
        if attempts is not None and now - attempts.last > FORGET_AFTER:
            del self._attempts[key]
            return None
        return attempts

    def _wait(self, counter: AttemptCounter, now: float) -> float:
        attempts = self._current(counter.key, now)
        if attempts is None or attempts.count < counter.free_attempts:
            return 0.0
        delay = min(2.0 ** (attempts.count - counter.free_attempts), MAX_DELAY)
        return max(0.0, attempts.last + delay - now)

    def _forget_stale(self, now: float) -> None:
        while self._attempts:
            key, attempts = next(iter(self._attempts.items()))
            if now - attempts.last <= FORGET_AFTER:
                break
            del self._attempts[key]
