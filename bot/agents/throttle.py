"""Slowing down repeated failed logins.

After a few failures for the same username (or from the same address), each further attempt must
wait longer: 1 s, 2 s, 4 s ... up to :data:`MAX_DELAY`. A success clears the username's count.
Kept in memory: the console is one process, and a restart forgetting the counts is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

FREE_ATTEMPTS = 3
ADDRESS_FREE_ATTEMPTS = 20  # for a key shared by several people (one office's address)
MAX_DELAY = 300.0
FORGET_AFTER = 900.0  # a quarter of an hour without failures starts afresh


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


@dataclass
class LoginThrottle:
    clock: Callable[[], float] = time.monotonic
    free_attempts: int = FREE_ATTEMPTS
    _failures: dict[str, _Failures] = field(default_factory=dict)

    def wait_seconds(self, *keys: str) -> float:
        """How long until another attempt for any of ``keys`` is allowed (0: now)."""
        now = self.clock()
        waits = [0.0]
        for key in keys:
            failures = self._failures.get(key)
            if failures is None or now - failures.last > FORGET_AFTER:
                continue
            if failures.count >= self.free_attempts:
                delay = min(2.0 ** (failures.count - self.free_attempts), MAX_DELAY)
                waits.append(max(0.0, failures.last + delay - now))
        return max(waits)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            failures = self._failures.get(key)
            if failures is None or now - failures.last > FORGET_AFTER:
                failures = self._failures[key] = _Failures()
            failures.count += 1
            failures.last = now

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
