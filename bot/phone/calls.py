"""What the phone channel remembers about each call in progress, in this process's memory.

One :class:`Call` per Twilio ``CallSid`` (the conversation's sender id). It holds the turn-taking
state (what was last asked, how many reprompts, the Device ID pieces heard so far, the IDs being
read back) and messages the assistant produced while the caller was on hold. A revealed temporary
password is kept here only, for repeating, and is dropped with the call when it ends.
Calls live in one process: several Rasa instances need Twilio's requests for a call to reach the
same instance (sticky routing on CallSid).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from bot.phone.spoken import Piece


@dataclass
class Call:
    sid: str
    caller: str | None
    reprompts: int = 0  # failed turns in a row (silence, not understood)
    waits: int = 0  # silences in a row at a reset step (the caller is at the recorder)
    last_prompt: list[str] = field(default_factory=list)  # what was last said, expecting an answer
    prompt_kind: str = "default"  # which speech hints and keys apply: default, steps, device_id
    expecting_device_id: bool = False
    id_pieces: tuple[Piece, ...] = ()
    keys: str = ""  # keypad digits of a Device ID so far
    candidates: tuple[str, ...] = ()  # registered IDs being read back, one at a time
    candidate: int = 0
    enqueued: bool = False
    caller_recorded: bool = False
    pending: list[dict[str, Any]] = field(default_factory=list)  # pushed while on hold
    checks_after_queue: int = 0
    password: str | None = field(default=None, repr=False)
    reading_password: bool = False
    after_password: list[str] = field(default_factory=list)

    def reset_device_id(self) -> None:
        self.id_pieces, self.keys, self.candidates, self.candidate = (), "", (), 0


class Calls:
    """The calls in progress, by CallSid; safe to use from Rasa's event loop and other threads."""

    def __init__(self) -> None:
        self._calls: dict[str, Call] = {}
        self._lock = threading.Lock()

    def get(self, sid: str) -> Call | None:
        with self._lock:
            return self._calls.get(sid)

    def start(self, sid: str, caller: str | None) -> Call:
        with self._lock:
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
        """Forget the call, and with it any temporary password it held."""
        with self._lock:
            return self._calls.pop(sid, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)
