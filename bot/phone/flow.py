"""A phone call, turn by turn: what the caller said or pressed, what reaches the dialogue, and the
TwiML that answers Twilio.

The dialogue (Rasa) is the same one the web chat talks to; this module is what makes it work by
ear and by keypad:

* **Device ID entry.** While the assistant's last prompt asks for the Device ID, speech is read
  with :mod:`bot.phone.spoken` and keys with :mod:`bot.phone.keypad`; pieces accumulate across
  turns. When what was heard matches registered IDs, they are **read back here, in the channel**,
  in the label's chunks ("N D 4 8, 1 0 2 7, ..."): "say yes or press 1, say no or press 2". Only
  the ID the caller confirms is passed to the dialogue (as the plain ID, exactly as a chat user
  would type it), so the dialogue's checks, attempt counting and case handling stay the same for
  every channel. "No" offers the next registered reading, then asks again; "start again" clears
  the pieces. Nothing the caller did not confirm is ever passed on as an ID.
* **Read-back limits.** Those lookups never reach the dialogue's form, so they are counted here,
  with the same failed-check limiter, against the call (CallSid) and the registry overall: each
  registered reading is counted as a failure before it is read back, and only the caller's
  confirmation takes it back (the form then counts its own check); a lookup that finds nothing is
  one failure (taken back when what was heard goes to the dialogue, whose form counts it). Once
  the limiter refuses, nothing more is looked up or read back for the call: the caller hears why
  and is put through to an agent, as after repeated failed turns.
* **Reprompts.** Silence, a transcript with nothing usable, or a reply from the dialogue that
  means it did not understand, counts as a failed turn: the first rephrases the last prompt, the
  second offers the keypad, the third offers an agent, and after that the caller is put through
  to one. Any understood turn resets the count.
* **Queue.** When the dialogue has queued the conversation's case, the caller is put on hold with
  ``<Enqueue>``. The wait URL tells the position and expected wait and plays hold music, and
  answers ``<Leave/>`` once the case is released or rejected (or the assistant has something to
  say). The assistant's messages produced meanwhile (Rasa's ``output_channel=latest``) are kept
  in the call's memory and spoken when the caller is back (the ``<Enqueue>`` action URL).
* **Temporary password.** Revealed from the vault just before it is spoken, read one character
  at a time (letters with a spelling word), repeated as often as asked, kept in memory for the
  call only, then the steps begin.
* **Hang-up.** The conversation's case, if it is still collecting or queued, is abandoned.
* **Replays.** Every answer's URLs carry a fresh turn token, and a call's next request must carry
  the latest one, so a legitimate request never repeats a signature. A signature seen before is
  a copy (:class:`Replayed`), unless it brings the same ``I-Twilio-Idempotency-Token``: that is
  Twilio retrying a request it got no answer to, and it gets the answer already given (where that
  was the temporary password, only the offer to hear it again) with no new turn. A request for a
  call that has ended gets a hang-up: an ended call never comes back, and never opens a case.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from bot.cases.conversation import ConversationCases
from bot.cases.errors import IllegalTransition
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.channels.password_delivery import password_reference, reveal
from bot.db import utcnow
from bot.devices.check_limits import FailedCheckLimiter, Reservation, subjects_for
from bot.devices.formats import DeviceIdFormats
from bot.handoff.support_centre import SupportCentre
from bot.phone import twiml
from bot.phone.calls import Call, Calls, Seen, new_turn
from bot.phone.content import PhoneContent
from bot.phone.keypad import resolve_keys
from bot.phone.lookup import CountedLookups, TooManyFailures
from bot.phone.speech import (
    for_the_ear,
    read_back,
    spell_password,
    written_email,
    written_number,
)
from bot.phone.spoken import RegisteredIds, Resolution, hear, join_pieces, resolve

logger = logging.getLogger(__name__)

# The dialogue: given the conversation (CallSid) and what the caller said, the messages it answers.
Dialogue = Callable[[str, str], Awaitable[list[dict[str, Any]]]]

ENDED = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})
WAITING = frozenset({CaseStatus.COLLECTING, CaseStatus.QUEUED})
ON_HOLD = frozenset({CaseStatus.QUEUED, CaseStatus.ASSIGNED})
START_AGAIN = ("start again", "start over", "scratch that", "from the beginning")
MAX_CHECKS_AFTER_QUEUE = 5
# Prompt kinds at a reset step: "private_step" is where the caller types the new password on the
# recorder, so only keys are listened to (speech would be transcribed and stored).
STEP_KINDS = frozenset({"steps", "private_step"})
# Requests about the call itself (the whisper is the agent's leg), and those that move it on (a
# retry of one of these gets the answer already given, never a second turn).
CALL_STEPS = frozenset({"voice", "wait", "after_queue", "after_dial"})
TURN_STEPS = frozenset({"voice", "after_queue", "after_dial"})


class Replayed(Exception):
    """A copy of a request already answered, or of one from an earlier turn: refused."""


@dataclass(frozen=True)
class SignedRequest:
    """What identifies one of Twilio's requests, beyond its fields."""

    signature: str  # X-Twilio-Signature: covers the URL (turn token included) and the fields
    idempotency_token: str  # I-Twilio-Idempotency-Token: the same on Twilio's retries
    turn: str | None  # the URL's turn token (None on the first request of a call)


@dataclass
class CallFlow:
    content: PhoneContent
    formats: DeviceIdFormats
    calls: Calls
    registry: RegisteredIds
    store: CaseStore
    centre: SupportCentre
    urls: twiml.Urls
    dialogue: Dialogue
    # Counts registry lookups and rejected read-backs as failed Device ID checks.
    limiter: FailedCheckLimiter
    now: Callable[[], datetime] = utcnow
    # The answers being worked out, by signature: Twilio's retry of one waits for it.
    _in_progress: dict[str, asyncio.Future[str]] = field(default_factory=dict, init=False)

    @property
    def cases(self) -> ConversationCases:
        return ConversationCases(self.store)

    # --- Twilio's requests ---------------------------------------------------------------

    async def handle(
        self, step: str, params: Mapping[str, str], request: SignedRequest
    ) -> str:
        """The TwiML answering one of Twilio's requests (signature already checked), once.

        Raises :class:`Replayed` for a copy of a request already answered.
        """
        sid = params.get("CallSid", "")
        seen = self.calls.seen(request.signature, request.idempotency_token)
        if step in CALL_STEPS and self.calls.has_ended(sid):
            return _xml(twiml.hang_up())
        if seen is Seen.REPLAY:
            raise Replayed(step)
        if step == "whisper":
            return _xml(await self.whisper(params))
        call = self.calls.get(sid)
        if call is not None and request.turn != call.turn and seen is Seen.FIRST:
            raise Replayed(step)  # from an earlier turn (its signature since forgotten)
        if step == "wait":
            return _xml(await self.wait(params))
        if seen is Seen.RETRY:
            return await self._answer_again(call, request.signature)
        if call is not None:
            call.turn = new_turn()  # before any wait: a second copy now finds a stale turn
        answering: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_progress[request.signature] = answering
        try:
            answer = await self._turn(step, params, request.turn)
        except Exception:
            answering.set_result(_xml(self.technical_problem()))
            raise
        finally:
            self._in_progress.pop(request.signature, None)
        call = self.calls.get(sid)
        again = _xml(answer)
        if call is not None:
            if call.reading_password:  # a retry hears how to get it again, never the password
                again = _xml(self._password_offer(call))
            call.answered_request, call.answer_again = request.signature, again
        answering.set_result(again)
        return _xml(answer)

    async def _answer_again(self, call: Call | None, signature: str) -> str:
        in_progress = self._in_progress.get(signature)
        if in_progress is not None:
            return await asyncio.shield(in_progress)
        if call is not None and call.answered_request == signature:
            return call.answer_again
        raise Replayed("an earlier turn")  # Twilio retries only its latest request

    async def _turn(
        self, step: str, params: Mapping[str, str], turn: str | None
    ) -> VoiceResponse:
        if step == "voice":
            return await self.voice(params, turn)
        if step == "after_queue":
            return await self.after_queue(params)
        return await self.after_dial(params)

    def status_request(
        self, params: Mapping[str, str], request: SignedRequest
    ) -> CaseStatus | None:
        """The status callback, once: a copy of it is :class:`Replayed`; for a call that has
        already ended it changes nothing."""
        sid = params.get("CallSid", "")
        seen = self.calls.seen(request.signature, request.idempotency_token)
        if self.calls.has_ended(sid):
            return None
        if seen is Seen.REPLAY:
            raise Replayed("status")
        return self.status(params)

    async def voice(self, params: Mapping[str, str], turn: str | None = None) -> VoiceResponse:
        sid = params.get("CallSid", "")
        call = self.calls.get(sid)
        if call is None:
            if turn is not None:
                # A turn of a call this process does not know: it ended long ago (a replay), or
                # the server restarted mid-call. Nothing reaches the dialogue either way.
                logger.info("phone: a request for a call this server does not know")
                return self.technical_problem()
            if self.store.latest_for_conversation(sid) is not None:
                # The first request of a call that already has a case: a replay, long after.
                return twiml.hang_up()
            call = self.calls.start(sid, params.get("From") or None)
            messages = await self.dialogue(sid, self.content.first_message)
            return self._answer(call, messages, before=[self.content.welcome])
        speech = (params.get("SpeechResult") or "").strip()
        digits = (params.get("Digits") or "").strip()
        if call.reading_password:
            return await self._password_turn(call, speech, digits)
        if call.candidates:
            return await self._confirm_turn(call, speech, digits)
        if digits == self.content.agent_key or _said(speech, self.content.agent_words):
            call.reset_device_id()
            return await self._to_dialogue(call, self.content.agent_message)
        if not speech and not digits:
            return await self._failed_turn(call, silence=True)
        if call.prompt_kind in STEP_KINDS and speech and not digits:
            if _said(speech, self.content.hold_phrases):
                # "Hold on": the caller is busy at the recorder. Wait, gently, as for silence.
                call.waits += 1
                return self._prompt(
                    call, [self.content.holding], call.prompt_kind, remember=False
                )
            if _said(speech, self.content.ready_phrases) and call.waits:
                # Back from waiting: say the step again rather than guess it was done.
                call.waits = 0
                return await self._to_dialogue(call, "repeat")
        call.waits = 0
        if call.expecting_device_id:
            return await self._device_id_turn(call, speech, digits)
        if digits:
            number = digits.rstrip("#")
            asked = " ".join(call.last_prompt)
            if (
                _said(asked, self.content.phone_prompt_markers)
                and number.isdigit()
                and 7 <= len(number) <= 15
            ):
                # The phone number question says it may be keyed in.
                return await self._to_dialogue(call, written_number(number))
            kind = "steps" if call.prompt_kind in STEP_KINDS else call.prompt_kind
            keymap = self.content.keys.get(kind, self.content.keys["default"])
            words = keymap.get(digits)
            if words is None:
                return await self._failed_turn(call)
            return await self._to_dialogue(call, words)
        return await self._to_dialogue(call, self._written(call, speech))

    async def wait(self, params: Mapping[str, str]) -> VoiceResponse:
        """The ``<Enqueue>`` wait URL: where the caller stands, or ``<Leave/>`` when it's time."""
        sid = params.get("CallSid", "")
        call = self.calls.get(sid)
        case = self.store.latest_for_conversation(sid)
        if call is None or case is None:
            return twiml.leave()
        if call.pending or case.status not in ON_HOLD:
            return twiml.leave()
        queue = self.content.queue
        now = self.now()
        if not self.centre.is_open(now):
            opening = self.centre.next_opening(now)
            saying = queue.closed.format(opening=f"{opening:%A at %-I:%M %p}")
        else:
            position = self.cases.position(case)
            if position == 0:
                saying = queue.agent_has_case
            else:
                minutes = self.centre.expected_wait_minutes(position)
                saying = queue.position.format(position=position, minutes=minutes)
        return twiml.hold(self.content, [saying])

    async def after_queue(self, params: Mapping[str, str]) -> VoiceResponse:
        """The ``<Enqueue>`` action URL: the caller is back from hold."""
        sid = params.get("CallSid", "")
        call = self.calls.get(sid)
        if call is None or params.get("QueueResult") == "hangup":
            return twiml.empty()
        call.enqueued = False
        pending = self.calls.take_pending(sid)
        if pending:
            call.checks_after_queue = 0
            return self._answer(call, pending)
        case = self.store.latest_for_conversation(sid)
        if case is not None and case.status in ON_HOLD and call.checks_after_queue == 0:
            # Left the queue while still waiting (queue full, an error): back in line.
            call.enqueued = True
            return twiml.enqueue(self.content, self._urls(call), [self.content.queue.placed])
        # Released or rejected, and the assistant's message is on its way: wait briefly for it.
        call.checks_after_queue += 1
        if call.checks_after_queue <= MAX_CHECKS_AFTER_QUEUE:
            sayings = [self.content.queue.back_with_nothing] if call.checks_after_queue == 1 else []
            return twiml.say_and_redirect(
                self.content, sayings, self._urls(call)["after_queue"], pause=2
            )
        call.checks_after_queue = 0
        return self._prompt(call, call.last_prompt, call.prompt_kind)

    async def whisper(self, params: Mapping[str, str]) -> VoiceResponse:
        """Dial mode: what the agent hears before the caller is connected."""
        code = " ".join(params.get("case", "").replace("-", ""))
        saying = self.content.handoff.whisper.format(case_code=code)
        return twiml.goodbye(self.content, [saying], farewell=False, hang_up=False)

    async def after_dial(self, params: Mapping[str, str]) -> VoiceResponse:
        """Dial mode: the agent's leg ended; the caller is back with the assistant. What the
        assistant has to say meanwhile (the released password, the steps) is said now."""
        sid = params.get("CallSid", "")
        call = self.calls.get(sid)
        if call is None:
            return twiml.empty()
        pending = self.calls.take_pending(sid)
        if pending:
            return self._answer(call, pending, before=[self.content.handoff.back_from_agent])
        sayings = [self.content.handoff.back_from_agent, *call.last_prompt]
        return self._prompt(call, sayings, call.prompt_kind, remember=False)

    def status(self, params: Mapping[str, str]) -> CaseStatus | None:
        """The status callback: when the call has ended, forget it and abandon a waiting case.

        Returns the status the conversation's case was left in (None: no case).
        """
        sid = params.get("CallSid", "")
        if params.get("CallStatus") not in ENDED:
            return None
        self.calls.end(sid)
        case = self.cases.current(sid)
        if case is None:
            return None
        if case.status in WAITING:
            try:
                case = self.store.transition(
                    case.code, CaseStatus.ABANDONED, actor="assistant", reason="the caller hung up"
                )
            except IllegalTransition:  # an agent claimed it a moment ago
                case = self.store.get(case.code)
        return case.status

    def _urls(self, call: Call) -> twiml.Urls:
        return self.urls.at_turn(call.turn)

    def _password_offer(self, call: Call) -> VoiceResponse:
        return twiml.prompt(
            self.content, self._urls(call), [self.content.password.offer_repeat], "password"
        )

    def technical_problem(self) -> VoiceResponse:
        """What the caller hears when something failed on our side: where else to get help."""
        saying = self.content.technical_problem.format(phone=self.centre.phone)
        return twiml.goodbye(self.content, [for_the_ear(saying)])

    # --- turns ---------------------------------------------------------------------------

    async def _to_dialogue(
        self, call: Call, text: str, before: list[str] | None = None
    ) -> VoiceResponse:
        messages = await self.dialogue(call.sid, text)
        if self._understood(messages):
            return self._answer(call, messages, before=before)
        # The dialogue's own "didn't catch that" is the first rephrasing; after that, the
        # reprompts escalate (keypad, then an agent) instead of repeating it.
        if call.reprompts == 0:
            call.reprompts = 1
            sayings = [for_the_ear(str(m["text"])) for m in messages if m.get("text")]
            sayings = [*(before or []), *sayings]
            return self._prompt(call, sayings, call.prompt_kind, remember=False)
        return await self._failed_turn(call)

    def _understood(self, messages: list[dict[str, Any]]) -> bool:
        return not any(
            _said(str(m.get("text") or ""), self.content.not_understood_markers)
            for m in messages
        )

    async def _failed_turn(self, call: Call, *, silence: bool = False) -> VoiceResponse:
        if (
            silence
            and call.prompt_kind in STEP_KINDS
            and call.waits < self.content.max_step_waits
        ):
            # At the recorder, silence is work, not confusion: wait, and ask gently again.
            call.waits += 1
            saying = self.content.step_waiting
            return self._prompt(call, [saying], call.prompt_kind, remember=False)
        call.reprompts += 1
        reprompts = self.content.reprompts
        if call.reprompts > len(reprompts):
            call.reprompts = 0
            call.reset_device_id()
            return await self._to_dialogue(call, self.content.agent_message)
        last = " ".join(call.last_prompt)
        saying = reprompts[call.reprompts - 1].format(
            prompt=last, keypad_help=self.content.keypad.help
        )
        return self._prompt(call, [saying], call.prompt_kind, remember=False)

    async def _device_id_turn(self, call: Call, speech: str, digits: str) -> VoiceResponse:
        wording = self.content.device_id
        if _said(speech, START_AGAIN):
            call.reset_device_id()
            return self._prompt(call, [wording.start_again], "device_id", remember=False)
        if call.device_id_limited:
            return await self._too_many_failures(call)
        lookups = self._lookups(call)
        if digits:
            keys = call.keys + "".join(d for d in digits if d.isdigit())
            try:
                resolution = resolve_keys(keys, self.formats, self.content.keypad, lookups)
            except TooManyFailures:
                return await self._too_many_failures(call)
            if resolution.found:
                call.keys = ""
                return self._read_back(call, resolution.found, lookups.counted)
            if resolution.could_continue and not resolution.complete:
                call.keys = keys
                chunks = " ".join(keys)
                return self._prompt(
                    call, [wording.got_piece.format(chunks=chunks)], "device_id", remember=False
                )
            call.keys = ""
            saying = self.content.keypad.not_found.format(keypad_help=self.content.keypad.help)
            return await self._failed_turn_with(call, saying)
        heard = hear(speech, self.content)
        if not heard.pieces:
            if call.id_pieces:
                return await self._failed_turn(call)
            # A question or a request, not an ID ("where do I find it?"): the dialogue answers.
            return await self._to_dialogue(call, speech)
        pieces = join_pieces(call.id_pieces, heard.pieces)
        try:
            resolution = resolve(
                pieces, self.formats, lookups, max_swaps=self.content.max_confusable_swaps
            )
        except TooManyFailures:
            return await self._too_many_failures(call)
        if resolution.found:
            call.id_pieces = ()
            return self._read_back(call, resolution.found, lookups.counted)
        if resolution.could_continue:
            call.id_pieces = pieces
            call.reprompts = 0
            saying = wording.got_piece.format(chunks=self._spoken_chunks(resolution))
            return self._prompt(call, [saying], "device_id", remember=False)
        # Complete but not registered, or no Device ID shape: the dialogue's checks say why, and
        # count the attempt (after three it offers a person), so a miss is not counted twice.
        self._forgive(lookups.counted)
        call.id_pieces = ()
        return await self._to_dialogue(call, resolution.heard)

    async def _failed_turn_with(self, call: Call, saying: str) -> VoiceResponse:
        call.reprompts += 1
        if call.reprompts > len(self.content.reprompts):
            return await self._failed_turn(call)
        return self._prompt(call, [saying], call.prompt_kind, remember=False)

    def _lookups(self, call: Call) -> CountedLookups:
        return CountedLookups(self.registry, self.limiter, subjects_for(conversation=call.sid))

    def _forgive(self, counted: Reservation | None) -> None:
        if counted is not None:
            self.limiter.forgive(counted)

    async def _too_many_failures(self, call: Call) -> VoiceResponse:
        """A failed-check limit is reached: nothing more is looked up or read back for this call;
        the caller hears why and is put through to an agent, as after repeated failed turns."""
        call.reset_device_id()
        call.device_id_limited = True
        call.reprompts = 0
        saying = self.content.device_id.too_many
        return await self._to_dialogue(call, self.content.agent_message, before=[saying])

    def _read_back(
        self, call: Call, found: tuple[str, ...], counted: Reservation | None
    ) -> VoiceResponse:
        """Read the first of ``found`` back; ``counted`` is the failure counted for it."""
        call.candidates, call.candidate, call.counted = found, 0, counted
        call.reprompts = 0
        chunks = read_back(found[0], self.formats, self.content)
        saying = self.content.device_id.read_back.format(chunks=chunks)
        return self._prompt(call, [saying], "confirm", remember=False)

    async def _confirm_turn(self, call: Call, speech: str, digits: str) -> VoiceResponse:
        answer = _yes_no(self.content, speech, digits)
        wording = self.content.device_id
        if answer is True:
            device_id = call.candidates[call.candidate]
            self._forgive(call.counted)  # confirmed: the dialogue's form checks and counts it
            call.reset_device_id()
            call.reprompts = 0
            return await self._to_dialogue(call, device_id)
        if answer is False:
            call.candidate += 1
            call.counted = None  # rejected: its failure stays counted
            if call.candidate < len(call.candidates):
                call.counted = self.limiter.reserve(subjects_for(conversation=call.sid))
                if call.counted is None:
                    return await self._too_many_failures(call)
                chunks = read_back(call.candidates[call.candidate], self.formats, self.content)
                saying = wording.next_candidate.format(chunks=chunks)
                return self._prompt(call, [saying], "confirm", remember=False)
            call.reset_device_id()
            return self._prompt(call, [wording.retry], "device_id", remember=False)
        call.reprompts += 1
        if call.reprompts > len(self.content.reprompts):
            call.reset_device_id()
            return await self._failed_turn(call)
        chunks = read_back(call.candidates[call.candidate], self.formats, self.content)
        saying = wording.read_back.format(chunks=chunks)
        return self._prompt(call, [saying], "confirm", remember=False)

    async def _password_turn(self, call: Call, speech: str, digits: str) -> VoiceResponse:
        wording = self.content.password
        ready = digits == self.content.yes_key or _said(speech, wording.ready_words)
        again = digits == self.content.no_key or _said(speech, wording.repeat_words)
        if ready and not again:
            call.reading_password = False
            call.reprompts = 0
            sayings, call.after_password = call.after_password, []
            return self._prompt(call, sayings or call.last_prompt, call.prompt_kind)
        if not again:
            call.reprompts += 1
            if call.reprompts > len(self.content.reprompts):
                call.reading_password = False
                return await self._failed_turn(call)
        return self._password(call, again=True)

    def _written(self, call: Call, speech: str) -> str:
        """Speech as the dialogue expects it typed, where the last question asked for an email
        address or a phone number ("dana at example dot com", "four one six five five five ...")."""
        asked = " ".join(call.last_prompt)
        if _said(asked, self.content.email_prompt_markers):
            return written_email(speech)
        if _said(asked, self.content.phone_prompt_markers):
            pieces = hear(speech, self.content).pieces
            digits = "".join(piece.heard for piece in pieces)
            if digits.isdigit() and 7 <= len(digits) <= 15:
                return written_number(digits)
        return speech

    # --- answering ---------------------------------------------------------------------------

    def _answer(
        self, call: Call, messages: list[dict[str, Any]], before: list[str] | None = None
    ) -> VoiceResponse:
        """TwiML for the dialogue's ``messages``: spoken, then listen; hold; or the password."""
        for index, message in enumerate(messages):
            if password_reference(message) is not None:
                sayings, _ = self._speakable(call, [*messages[:index], message])
                self._speakable(call, messages[index + 1 :])  # the steps' prompt, for later
                call.after_password = list(call.last_prompt)
                return self._deliver_password(call, [*(before or []), *sayings], message)
        sayings, kind = self._speakable(call, messages)
        sayings = [*(before or []), *sayings]
        call.reprompts = 0
        case = self.store.latest_for_conversation(call.sid)
        if case is not None and case.status in ON_HOLD and not call.enqueued:
            self._record_caller(call)
            call.enqueued = True
            call.checks_after_queue = 0
            if self.content.handoff.mode == "dial":
                sayings = [*sayings, self.content.handoff.dialling]
                return twiml.dial(self.content, self._urls(call), sayings, case.code)
            return twiml.enqueue(
                self.content, self._urls(call), [*sayings, self.content.queue.placed]
            )
        if kind == "finished":  # the assistant has said goodbye: the call is over
            return twiml.goodbye(self.content, sayings, farewell=False)
        if kind == "private_step":
            sayings = [*sayings, self.content.private_step_note]
        return self._prompt(call, sayings, kind)

    def _speakable(
        self, call: Call, messages: list[dict[str, Any]]
    ) -> tuple[list[str], str]:
        """What to say for ``messages`` and which prompt kind follows; remembered on the call
        as its last prompt."""
        sayings: list[str] = []
        kind = "default"
        for message in messages:
            data = (message.get("custom") or {}).get("data")
            if isinstance(data, dict) and data.get("type") == "reset_step":
                kind = "steps"
                if data.get("sensitive_input"):
                    kind = "private_step"
                if data.get("finished"):
                    kind = "finished"
            text = message.get("text")
            if isinstance(text, str) and text.strip() and password_reference(message) is None:
                sayings.append(for_the_ear(text))
        asks_for_id = any(_said(s, self.content.device_id_prompt_markers) for s in sayings)
        call.expecting_device_id = asks_for_id and kind == "default"
        if call.expecting_device_id:
            kind = "device_id"
        if sayings:
            call.last_prompt, call.prompt_kind = sayings, kind
        return sayings, kind

    def _prompt(
        self, call: Call, sayings: list[str], kind: str, *, remember: bool = True
    ) -> VoiceResponse:
        if remember:
            call.last_prompt, call.prompt_kind = sayings, kind
        return twiml.prompt(self.content, self._urls(call), sayings, kind)

    def _deliver_password(
        self, call: Call, sayings: list[str], message: dict[str, Any]
    ) -> VoiceResponse:
        revealed = reveal(message, call.sid)
        value = revealed["custom"]["data"]["temporary_password"].get("value")
        text = message.get("text")
        if not isinstance(value, str):
            call.after_password = []
            return self._prompt(call, [*sayings, self.content.password.unavailable], "default")
        call.password = value
        call.reading_password = True
        if isinstance(text, str) and text.strip():
            sayings.append(for_the_ear(text))
        return self._password(call, again=False, before=sayings)

    def _password(
        self, call: Call, *, again: bool, before: list[str] | None = None
    ) -> VoiceResponse:
        wording = self.content.password
        password = call.password or ""
        characters = spell_password(password, self.content)
        if again:
            lead = [wording.again]
        else:
            lead = [*(before or []), wording.intro.format(length=len(password))]
        return twiml.prompt(
            self.content,
            self._urls(call),
            [*lead, *characters, wording.offer_repeat],
            "password",
            pause_between=True,
        )

    def _record_caller(self, call: Call) -> None:
        """The caller's number on the queued case, for the agent's verification card."""
        if call.caller_recorded or not call.caller:
            return
        case = self.cases.current(call.sid)
        if case is None:
            return
        self.store.set_caller_phone(case.code, call.caller, actor="assistant")
        call.caller_recorded = True

    def _spoken_chunks(self, resolution: Resolution) -> str:
        heard = resolution.heard
        return self.content.device_id.chunk_pause.join(
            " ".join(heard[i : i + 4]) for i in range(0, len(heard), 4)
        )


def _xml(response: VoiceResponse) -> str:
    return str(response.to_xml())


def _said(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether ``text`` contains one of ``phrases`` as whole words (case does not matter)."""
    cleaned = "".join(c if c.isalnum() or c == "'" else " " for c in text.lower())
    words = " " + " ".join(cleaned.split()) + " "
    return any(f" {phrase} " in words for phrase in phrases)


def _yes_no(content: PhoneContent, speech: str, digits: str) -> bool | None:
    """The caller's answer to a yes/no question: True, False, or None (neither, or both)."""
    yes = digits == content.yes_key or _said(speech, content.yes_words)
    no = digits == content.no_key or _said(speech, content.no_words)
    return None if yes == no else yes
