"""Temporary passwords on their way to the user, held in the assistant process's memory only.

The console deposits a released password here (through :mod:`bot.channels.handoff`); the
assistant's message carries the release's reference; the output channel takes the password out
when it sends that message to the conversation's own user. Taking removes it: it is given once.
Nothing here is written anywhere, and whatever is not collected within :data:`HOLD_FOR` is
dropped (the agent can release a new one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bot.handoff.temporary_password import TemporaryPassword

HOLD_FOR = 30 * 60.0  # seconds


@dataclass(frozen=True)
class Deposit:
    conversation_id: str
    password: TemporaryPassword
    expires_at: datetime  # when the recorder stops accepting it
    deposited: float  # clock reading


@dataclass
class PasswordVault:
    clock: Callable[[], float] = time.monotonic
    hold_for: float = HOLD_FOR
    _deposits: dict[str, Deposit] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def deposit(
        self,
        reference: str,
        conversation_id: str,
        password: TemporaryPassword,
        expires_at: datetime,
    ) -> None:
        with self._lock:
            self._drop_stale()
            self._deposits[reference] = Deposit(conversation_id, password, expires_at, self.clock())

    def take(self, reference: str, conversation_id: str) -> Deposit | None:
        """The password for ``reference`` if it is for ``conversation_id``; given only once."""
        with self._lock:
            self._drop_stale()
            deposit = self._deposits.get(reference)
            if deposit is None or deposit.conversation_id != conversation_id:
                return None
            del self._deposits[reference]
            return deposit

    def __len__(self) -> int:
        with self._lock:
            self._drop_stale()
            return len(self._deposits)

    def _drop_stale(self) -> None:
        now = self.clock()
        for reference in [
            ref for ref, dep in self._deposits.items() if now - dep.deposited > self.hold_for
        ]:
            del self._deposits[reference]


# The assistant process's one vault: the deposit endpoint and the output channels share it.
VAULT = PasswordVault()
