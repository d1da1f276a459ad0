"""What the phone channel keeps about each call between two of Twilio's webhooks.

One :class:`~bot.phone.call_state.Call` per Twilio ``CallSid`` (the conversation's sender id):
the turn-taking state (what was last asked, how many reprompts, the Device ID pieces heard so
far, the IDs being read back), the messages the assistant produced while the caller was on hold,
and a revealed temporary password kept for repeating (until the call ends or the password stops
being valid).

Any instance serves any webhook of a call: the call is kept in a :class:`CallStore`, loaded at the
start of a request and saved at its end (:mod:`bot.phone.once`), and nothing about it stays in an
instance between two requests. The requests of one call are served one at a time, under the
call's lock (:mod:`bot.phone.call_lock`); a save checks the version it loaded, so a request that
outlived its lock, or a call that ended meanwhile, never overwrites a newer state. Pushed
messages are a list of their own, appended without the lock, removed only once a saved request
spoke them. Two stores: :class:`MemoryCalls` in this process (``make run``, one instance) and
:class:`~bot.phone.redis_calls.RedisCalls` (``REDIS_URL``: several instances), chosen in
:func:`bot.bootstrap.call_store`; tests/test_call_store.py holds both to one contract.

The store is also the replay guard (:meth:`CallStore.seen`): the signatures of the requests
already answered (a legitimate request never repeats one, since every answer's URLs carry a fresh
turn token) with Twilio's idempotency token, and the calls that have ended (a request for one gets
a hang-up, never a new conversation turn). A signature seen on any instance is seen on all.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from bot.phone.call_state import (
    CALL_KEPT_SECONDS,
    CALL_SID,
    ENDED_REMEMBERED_SECONDS,
    RECORD_FORMAT,
    REQUESTS_REMEMBERED_SECONDS,
    Call,
    Seen,
    is_call_sid,
    new_turn,
    utc_now,
)

__all__ = [
    "CALL_KEPT_SECONDS",
    "CALL_SID",
    "ENDED_REMEMBERED_SECONDS",
    "RECORD_FORMAT",
    "REQUESTS_REMEMBERED_SECONDS",
    "Call",
    "CallStore",
    "Calls",
    "MemoryCalls",
    "Seen",
    "is_call_sid",
    "new_turn",
]

# Bounds on memory (MemoryCalls), the oldest forgotten first: measured 350 and 270 bytes a
# request and an ended call, so at most 35 MB and 27 MB. A hundred thousand requests is two
# thousand calls of fifty turns an hour; ten thousand calls at once is far beyond one instance.
MAX_REQUESTS_REMEMBERED = 100_000
MAX_ENDED_REMEMBERED = 100_000
MAX_CALLS = 10_000

V = TypeVar("V")


class CallStore(Protocol):
    """The calls in progress and the replay guard, shared by every instance using the store."""

    def seen(self, signature: str, idempotency_token: str) -> Seen:
        """Whether a request with this signature came before (and remember it if not), in one
        atomic step: of two instances seeing it at once, one gets FIRST."""

    def has_ended(self, sid: str) -> bool: ...

    def get(self, sid: str) -> Call | None:
        """The call as last saved, with the messages pushed since (None: no call in progress)."""

    def start(self, sid: str, caller: str | None) -> Call:
        """A new call, stored once saved; ValueError if the call has ended."""

    def save(self, call: Call) -> bool:
        """Store ``call`` if the stored one is still the version it was loaded at (and the call
        has not ended), removing the pushed messages it took; False (nothing stored) if not."""

    def push(self, sid: str, message: dict[str, Any]) -> bool:
        """Keep ``message`` to be spoken at the call's next request; False if no such call."""

    def end(self, sid: str) -> None:
        """Forget the call, its password and messages; remember that it ended."""

    def lock(self, sid: str, owner: str, lifetime: float) -> bool:
        """Take the call's lock for ``lifetime`` seconds, unless another owner holds it."""

    def renew(self, sid: str, owner: str, lifetime: float) -> bool:
        """Extend ``owner``'s lock by ``lifetime`` seconds; False if it no longer holds it."""

    def unlock(self, sid: str, owner: str) -> None:
        """Release ``owner``'s lock (nothing, if it no longer holds it)."""

    def close(self) -> None: ...


class Expiring(Generic[V]):
    """A map whose entries expire ``ttl`` seconds after they were set, holding at most
    ``max_entries`` (the oldest are dropped first). Not thread-safe: :class:`MemoryCalls` locks."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float]) -> None:
        self._ttl, self._max, self._clock = ttl, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def _expire(self) -> None:
        # Entries are in the order they were set, so the expired ones are at the front.
        now = self._clock()
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                break
            del self._entries[key]

    def get(self, key: str) -> V | None:
        self._expire()
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def set(self, key: str, value: V, ttl: float | None = None) -> None:
        self._expire()
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + (self._ttl if ttl is None else ttl), value)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def pop(self, key: str) -> V | None:
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[1]

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)


@dataclass
class _Kept:
    """A call in :class:`MemoryCalls`: its record (a copy: a loaded call is a new object, as on
    Redis), version, pushed messages and password."""

    record: dict[str, Any]
    version: int
    pending: list[dict[str, Any]]
    password: str | None


class MemoryCalls:
    """:class:`CallStore` in this process's memory (one instance); safe to use from Rasa's event
    loop and other threads."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        requests_remembered: float = REQUESTS_REMEMBERED_SECONDS,
        ended_remembered: float = ENDED_REMEMBERED_SECONDS,
        max_requests: int = MAX_REQUESTS_REMEMBERED,
        max_ended: int = MAX_ENDED_REMEMBERED,
        max_calls: int = MAX_CALLS,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._calls: Expiring[_Kept] = Expiring(CALL_KEPT_SECONDS, max_calls, clock)
        # signature -> idempotency token of the requests answered
        self._requests: Expiring[str] = Expiring(requests_remembered, max_requests, clock)
        self._ended: Expiring[bool] = Expiring(ended_remembered, max_ended, clock)
        self._locks: dict[str, tuple[str, float]] = {}  # sid -> (owner, until)

    def seen(self, signature: str, idempotency_token: str) -> Seen:
        with self._lock:
            first_token = self._requests.get(signature)
            if first_token is None:
                self._requests.set(signature, idempotency_token)
                return Seen.FIRST
            if idempotency_token and idempotency_token == first_token:
                return Seen.RETRY
            return Seen.REPLAY

    def has_ended(self, sid: str) -> bool:
        with self._lock:
            return self._ended.get(sid) is not None

    def get(self, sid: str) -> Call | None:
        with self._lock:
            kept = self._calls.get(sid)
            if kept is None:
                return None
            call = Call.from_record(kept.record)
            call.version, call.pending = kept.version, list(kept.pending)
            call.password = kept.password
        if not call.keeps_password(utc_now()):
            call.password = call.password_until = None
        return call

    def start(self, sid: str, caller: str | None) -> Call:
        if self.has_ended(sid):
            raise ValueError("an ended call cannot start again")
        return Call(sid, caller)

    def save(self, call: Call) -> bool:
        keeps = call.keeps_password(utc_now())
        record = call.to_record()
        if not keeps:
            record["password_until"] = None
        with self._lock:
            kept = self._calls.get(call.sid)
            stored_version = 0 if kept is None else kept.version
            if self._ended.get(call.sid) is not None or call.version != stored_version:
                return False
            pending = [] if kept is None else kept.pending[call.pending_taken :]
            password = call.password if keeps else None
            self._calls.set(call.sid, _Kept(record, call.version + 1, pending, password))
            return True

    def push(self, sid: str, message: dict[str, Any]) -> bool:
        with self._lock:
            kept = self._calls.get(sid)
            if kept is None:
                return False
            kept.pending.append(message)
            return True

    def end(self, sid: str) -> None:
        with self._lock:
            self._ended.set(sid, True)
            self._calls.pop(sid)

    def lock(self, sid: str, owner: str, lifetime: float) -> bool:
        with self._lock:
            now = self._clock()
            holder = self._locks.get(sid)
            if holder is not None and holder[0] != owner and holder[1] > now:
                return False
            self._locks[sid] = (owner, now + lifetime)
            return True

    def renew(self, sid: str, owner: str, lifetime: float) -> bool:
        with self._lock:
            holder = self._locks.get(sid)
            if holder is None or holder[0] != owner or holder[1] <= self._clock():
                return False
            self._locks[sid] = (owner, self._clock() + lifetime)
            return True

    def unlock(self, sid: str, owner: str) -> None:
        with self._lock:
            holder = self._locks.get(sid)
            if holder is not None and holder[0] == owner:
                del self._locks[sid]

    def close(self) -> None:
        pass


# The name the rest of the project knows the in-process store by.
Calls = MemoryCalls
