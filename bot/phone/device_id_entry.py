"""The Device ID by ear and by keypad, while the assistant's turn payload expects one.

Speech is read with :mod:`bot.phone.spoken` and keys with :mod:`bot.phone.keypad`; pieces
accumulate across turns. When what was heard matches registered IDs, they are **read back here,
in the channel**, in the label's chunks ("N D 4 8, 1 0 2 7, ..."): "say yes or press 1, say no or
press 2". Only the ID the caller confirms is passed to the dialogue, as
``/provide_device_id{"device_id": "<ID>"}``, so the dialogue's checks, attempt counting and case
handling stay the same for every channel. "No" offers the next registered reading, then asks
again; "start again" clears the pieces. Nothing the caller did not confirm is ever passed on as
an ID (a complete reading the registry does not hold goes to the dialogue as heard, to be
refused and counted there).

**Read-back limits.** Those lookups never reach the dialogue, so they are counted here, with the
same failed-check limiter, against the call (CallSid) and the registry overall: each registered
reading is counted as a failure before it is read back, and only the caller's confirmation takes
it back (the dialogue then counts its own check); a lookup that finds nothing is one failure
(taken back when what was heard goes to the dialogue, which counts it). Once the limiter refuses,
nothing more is looked up or read back for the call (:class:`Limited`).

Each turn returns what the call flow should do (:data:`Outcome`); this module says nothing to
Twilio and never calls the dialogue itself. It does no I/O either: its transitions are part of
the call's state machine (:mod:`bot.phone.machine`), working on the machine's copy of the call.
What needs the registry or the limiter is a command (:class:`Lookup`, :class:`CountReadBack`,
:class:`Forgive`) the shell carries out (:class:`bot.phone.lookup.DeviceIdLookups`), handing the
result back as an event (:class:`LookedUp`, :class:`ReadBackCounted`, :class:`Forgiven`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.cases.codes import CASE_CODE_ALPHABET, CASE_CODE_LENGTH, normalise_case_code
from bot.devices.check_limits import Reservation
from bot.devices.formats import DeviceIdFormats
from bot.devices.normalise import resolve_serial_number
from bot.phone.call_state import Call
from bot.phone.content import PhoneContent
from bot.phone.contract import intent_message
from bot.phone.speech import read_back, says, written_email
from bot.phone.spoken import Piece, Resolution, hear, join_pieces

# A case code said or transcribed: "LX-YEZJXM", "L X Y E Z J X M" (letters and digits of the
# code's alphabet, each maybe apart).
_CASE_CODE = re.compile(
    rf"\bL[\s.-]*X[\s.-]*((?:[{CASE_CODE_ALPHABET}][\s.-]*){{{CASE_CODE_LENGTH}}})(?![A-Z0-9])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Ask:
    """Say ``sayings`` and listen (a question of the channel's own, not the dialogue's)."""

    sayings: tuple[str, ...]
    kind: str  # "device_id" (more pieces) or "confirm" (a read-back)


@dataclass(frozen=True)
class Pass:
    """Send ``message`` to the dialogue: a confirmed ID as an intent, anything else as heard."""

    message: str


@dataclass(frozen=True)
class Failed:
    """A failed turn; ``saying`` rephrases it (None: the reprompt ladder's own wording)."""

    saying: str | None = None


@dataclass(frozen=True)
class Limited:
    """A failed-check limit is reached: nothing more is looked up for this call."""


Outcome = Ask | Pass | Failed | Limited


@dataclass(frozen=True)
class Lookup:
    """Resolve what was heard (``pieces``) or keyed (``keys``, when not empty) with the
    registry, each lookup counted as a failed check first; answered by :class:`LookedUp`."""

    pieces: tuple[Piece, ...] = ()
    keys: str = ""


@dataclass(frozen=True)
class LookedUp:
    lookup: Lookup
    resolution: Resolution | None  # None: a failed-check limit refused the lookup
    counted: Reservation | None  # the failure counted for it (held for a reading read back)


@dataclass(frozen=True)
class CountReadBack:
    """Count the next reading, before it is read back, as a failed check of the call; answered
    by :class:`ReadBackCounted`."""


@dataclass(frozen=True)
class ReadBackCounted:
    counted: Reservation | None  # None: a failed-check limit is reached


@dataclass(frozen=True)
class Forgive:
    """Take back the failure ``counted`` (the check did not fail, or the dialogue counts it),
    then go on with ``then``; answered by :class:`Forgiven`."""

    counted: Reservation
    then: Outcome


@dataclass(frozen=True)
class Forgiven:
    then: Outcome


EntryCommand = Lookup | CountReadBack | Forgive
EntryEvent = LookedUp | ReadBackCounted | Forgiven
EntryStep = Outcome | EntryCommand


@dataclass(frozen=True)
class DeviceIdEntry:
    content: PhoneContent
    formats: DeviceIdFormats

    def turn(self, call: Call, speech: str, digits: str) -> EntryStep:
        """What the caller said (``speech``) or keyed (``digits``) while a Device ID is expected."""
        wording = self.content.device_id
        if says(speech, wording.start_again_words):
            call.reset_device_id()
            return Ask((wording.start_again,), "device_id")
        if call.device_id_limited:
            return Limited()
        if digits:
            return Lookup(keys=call.keys + "".join(d for d in digits if d.isdigit()))
        heard = hear(speech, self.content)
        case_code = _case_code(speech)
        if case_code is None and self.content.spelling is not None:
            case_code = _case_code(heard.text)  # spelt the way the language spells letters
        if case_code is not None:
            # A returning caller's case code ("L X, Y E Z ..."), not a Device ID: the dialogue
            # takes it, written as typed.
            call.id_pieces = ()
            return Pass(case_code)
        if not heard.pieces:
            if call.id_pieces:
                return Failed()
            # A question or a request, not an ID ("where do I find it?"): the dialogue answers.
            return Pass(speech)
        return Lookup(pieces=join_pieces(call.id_pieces, heard.pieces))

    def is_proof(self, call: Call, speech: str, digits: str) -> bool:
        """Whether a case proof is a Device ID (or more of one), not an email address or a phone
        number: letters among what was heard (every Device ID has some; a phone number has
        none), or as many keys as a Device ID has (the keypad reads letters as their keys)."""
        if call.id_pieces or call.keys:
            return True
        if digits:
            return len(digits.rstrip("#")) in self.formats.device_id_lengths()
        if "@" in speech or written_email(speech, self.content.email_words) != speech:
            return False
        heard = "".join(piece.heard for piece in hear(speech, self.content).pieces)
        return any(character.isalpha() for character in heard)

    def on(self, call: Call, event: EntryEvent) -> EntryStep:
        """Go on from what the shell did."""
        if isinstance(event, Forgiven):
            return event.then
        if isinstance(event, ReadBackCounted):
            return self._read_back_counted(call, event.counted)
        if event.resolution is None:
            return Limited()
        if event.lookup.keys:
            return self._keyed(call, event.lookup.keys, event.resolution, event.counted)
        return self._spoken(call, event.lookup.pieces, event.resolution, event.counted)

    def confirm(self, call: Call, answer: bool | None) -> EntryStep:
        """The caller's answer to a read-back: True (yes), False (no) or None (neither)."""
        wording = self.content.device_id
        if answer is True:
            device_id, counted = call.candidates[call.candidate], call.counted
            call.reset_device_id()
            call.reprompts = 0
            passed = Pass(intent_message("provide_device_id", {"device_id": device_id}))
            # Confirmed: the dialogue checks and counts it.
            return passed if counted is None else Forgive(counted, passed)
        if answer is False:
            call.candidate += 1
            call.counted = None  # rejected: its failure stays counted
            if call.candidate < len(call.candidates):
                return CountReadBack()
            call.reset_device_id()
            return Ask((wording.retry,), "device_id")
        call.reprompts += 1
        if call.reprompts > len(self.content.reprompts):
            call.reset_device_id()
            return Failed()
        chunks = read_back(call.candidates[call.candidate], self.formats, self.content)
        return Ask((wording.read_back.format(chunks=chunks),), "confirm")

    def _read_back_counted(self, call: Call, counted: Reservation | None) -> Outcome:
        if counted is None:
            return Limited()
        call.counted = counted
        chunks = read_back(call.candidates[call.candidate], self.formats, self.content)
        return Ask((self.content.device_id.next_candidate.format(chunks=chunks),), "confirm")

    def _spoken(
        self,
        call: Call,
        pieces: tuple[Piece, ...],
        resolution: Resolution,
        counted: Reservation | None,
    ) -> EntryStep:
        if resolution.found:
            call.id_pieces = ()
            return self._read_back(call, resolution.found, counted)
        passed = Pass(resolution.heard)
        if resolve_serial_number(resolution.heard, self.formats) is not None:
            # The serial number read out instead (it is on the same label): the dialogue explains
            # the difference, rather than waiting for the rest of an ID that is not coming.
            call.id_pieces = ()
            return passed if counted is None else Forgive(counted, passed)
        if resolution.could_continue:
            call.id_pieces = pieces
            call.reprompts = 0
            saying = self.content.device_id.got_piece.format(chunks=self._chunks(resolution))
            return Ask((saying,), "device_id")
        # Complete but not registered, or no Device ID shape: the dialogue's checks say why, and
        # count the attempt (after three it offers a person), so a miss is not counted twice.
        call.id_pieces = ()
        return passed if counted is None else Forgive(counted, passed)

    def _keyed(
        self, call: Call, keys: str, resolution: Resolution, counted: Reservation | None
    ) -> Outcome:
        if resolution.found:
            call.keys = ""
            return self._read_back(call, resolution.found, counted)
        if resolution.could_continue and not resolution.complete:
            call.keys = keys
            saying = self.content.device_id.got_piece.format(chunks=" ".join(keys))
            return Ask((saying,), "device_id")
        call.keys = ""
        keypad = self.content.keypad
        return Failed(keypad.not_found.format(keypad_help=keypad.help))

    def _read_back(
        self, call: Call, found: tuple[str, ...], counted: Reservation | None
    ) -> Outcome:
        """Read the first of ``found`` back; ``counted`` is the failure counted for it."""
        call.candidates, call.candidate, call.counted = found, 0, counted
        call.reprompts = 0
        chunks = read_back(found[0], self.formats, self.content)
        return Ask((self.content.device_id.read_back.format(chunks=chunks),), "confirm")

    def _chunks(self, resolution: Resolution) -> str:
        heard = resolution.heard
        return self.content.device_id.chunk_pause.join(
            " ".join(heard[i : i + 4]) for i in range(0, len(heard), 4)
        )


def _case_code(speech: str) -> str | None:
    """The case code in ``speech``, written as stored (``LX-YEZJXM``), if it holds one."""
    found = _CASE_CODE.search(speech)
    if found is None:
        return None
    return normalise_case_code("LX" + found.group(1))
