"""Temporary passwords on their way to the user: the vault the output channels take them from.

The console deposits a released password here (through :mod:`bot.channels.handoff`); the
assistant's message carries the release's reference; the output channel takes the password out
when it sends that message to the conversation's own user. Taking removes it: it is given once.
A channel that learns only afterwards whether the message arrived (the web chat's socket answers
for it) lends it instead: while lent nobody else gets it, and it is then settled as given
(removed) or not (there for the next try). Whatever is not collected within :data:`HOLD_FOR`, or
by the time the recorder stops accepting it, is dropped (the agent can release a new one).

:class:`PasswordVault` is the interface the channels use. :class:`MemoryVault` keeps the
passwords in the Rasa process's memory (one instance, `make run`; nothing is written anywhere);
:class:`bot.handoff.redis_vault.RedisVault` keeps them encrypted on Redis, shared by several
instances. :func:`bot.bootstrap.password_vault` chooses by ``REDIS_URL``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from bot.handoff.temporary_password import TemporaryPassword

HOLD_FOR = 30 * 60.0  # seconds


@dataclass(frozen=True)
class Deposit:
    conversation_id: str
    password: TemporaryPassword
    expires_at: datetime  # when the recorder stops accepting it


class PasswordVault(Protocol):
    def deposit(
        self,
        reference: str,
        conversation_id: str,
        password: TemporaryPassword,
        expires_at: datetime,
    ) -> None:
        """Hold ``password`` for ``conversation_id`` under ``reference`` (replacing what was
        there), until it is given, :data:`HOLD_FOR` has passed, or ``expires_at``."""

    def take(self, reference: str, conversation_id: str) -> Deposit | None:
        """The password for ``reference`` if it is for ``conversation_id``; given only once,
        even to several instances asking at the same moment."""

    def lend(self, reference: str, conversation_id: str) -> Deposit | None:
        """As :meth:`take`, but the password stays here, out of anyone else's reach, until
        :meth:`settle` says whether it was given."""

    def settle(self, reference: str, *, given: bool) -> None:
        """A lent password was given (it goes) or not (it can be taken or lent again)."""

    def close(self) -> None:
        """Let go of connections (the process's services are dropped)."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _Held:
    deposit: Deposit
    deposited: float  # clock reading


@dataclass
class MemoryVault:
    """:class:`PasswordVault` in this process's memory."""

    clock: Callable[[], float] = time.monotonic
    hold_for: float = HOLD_FOR
    now: Callable[[], datetime] = utc_now  # the wall clock, for the release's validity
    _held: dict[str, _Held] = field(default_factory=dict)
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
            self._lent.discard(reference)
            self._held[reference] = _Held(
                Deposit(conversation_id, password, expires_at), self.clock()
            )
            self._drop_stale()

    def take(self, reference: str, conversation_id: str) -> Deposit | None:
        with self._lock:
            deposit = self._available(reference, conversation_id)
            if deposit is not None:
                del self._held[reference]
            return deposit

    def lend(self, reference: str, conversation_id: str) -> Deposit | None:
        with self._lock:
            deposit = self._available(reference, conversation_id)
            if deposit is not None:
                self._lent.add(reference)
            return deposit

    def settle(self, reference: str, *, given: bool) -> None:
        with self._lock:
            self._lent.discard(reference)
            if given:
                self._held.pop(reference, None)
            self._drop_stale()

    def close(self) -> None:
        pass

    def _available(self, reference: str, conversation_id: str) -> Deposit | None:
        self._drop_stale()
        held = self._held.get(reference)
        if held is None or held.deposit.conversation_id != conversation_id:
            return None
        return None if reference in self._lent else held.deposit

    def __len__(self) -> int:
        with self._lock:
            self._drop_stale()
            return len(self._held)

    def _drop_stale(self) -> None:
        clock, now = self.clock(), self.now()
        for reference in [
            ref
            for ref, held in self._held.items()
            if (clock - held.deposited > self.hold_for or now >= held.deposit.expires_at)
            and ref not in self._lent  # on its way: kept until settled
        ]:
            del self._held[reference]
