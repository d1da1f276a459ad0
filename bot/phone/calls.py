"""What the phone channel remembers about each call in progress, in this process's memory.

One :class:`Call` per Twilio ``CallSid`` (the conversation's sender id). It holds the turn-taking
state (what was last asked, how many reprompts, the Device ID pieces heard so far, the IDs being
read back) and messages the assistant produced while the caller was on hold. A revealed temporary
password is kept here only, for repeating, and is dropped with the call when it ends.
Calls live in one process: several Rasa instances need Twilio's requests for a call to reach the
same instance (sticky routing on CallSid).

:class:`Calls` also remembers, with bounded memory and expiry, what keeps a captured request from
being played again: the signatures of the requests already answered (a legitimate request never
repeats one, since every answer's URLs carry a fresh turn token) with Twilio's idempotency token,
and the calls that have ended (a request for one gets a hang-up, never a new conversation turn).
A shared store (Redis) can take this over behind the same methods.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from bot.devices.check_limits import Reservation
from bot.phone.spoken import Piece

# Twilio's call SIDs: "CA" and 32 lowercase hexadecimal digits. Nothing else becomes a call (and so
# a conversation id).
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
# Twilio retries a request it got no answer to within its timeout budget (seconds); an hour of
# signatures covers that with room, and later replays meet a stale turn token or an ended call.
REQUESTS_REMEMBERED_SECONDS = 3600.0
# Twilio's longest call lasts 24 hours; an ended call is remembered that long after it ended.
ENDED_REMEMBERED_SECONDS = 24 * 3600.0
# Bounds on memory, the oldest forgotten first: measured 350 and 270 bytes an entry, so at most
# 35 MB and 27 MB. A hundred thousand requests is two thousand calls of fifty turns an hour.
MAX_REQUESTS_REMEMBERED = 100_000
MAX_ENDED_REMEMBERED = 100_000

V = TypeVar("V")


def is_call_sid(value: str) -> bool:
    return CALL_SID.fullmatch(value) is not None


def new_turn() -> str:
    """A token for the URLs of one answer: unguessable, so a call's next request can only be the
    one Twilio makes from that answer (and a call revived by a replay gets tokens of its own)."""
    return secrets.token_urlsafe(9)


class Seen(Enum):
    """What a signed request is, by its signature."""

    FIRST = "first"  # never seen: a new request
    RETRY = "retry"  # seen, with the same I-Twilio-Idempotency-Token: Twilio trying again
    REPLAY = "replay"  # seen, with another token or none: someone sending a copy


class Expiring(Generic[V]):
    """A map whose entries expire ``ttl`` seconds after they were set, holding at most
    ``max_entries`` (the oldest are dropped first). Not thread-safe: :class:`Calls` locks."""

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

    def set(self, key: str, value: V) -> None:
        self._expire()
        self._entries.pop(key, None)
        self._entries[key] = (self._clock() + self._ttl, value)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)


@dataclass
class Call:
    sid: str
    caller: str | None
    reprompts: int = 0  # failed turns in a row (silence, not understood)
    waits: int = 0  # silences in a row at a reset step (the caller is at the recorder)
    last_prompt: list[str] = field(default_factory=list)  # what was last said, expecting an answer
    # What the assistant expects, from its last turn payload (bot.phone.contract.Turn's
    # prompt_kind): which speech hints, timeout and keys apply.
    prompt_kind: str = "default"
    state: str = ""  # the dialogue's state in that payload
    id_pieces: tuple[Piece, ...] = ()
    keys: str = ""  # keypad digits of a Device ID so far
    candidates: tuple[str, ...] = ()  # registered IDs being read back, one at a time
    candidate: int = 0
    # The failed Device ID check counted for the reading being read back (taken back only if the
    # caller confirms it), and whether a failed-check limit has stopped lookups for this call.
    counted: Reservation | None = None
    device_id_limited: bool = False
    enqueued: bool = False
    caller_recorded: bool = False
    pending: list[dict[str, Any]] = field(default_factory=list)  # pushed while on hold
    checks_after_queue: int = 0
    password: str | None = field(default=None, repr=False)
    reading_password: bool = False
    after_password: list[str] = field(default_factory=list)
    # The token in the URLs of the last answer: the call's next request must carry it.
    turn: str = field(default_factory=new_turn)
    # The signature of the last request answered, and that answer as it may be given again to
    # Twilio's retry of it (TwiML; never the password: a retry is told how to hear it again).
    answered_request: str = ""
    answer_again: str = field(default="", repr=False)

    def reset_device_id(self) -> None:
        self.id_pieces, self.keys, self.candidates, self.candidate = (), "", (), 0
        self.counted = None  # not confirmed: its failure stays counted


class Calls:
    """The calls in progress, by CallSid; safe to use from Rasa's event loop and other threads."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        requests_remembered: float = REQUESTS_REMEMBERED_SECONDS,
        ended_remembered: float = ENDED_REMEMBERED_SECONDS,
        max_requests: int = MAX_REQUESTS_REMEMBERED,
        max_ended: int = MAX_ENDED_REMEMBERED,
    ) -> None:
        self._calls: dict[str, Call] = {}
        self._lock = threading.Lock()
        # signature -> idempotency token of the requests answered
        self._requests: Expiring[str] = Expiring(requests_remembered, max_requests, clock)
        self._ended: Expiring[bool] = Expiring(ended_remembered, max_ended, clock)

    def seen(self, signature: str, idempotency_token: str) -> Seen:
        """Whether a request with this signature came before (and remember it if not)."""
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
            return self._calls.get(sid)

    def start(self, sid: str, caller: str | None) -> Call:
        with self._lock:
            if self._ended.get(sid) is not None:
                raise ValueError("an ended call cannot start again")
            call = self._calls.get(sid)
            if call is None:
                call = self._calls[sid] = Call(sid, caller)
            return call

    def push(self, sid: str, message: dict[str, Any]) -> bool:
        """Keep ``message`` to be spoken at the call's next request; False if no such call."""
        with self._lock:
            call = self._calls.get(sid)
            if call is None:
                return False
            call.pending.append(message)
            return True

    def take_pending(self, sid: str) -> list[dict[str, Any]]:
        with self._lock:
            call = self._calls.get(sid)
            if call is None:
                return []
            pending, call.pending = call.pending, []
            return pending

    def end(self, sid: str) -> Call | None:
        """Forget the call, and with it any temporary password it held; remember it ended."""
        with self._lock:
            self._ended.set(sid, True)
            return self._calls.pop(sid, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)
