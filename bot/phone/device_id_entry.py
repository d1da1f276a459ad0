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
Twilio and never calls the dialogue itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.cases.codes import CASE_CODE_ALPHABET, CASE_CODE_LENGTH, normalise_case_code
from bot.devices.check_limits import FailedCheckLimiter, Reservation, subjects_for
from bot.devices.formats import DeviceIdFormats
from bot.devices.normalise import resolve_serial_number
from bot.phone.calls import Call
from bot.phone.content import PhoneContent
from bot.phone.contract import intent_message
from bot.phone.keypad import resolve_keys
from bot.phone.lookup import CountedLookups, TooManyFailures
from bot.phone.speech import read_back, says
from bot.phone.spoken import RegisteredIds, Resolution, hear, join_pieces, resolve

START_AGAIN = ("start again", "start over", "scratch that", "from the beginning")
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


@dataclass
class DeviceIdEntry:
    content: PhoneContent
    formats: DeviceIdFormats
    registry: RegisteredIds
    limiter: FailedCheckLimiter

    def turn(self, call: Call, speech: str, digits: str) -> Outcome:
        """What the caller said (``speech``) or keyed (``digits``) while a Device ID is expected."""
        wording = self.content.device_id
        if says(speech, START_AGAIN):
            call.reset_device_id()
            return Ask((wording.start_again,), "device_id")
        if call.device_id_limited:
            return Limited()
        lookups = self._lookups(call)
        if digits:
            return self._keys(call, digits, lookups)
        case_code = _case_code(speech)
        if case_code is not None:
            # A returning caller's case code ("L X, Y E Z ..."), not a Device ID: the dialogue
            # takes it, written as typed.
            call.id_pieces = ()
            return Pass(case_code)
        heard = hear(speech, self.content)
        if not heard.pieces:
            if call.id_pieces:
                return Failed()
            # A question or a request, not an ID ("where do I find it?"): the dialogue answers.
            return Pass(speech)
        pieces = join_pieces(call.id_pieces, heard.pieces)
        try:
            resolution = resolve(
                pieces, self.formats, lookups, max_swaps=self.content.max_confusable_swaps
            )
        except TooManyFailures:
            return Limited()
        if resolution.found:
            call.id_pieces = ()
            return self._read_back(call, resolution.found, lookups.counted)
        if resolve_serial_number(resolution.heard, self.formats) is not None:
            # The serial number read out instead (it is on the same label): the dialogue explains
            # the difference, rather than waiting for the rest of an ID that is not coming.
            self._forgive(lookups.counted)
            call.id_pieces = ()
            return Pass(resolution.heard)
        if resolution.could_continue:
            call.id_pieces = pieces
            call.reprompts = 0
            saying = wording.got_piece.format(chunks=self._spoken_chunks(resolution))
            return Ask((saying,), "device_id")
        # Complete but not registered, or no Device ID shape: the dialogue's checks say why, and
        # count the attempt (after three it offers a person), so a miss is not counted twice.
        self._forgive(lookups.counted)
        call.id_pieces = ()
        return Pass(resolution.heard)

    def confirm(self, call: Call, answer: bool | None) -> Outcome:
        """The caller's answer to a read-back: True (yes), False (no) or None (neither)."""
        wording = self.content.device_id
        if answer is True:
            device_id = call.candidates[call.candidate]
            self._forgive(call.counted)  # confirmed: the dialogue checks and counts it
            call.reset_device_id()
            call.reprompts = 0
            return Pass(intent_message("provide_device_id", {"device_id": device_id}))
        if answer is False:
            call.candidate += 1
            call.counted = None  # rejected: its failure stays counted
            if call.candidate < len(call.candidates):
                call.counted = self.limiter.reserve(subjects_for(conversation=call.sid))
                if call.counted is None:
                    return Limited()
                chunks = read_back(call.candidates[call.candidate], self.formats, self.content)
                return Ask((wording.next_candidate.format(chunks=chunks),), "confirm")
            call.reset_device_id()
            return Ask((wording.retry,), "device_id")
        call.reprompts += 1
        if call.reprompts > len(self.content.reprompts):
            call.reset_device_id()
            return Failed()
        chunks = read_back(call.candidates[call.candidate], self.formats, self.content)
        return Ask((wording.read_back.format(chunks=chunks),), "confirm")

    def _keys(self, call: Call, digits: str, lookups: CountedLookups) -> Outcome:
        keys = call.keys + "".join(d for d in digits if d.isdigit())
        try:
            resolution = resolve_keys(keys, self.formats, self.content.keypad, lookups)
        except TooManyFailures:
            return Limited()
        if resolution.found:
            call.keys = ""
            return self._read_back(call, resolution.found, lookups.counted)
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

    def _lookups(self, call: Call) -> CountedLookups:
        return CountedLookups(self.registry, self.limiter, subjects_for(conversation=call.sid))

    def _forgive(self, counted: Reservation | None) -> None:
        if counted is not None:
            self.limiter.forgive(counted)

    def _spoken_chunks(self, resolution: Resolution) -> str:
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
