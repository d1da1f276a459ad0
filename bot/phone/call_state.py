"""A phone call's state between two of Twilio's webhooks, and its record as a store keeps it.

:class:`Call` is what a request loads, works on and saves (:mod:`bot.phone.calls` says where);
:meth:`Call.to_record` and :meth:`Call.from_record` turn it into JSON-ready data and back, field
by field (a field added to :class:`Call` must be added there: tests/test_call_store.py checks).
The password is not in the record: each store keeps it apart (encrypted, on Redis).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from bot.devices.check_limits import Reservation, Scope, Subject
from bot.phone.spoken import Piece

# Twilio's call SIDs: "CA" and 32 lowercase hexadecimal digits. Nothing else becomes a call (and so
# a conversation id).
CALL_SID = re.compile(r"CA[0-9a-f]{32}")
# Twilio retries a request it got no answer to within its timeout budget (seconds); an hour of
# signatures covers that with room, and later replays meet a stale turn token or an ended call.
REQUESTS_REMEMBERED_SECONDS = 3600.0
# Twilio's longest call lasts 24 hours: a call's state is kept that long after its last request,
# and an ended call is remembered that long after it ended.
CALL_KEPT_SECONDS = 24 * 3600.0
ENDED_REMEMBERED_SECONDS = 24 * 3600.0
# The shape of a stored call; a store meeting another shape treats the call as unknown.
RECORD_FORMAT = 1


def is_call_sid(value: str) -> bool:
    return CALL_SID.fullmatch(value) is not None


def new_turn() -> str:
    """A token for the URLs of one answer: unguessable, so a call's next request can only be the
    one Twilio makes from that answer (and a call revived by a replay gets tokens of its own)."""
    return secrets.token_urlsafe(9)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Seen(Enum):
    """What a signed request is, by its signature."""

    FIRST = "first"  # never seen: a new request
    RETRY = "retry"  # seen, with the same I-Twilio-Idempotency-Token: Twilio trying again
    REPLAY = "replay"  # seen, with another token or none: someone sending a copy


@dataclass
class Call:
    sid: str
    caller: str | None
    # The caller's language ("en", "es", "fr"): None until chosen at the menu, which has asked
    # ``language_asks`` times (once more after silence or an unclear answer, then English).
    language: str | None = None
    language_asks: int = 0
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
    checks_after_queue: int = 0
    # The revealed temporary password, for repeating, and until when it is valid (stored apart
    # from the rest, encrypted on Redis, and never past that moment).
    password: str | None = field(default=None, repr=False)
    password_until: datetime | None = None
    reading_password: bool = False
    after_password: list[str] = field(default_factory=list)
    # The token in the URLs of the last answer: the call's next request must carry it.
    turn: str = field(default_factory=new_turn)
    # The signature of the last request answered, and that answer as it may be given again to
    # Twilio's retry of it (TwiML; never the password: a retry is told how to hear it again).
    answered_request: str = ""
    answer_again: str = field(default="", repr=False)
    # Kept by the store, not part of the record: the version loaded (0: never saved), the
    # messages pushed while on hold as loaded, and how many of them this request has spoken.
    version: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list, repr=False)
    pending_taken: int = 0

    def reset_device_id(self) -> None:
        self.id_pieces, self.keys, self.candidates, self.candidate = (), "", (), 0
        self.counted = None  # not confirmed: its failure stays counted

    @property
    def has_pending(self) -> bool:
        return self.pending_taken < len(self.pending)

    def take_pending(self) -> list[dict[str, Any]]:
        """The pushed messages not spoken yet; the store removes them when the call is saved."""
        taken = self.pending[self.pending_taken :]
        self.pending_taken = len(self.pending)
        return taken

    def keeps_password(self, now: datetime) -> bool:
        return (
            self.password is not None
            and self.password_until is not None
            and self.password_until > now
        )

    def to_record(self) -> dict[str, Any]:
        """The call as JSON-ready data, field by field; the password is not in it."""
        counted = self.counted
        return {
            "format": RECORD_FORMAT,
            "sid": self.sid,
            "caller": self.caller,
            "language": self.language,
            "language_asks": self.language_asks,
            "reprompts": self.reprompts,
            "waits": self.waits,
            "last_prompt": list(self.last_prompt),
            "prompt_kind": self.prompt_kind,
            "state": self.state,
            "id_pieces": [[piece.heard, list(piece.alternatives)] for piece in self.id_pieces],
            "keys": self.keys,
            "candidates": list(self.candidates),
            "candidate": self.candidate,
            "counted": None
            if counted is None
            else {
                "subjects": [[subject.scope.value, subject.key] for subject in counted.subjects],
                "bucket_start": counted.bucket_start.isoformat(),
            },
            "device_id_limited": self.device_id_limited,
            "enqueued": self.enqueued,
            "caller_recorded": self.caller_recorded,
            "checks_after_queue": self.checks_after_queue,
            "password_until": None
            if self.password_until is None
            else self.password_until.isoformat(),
            "reading_password": self.reading_password,
            "after_password": list(self.after_password),
            "turn": self.turn,
            "answered_request": self.answered_request,
            "answer_again": self.answer_again,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Call:
        counted = record["counted"]
        until = record["password_until"]
        return cls(
            sid=record["sid"],
            caller=record["caller"],
            # (A call stored before languages were offered is in English.)
            language=record.get("language", "en"),
            language_asks=record.get("language_asks", 0),
            reprompts=record["reprompts"],
            waits=record["waits"],
            last_prompt=list(record["last_prompt"]),
            prompt_kind=record["prompt_kind"],
            state=record["state"],
            id_pieces=tuple(
                Piece(heard, tuple(alternatives)) for heard, alternatives in record["id_pieces"]
            ),
            keys=record["keys"],
            candidates=tuple(record["candidates"]),
            candidate=record["candidate"],
            counted=None
            if counted is None
            else Reservation(
                tuple(Subject(Scope(scope), key) for scope, key in counted["subjects"]),
                datetime.fromisoformat(counted["bucket_start"]),
            ),
            device_id_limited=record["device_id_limited"],
            enqueued=record["enqueued"],
            caller_recorded=record["caller_recorded"],
            checks_after_queue=record["checks_after_queue"],
            password_until=None if until is None else datetime.fromisoformat(until),
            reading_password=record["reading_password"],
            after_password=list(record["after_password"]),
            turn=record["turn"],
            answered_request=record["answered_request"],
            answer_again=record["answer_again"],
        )
