"""A phone call, turn by turn: what the caller said or pressed, what reaches the dialogue, and the
TwiML that answers Twilio.

The dialogue (Rasa) is the same one the web chat talks to; this module is what makes it work by
ear and by keypad:

* **What is expected** comes only from the turn payload that ends every assistant turn
  (:mod:`bot.phone.contract`: ``expects``, ``step``, ``sensitive_input``), never from the
  wording: it picks the speech hints, the timeout and the keymap, and a reply without one keeps
  the call's expectation. Keys send intents (``*`` asks for a person everywhere; yes/no and step
  keys per phone.yml); speech goes to the dialogue as it was said, written as typed where an email
  address or a phone number is expected; the call's first turn sends ``/request_password_reset``.
* **Device ID entry** (:mod:`bot.phone.device_id_entry`): heard or keyed in pieces, read back in
  the channel, and only a confirmed ID is passed on (``/provide_device_id{...}``), with the
  read-back lookups counted against the failed-check limits; past them the caller hears why and
  is put through to an agent. A returning caller's case proof (``case_proof``) that is a Device
  ID, said (letters among it) or keyed (as many keys as an ID has), goes the same way.
* **Reprompts.** Silence, a transcript with nothing usable, or a turn the dialogue could not
  handle (``"understood": false``), counts as a failed turn: the first is the dialogue's own
  re-ask (or the last prompt rephrased), the second offers the keypad, the third an agent, and
  after that the caller is put through to one. Any understood turn resets the count. The
  sentences of one answer are said once each, however many of its messages repeat them.
* **Queue.** When the dialogue has queued the conversation's case, the caller is put on hold with
  ``<Enqueue>``. The wait URL tells the position and expected wait and plays hold music, and
  answers ``<Leave/>`` once the case is released or rejected (or the assistant has something to
  say). The assistant's messages produced meanwhile (Rasa's ``output_channel=latest``) are kept
  in the call's memory and spoken when the caller is back (the ``<Enqueue>`` action URL).
* **Temporary password.** Revealed from the vault just before it is spoken, read one character
  at a time (letters with a spelling word), repeated as often as asked, kept in memory for the
  call only, then the steps begin. Asked for again later (a ``temporary_password_again``
  payload), it is read from the call's memory, or the caller hears that this call no longer has
  it and how to get it released again.
* **The end.** A turn whose state ends the conversation (finished, rejected, closed) ends the
  call: after a rejection the caller has heard what they can do next, then goodbye.
* **Hang-up.** The conversation's case, if it is still collecting or queued, is abandoned.
* **Replays** are refused before a request reaches this module (:mod:`bot.phone.once`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from bot.cases.conversation import ConversationCases
from bot.cases.errors import IllegalTransition
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.channels.password_delivery import password_reference, reveal
from bot.db import utcnow
from bot.devices.check_limits import FailedCheckLimiter
from bot.devices.formats import DeviceIdFormats
from bot.handoff.support_centre import SupportCentre
from bot.phone import twiml
from bot.phone.calls import Call, CallStore
from bot.phone.content import PhoneContent
from bot.phone.contract import intent_message, payload, turn_of
from bot.phone.device_id_entry import Ask, DeviceIdEntry, Failed, Outcome, Pass
from bot.phone.speech import (
    for_the_ear,
    says,
    says_only,
    spell_password,
    without_repeats,
    written_email,
    written_number,
)
from bot.phone.spoken import RegisteredIds, hear

logger = logging.getLogger(__name__)

# The dialogue: given the conversation (CallSid) and what the caller said, the messages it answers.
Dialogue = Callable[[str, str], Awaitable[list[dict[str, Any]]]]

ENDED = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})
WAITING = frozenset({CaseStatus.COLLECTING, CaseStatus.QUEUED})
ON_HOLD = frozenset({CaseStatus.QUEUED, CaseStatus.ASSIGNED})
MAX_CHECKS_AFTER_QUEUE = 5
# Prompt kinds at a reset step: "private_step" is where the caller types the new password on the
# recorder, so only keys are listened to (speech would be transcribed and stored).
STEP_KINDS = frozenset({"steps", "private_step"})
# Where speech is written as typed: an email address, a phone number (a returning owner's proof
# may be either).
EMAIL_KINDS = frozenset({"owner_email", "case_proof"})
NUMBER_KINDS = frozenset({"owner_phone", "case_proof"})
@dataclass
class CallFlow:
    content: PhoneContent
    formats: DeviceIdFormats
    calls: CallStore
    registry: RegisteredIds
    store: CaseStore
    centre: SupportCentre
    urls: twiml.Urls
    dialogue: Dialogue
    # Counts registry lookups and rejected read-backs as failed Device ID checks.
    limiter: FailedCheckLimiter
    now: Callable[[], datetime] = utcnow

    @property
    def cases(self) -> ConversationCases:
        return ConversationCases(self.store)

    @property
    def entry(self) -> DeviceIdEntry:
        return DeviceIdEntry(self.content, self.formats, self.registry, self.limiter)

    async def voice(
        self,
        params: Mapping[str, str],
        call: Call | None,
        turn: str | None = None,
        *,
        retrying: bool = False,
    ) -> tuple[VoiceResponse, Call | None]:
        """A gather's answer (or the call coming in) to ``call`` as loaded: the answer, and the
        call to save (a new one on the call's first request)."""
        sid = params.get("CallSid", "")
        if call is None:
            if turn is not None:
                # A turn of a call the store does not know: it ended long ago (a replay), or its
                # state expired. Nothing reaches the dialogue either way.
                logger.info("phone: a request for a call the store does not know")
                return self.technical_problem(), None
            if not retrying and self.store.latest_for_conversation(sid) is not None:
                # The first request of a call that already has a case: a replay, long after.
                # (Twilio's retry of it finds the case its first attempt opened before its
                # instance died: that one is answered.)
                return twiml.hang_up(), None
            call = self.calls.start(sid, params.get("From") or None)
            messages = await self.dialogue(sid, intent_message(self.content.first_intent))
            return self._answer(call, messages, before=[self.content.welcome]), call
        return await self._gathered(call, params), call

    async def _gathered(self, call: Call, params: Mapping[str, str]) -> VoiceResponse:
        # Speech is never an intent message: only the channel sends "/intent" (keys, the ID).
        speech = (params.get("SpeechResult") or "").strip().lstrip("/").strip()
        digits = (params.get("Digits") or "").strip()
        own_question = call.reading_password or bool(call.candidates or call.id_pieces)
        if digits == self.content.agent_key or (
            own_question and says(speech, self.content.agent_words)
        ):
            # While the channel asks its own question, "agent" is the channel's to hear; anywhere
            # else speech goes to the dialogue as it was said.
            call.reset_device_id()
            call.reading_password = False
            return await self._to_dialogue(call, intent_message(self.content.agent_intent))
        if call.reading_password:
            return await self._password_turn(call, speech, digits)
        if call.candidates:
            answer = _yes_no(self.content, speech, digits)
            return await self._entry_outcome(call, self.entry.confirm(call, answer))
        if not speech and not digits:
            return await self._failed_turn(call, silence=True)
        if call.prompt_kind in STEP_KINDS and speech and not digits:
            if says_only(speech, self.content.hold_phrases):
                # "Hold on": the caller is busy at the recorder. Wait, gently, as for silence.
                call.waits += 1
                return self._prompt(
                    call, [self.content.holding], call.prompt_kind, remember=False
                )
            if says(speech, self.content.ready_phrases) and call.waits:
                # Back from waiting: say the step again rather than guess it was done.
                call.waits = 0
                intent = self.content.after_waiting_intent
                return await self._to_dialogue(call, intent_message(intent))
        call.waits = 0
        if call.prompt_kind == "device_id" or (
            call.prompt_kind == "case_proof" and self._device_id_proof(call, speech, digits)
        ):
            # A returning caller's proof may be the Device ID: heard (or keyed) and read back as
            # in gathering, and only the ID the caller confirms is compared with the case's.
            return await self._entry_outcome(call, self.entry.turn(call, speech, digits))
        if digits:
            return await self._keys(call, digits)
        return await self._to_dialogue(call, self._written(call, speech))

    async def _keys(self, call: Call, digits: str) -> VoiceResponse:
        """Keys pressed outside Device ID entry: the intent the expectation's keymap names."""
        number = digits.rstrip("#")
        if call.prompt_kind in NUMBER_KINDS and number.isdigit() and 7 <= len(number) <= 15:
            # The phone number question says it may be keyed in.
            return await self._to_dialogue(call, written_number(number))
        expects = "step" if call.prompt_kind in STEP_KINDS else call.prompt_kind
        keymap = self.content.keys.get(expects)
        intent = (keymap or {}).get(digits)
        if intent is None:
            return await self._failed_turn(call)
        return await self._to_dialogue(call, intent_message(intent))

    async def wait(self, params: Mapping[str, str], call: Call | None) -> VoiceResponse:
        """The ``<Enqueue>`` wait URL: where the caller stands, or ``<Leave/>`` when it's time.
        Changes nothing on the call."""
        sid = params.get("CallSid", "")
        case = self.store.latest_for_conversation(sid)
        if call is None or case is None:
            return twiml.leave()
        if call.has_pending or case.status not in ON_HOLD:
            return twiml.leave()
        queue = self.content.queue
        now = self.now()
        if not self.centre.is_open(now):
            opening = self.centre.next_opening(now)
            spoken_opening = f"{opening:%A at %-I:%M %p} {self.centre.zone_name}"
            saying = queue.closed.format(opening=spoken_opening)
        else:
            position = self.cases.position(case)
            if position == 0:
                saying = queue.agent_has_case
            else:
                minutes = self.centre.expected_wait_minutes(position)
                saying = queue.position.format(position=position, minutes=minutes)
        return twiml.hold(self.content, [saying])

    async def after_queue(self, params: Mapping[str, str], call: Call | None) -> VoiceResponse:
        """The ``<Enqueue>`` action URL: the caller is back from hold."""
        sid = params.get("CallSid", "")
        if call is None or params.get("QueueResult") == "hangup":
            return twiml.empty()
        call.enqueued = False
        pending = call.take_pending()
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

    async def after_dial(self, params: Mapping[str, str], call: Call | None) -> VoiceResponse:
        """Dial mode: the agent's leg ended; the caller is back with the assistant. What the
        assistant has to say meanwhile (the released password, the steps) is said now."""
        if call is None:
            return twiml.empty()
        pending = call.take_pending()
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

    def password_offer(self, call: Call) -> VoiceResponse:
        """What a retry of the answer that spelt the password hears instead: how to hear it."""
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
        turn = turn_of(messages)
        if turn is None or turn.understood:
            return self._answer(call, messages, before=before)
        # The dialogue's own short re-ask is the first rephrasing; after that, the reprompts
        # escalate (keypad, then an agent) instead of repeating it.
        sayings, kind = self._speakable(call, messages, remember=False)
        call.prompt_kind = kind  # what is expected still comes from the payload
        if call.reprompts == 0:
            call.reprompts = 1
            return self._prompt(call, [*(before or []), *sayings], kind, remember=False)
        return await self._failed_turn(call)

    async def _failed_turn(
        self, call: Call, *, silence: bool = False, saying: str | None = None
    ) -> VoiceResponse:
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
            return await self._to_dialogue(call, intent_message(self.content.agent_intent))
        if saying is None:
            last = " ".join(call.last_prompt)
            saying = reprompts[call.reprompts - 1].format(
                prompt=last, keypad_help=self.content.keypad.help
            )
        return self._prompt(call, [saying], call.prompt_kind, remember=False)

    async def _entry_outcome(self, call: Call, outcome: Outcome) -> VoiceResponse:
        """Carry out what Device ID entry decided."""
        if isinstance(outcome, Ask):
            return self._prompt(call, list(outcome.sayings), outcome.kind, remember=False)
        if isinstance(outcome, Pass):
            return await self._to_dialogue(call, outcome.message)
        if isinstance(outcome, Failed):
            return await self._failed_turn(call, saying=outcome.saying)
        return await self._too_many_failures(call)

    async def _too_many_failures(self, call: Call) -> VoiceResponse:
        """A failed-check limit is reached: nothing more is looked up or read back for this call;
        the caller hears why and is put through to an agent, as after repeated failed turns."""
        call.reset_device_id()
        call.device_id_limited = True
        call.reprompts = 0
        saying = self.content.device_id.too_many
        agent = intent_message(self.content.agent_intent)
        return await self._to_dialogue(call, agent, before=[saying])

    async def _password_turn(self, call: Call, speech: str, digits: str) -> VoiceResponse:
        wording = self.content.password
        ready = digits == self.content.yes_key or says(speech, wording.ready_words)
        again = digits == self.content.no_key or says(speech, wording.repeat_words)
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

    def _device_id_proof(self, call: Call, speech: str, digits: str) -> bool:
        """Whether a case proof is a Device ID (or more of one), not an email address or a phone
        number: letters among what was heard (every Device ID has some; a phone number has
        none), or as many keys as a Device ID has (the keypad reads letters as their keys)."""
        if call.id_pieces or call.keys:
            return True
        if digits:
            return len(digits.rstrip("#")) in self.formats.device_id_lengths()
        if "@" in speech or written_email(speech) != speech:
            return False
        heard = "".join(piece.heard for piece in hear(speech, self.content).pieces)
        return any(character.isalpha() for character in heard)

    def _written(self, call: Call, speech: str) -> str:
        """Speech as the dialogue expects it typed, where the assistant expects an email address
        or a phone number ("dana at example dot com", "four one six five five five ...")."""
        if call.prompt_kind in EMAIL_KINDS:
            written = written_email(speech)
            if written != speech:
                return written
        if call.prompt_kind in NUMBER_KINDS:
            pieces = hear(speech, self.content).pieces
            digits = "".join(piece.heard for piece in pieces)
            if digits.isdigit() and 7 <= len(digits) <= 15:
                return written_number(digits)
        return speech

    # --- answering ---------------------------------------------------------------------------

    def _answer(
        self, call: Call, messages: list[dict[str, Any]], before: list[str] | None = None
    ) -> VoiceResponse:
        """TwiML for the dialogue's ``messages``: spoken, then listen; hold; the password (first
        time or again); or goodbye."""
        for index, message in enumerate(messages):
            again = payload(message, "temporary_password_again") is not None
            if again or password_reference(message) is not None:
                sayings, _ = self._speakable(call, messages[: index + 1])
                self._speakable(call, messages[index + 1 :])  # what follows, for later
                call.after_password = list(call.last_prompt)
                sayings = without_repeats([*(before or []), *sayings])
                if again:
                    return self._password_again(call, sayings)
                return self._deliver_password(call, sayings, message)
        sayings, kind = self._speakable(call, messages)
        sayings = without_repeats([*(before or []), *sayings])
        call.reprompts = 0
        case = self.store.latest_for_conversation(call.sid)
        if case is not None and case.status in ON_HOLD and not call.enqueued:
            self._record_caller(call)
            call.enqueued = True
            call.checks_after_queue = 0
            if self.content.handoff.mode == "dial":
                sayings = without_repeats([*sayings, self.content.handoff.dialling])
                return twiml.dial(self.content, self._urls(call), sayings, case.code)
            sayings = without_repeats([*sayings, self.content.queue.placed])
            return twiml.enqueue(self.content, self._urls(call), sayings)
        if kind == "finished":
            # The guide said its own goodbye; after a rejection or a closed case the caller has
            # heard what they can do next, and the call ends politely.
            farewell = call.state != "finished"
            return twiml.goodbye(self.content, sayings, farewell=farewell)
        if kind == "private_step":
            sayings = [*sayings, self.content.private_step_note]
        return self._prompt(call, sayings, kind)

    def _speakable(
        self, call: Call, messages: list[dict[str, Any]], *, remember: bool = True
    ) -> tuple[list[str], str]:
        """What to say for ``messages`` and the prompt kind that follows, from their turn payload
        (none: the call keeps its expectation). Remembered on the call as its last prompt."""
        sayings = [
            for_the_ear(text)
            for message in messages
            if isinstance(text := message.get("text"), str)
            and text.strip()
            and password_reference(message) is None
        ]
        turn = turn_of(messages)
        kind = call.prompt_kind if turn is None else turn.prompt_kind
        if turn is not None:
            call.state = turn.state
        if remember:
            call.prompt_kind = kind
            if sayings:
                call.last_prompt = sayings
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
        shown = revealed["custom"]["data"]["temporary_password"]
        value, until = shown.get("value"), _moment(shown.get("expires_at"))
        text = message.get("text")
        if not isinstance(value, str):
            call.after_password = []
            return self._prompt(call, [*sayings, self.content.password.unavailable], "default")
        # Kept for repeating while it is valid (and no longer than the call: the store's part).
        call.password, call.password_until = value, until
        call.reading_password = True
        if isinstance(text, str) and text.strip():
            sayings.append(for_the_ear(text))
        return self._password(call, again=False, before=sayings)

    def _password_again(self, call: Call, sayings: list[str]) -> VoiceResponse:
        """The owner asked for the password again: read from the call's memory, if it holds it."""
        if call.password is None:
            after, call.after_password = call.after_password, []
            saying = self.content.password.not_on_this_call
            return self._prompt(call, [*sayings, saying, *after], call.prompt_kind)
        call.reading_password = True
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


def _moment(value: object) -> datetime | None:
    """A release's validity as the vault gives it (ISO 8601; UTC without an offset); None if not
    one (the password is then not kept past this request)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _yes_no(content: PhoneContent, speech: str, digits: str) -> bool | None:
    """The caller's answer to a yes/no question: True, False, or None (neither, or both)."""
    yes = digits == content.yes_key or says(speech, content.yes_words)
    no = digits == content.no_key or says(speech, content.no_words)
    return None if yes == no else yes
