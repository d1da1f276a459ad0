"""Temporary passwords on their way to the user, held in the assistant process's memory only.

The console deposits a released password here (through :mod:`bot.channels.handoff`); the
assistant's message carries the release's reference; the output channel takes the password out
when it sends that message to the conversation's own user. Taking removes it: it is given once.
A channel that learns only afterwards whether the message arrived (the web chat's socket answers
for it) lends it instead: while lent nobody else gets it, and it is then settled as given
(removed) or not (there for the next try). Nothing here is written anywhere, and whatever is
not collected within :data:`HOLD_FOR` is dropped (the agent can release a new one).
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
    _lent: set[str] = field(default_factory=set)
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
            deposit = self._available(reference, conversation_id)
            if deposit is not None:
                del self._deposits[reference]
            return deposit

    def lend(self, reference: str, conversation_id: str) -> Deposit | None:
        """As :meth:`take`, but the password stays here, out of anyone else's reach, until
        :meth:`settle` says whether it was given."""
        with self._lock:
            deposit = self._available(reference, conversation_id)
            if deposit is not None:
                self._lent.add(reference)
            return deposit

    def settle(self, reference: str, *, given: bool) -> None:
        """A lent password was given (it goes) or not (it can be taken or lent again)."""
        with self._lock:
            self._lent.discard(reference)
            if given:
                self._deposits.pop(reference, None)
            self._drop_stale()

    def _available(self, reference: str, conversation_id: str) -> Deposit | None:
        self._drop_stale()
        deposit = self._deposits.get(reference)
        if deposit is None or deposit.conversation_id != conversation_id:
            return None
        return None if reference in self._lent else deposit

    def __len__(self) -> int:
        with self._lock:
            self._drop_stale()
            return len(self._deposits)

    def _drop_stale(self) -> None:
        now = self.clock()
        for reference in [
            ref
            for ref, dep in self._deposits.items()
            if now - dep.deposited > self.hold_for and ref not in self._lent
        ]:
            del self._deposits[reference]


# The assistant process's one vault: the deposit endpoint and the output channels share it.
VAULT = PasswordVault()
