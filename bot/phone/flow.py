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
* **Language.** When several languages are offered the call starts with the language menu
  (each language's line in its own voice; a key, or a language named in any of them; silence or
  anything unclear: once more, then English), before the welcome. The call's language picks the
  content (data/content/<lang>/phone.yml: wording, word lists, voice and recogniser, how a Device
  ID is spelt) and goes to the dialogue with every message (metadata ``language``), so its
  replies come back in it; "en español por favor" later in the call switches both.
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
  with the call in its store and spoken when the caller is back (the ``<Enqueue>`` action URL).
* **Temporary password.** Revealed from the vault just before it is spoken, read one character
  at a time (letters with a spelling word), repeated as often as asked, kept with the call (only
  while it is valid; encrypted on Redis), then the steps begin. Asked for again later (a
  ``temporary_password_again`` payload), it is read from the call's state, or the caller hears
  that this call no longer has it and how to get it released again.
* **The end.** A turn whose state ends the conversation (finished, rejected, closed) ends the
  call: after a rejection the caller has heard what they can do next, then goodbye.
* **Hang-up.** The conversation's case, if it is still collecting or queued, is abandoned.
* **Replays** are refused before a request reaches this module (:mod:`bot.phone.once`).

How: the decisions are :class:`bot.phone.machine.CallMachine`'s pure transitions, from the call's
stored state and an event; this module is the shell around them. It turns a request into the
first event, carries out the commands a transition ends with (ask the dialogue, reveal the
password, Device ID lookups, the caller's number on the case), hands their results back as
events, and renders the reply as TwiML (:func:`bot.phone.twiml.render`). Each request's call is
loaded and saved by :mod:`bot.phone.once`.
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
from bot.channels.password_delivery import reveal
from bot.db import utcnow
from bot.devices.check_limits import FailedCheckLimiter
from bot.devices.formats import DeviceIdFormats
from bot.handoff.support_centre import SupportCentre, load_support_centre
from bot.phone import twiml
from bot.phone.calls import Call, CallStore
from bot.phone.content import PhoneContent
from bot.phone.lookup import DeviceIdLookups
from bot.phone.machine import CallMachine
from bot.phone.speech import for_the_ear
from bot.phone.spoken import RegisteredIds
from bot.phone.steps import (
    Answered,
    AskDialogue,
    BackFromAgent,
    BackFromQueue,
    CallerRecorded,
    CaseFacts,
    Command,
    Event,
    Gathered,
    QueueFacts,
    RecordCaller,
    Reveal,
    Revealed,
    Step,
)

logger = logging.getLogger(__name__)

# The dialogue: given the conversation (CallSid), what the caller said and the call's language, the
# messages it answers (in that language).
Dialogue = Callable[[str, str, str], Awaitable[list[dict[str, Any]]]]

ENDED = frozenset({"completed", "canceled", "busy", "failed", "no-answer"})
WAITING = frozenset({CaseStatus.COLLECTING, CaseStatus.QUEUED})
ON_HOLD = frozenset({CaseStatus.QUEUED, CaseStatus.ASSIGNED})
# Commands one request may carry out at most (a failed turn, its escalation to an agent, the
# dialogue's answer ... are a handful): a bound, should a transition ever loop.
MAX_COMMANDS = 12


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
    # Every language a caller may choose, by code, English (``content``'s) first; None: only
    # ``content``'s, and no language menu.
    contents: Mapping[str, PhoneContent] | None = None

    @property
    def cases(self) -> ConversationCases:
        return ConversationCases(self.store)

    def speaking(self, call: Call | None) -> PhoneContent:
        """The content of the call's language (English's until the caller has chosen)."""
        language = None if call is None else call.language
        return (self.contents or {}).get(language or "", self.content)

    def _centre(self, call: Call) -> SupportCentre:
        """The support centre, with its days and times in the call's language."""
        if call.language in (None, self.content.code):
            return self.centre
        return load_support_centre(language=call.language)

    def lookups(self, call: Call) -> DeviceIdLookups:
        return DeviceIdLookups(self.registry, self.limiter, self.formats, self.speaking(call))

    def machine(self, call: Call | None) -> CallMachine:
        """The call's state machine, speaking the call's language."""
        dial_mode = self.content.handoff.mode == "dial"
        content = self.speaking(call)
        return CallMachine(content, self.formats, dial_mode=dial_mode, contents=self.contents)

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
            call, step = self.machine(None).call_comes_in(
                self.calls.start(sid, params.get("From") or None)
            )
            return await self._run(call, step)
        # Speech is never an intent message: only the channel sends "/intent" (keys, the ID).
        speech = (params.get("SpeechResult") or "").strip().lstrip("/").strip()
        digits = (params.get("Digits") or "").strip()
        return await self._go(call, Gathered(speech, digits))

    async def wait(self, params: Mapping[str, str], call: Call | None) -> VoiceResponse:
        """The ``<Enqueue>`` wait URL: where the caller stands, or ``<Leave/>`` when it's time.
        Changes nothing on the call."""
        case = self.store.latest_for_conversation(params.get("CallSid", ""))
        facts = QueueFacts(None if case is None else _facts(case.code, case.status))
        if call is not None and facts.case is not None and facts.case.on_hold:
            assert case is not None
            now = self.now()
            if not self.centre.is_open(now):
                opening = self.centre.next_opening(now)
                spoken = self._centre(call).opening_words(opening, spoken=True)
                facts = QueueFacts(facts.case, closed_until=spoken)
            else:
                position = self.cases.position(case)
                minutes = self.centre.expected_wait_minutes(position) if position else 0
                facts = QueueFacts(facts.case, position=position, minutes=minutes)
        reply = self.machine(call).on_hold(call, facts)
        urls = self.urls if call is None else self._urls(call)
        return twiml.render(reply, self.speaking(call), urls)

    async def after_queue(
        self, params: Mapping[str, str], call: Call | None
    ) -> tuple[VoiceResponse, Call | None]:
        """The ``<Enqueue>`` action URL: the caller is back from hold."""
        if call is None:
            return twiml.empty(), None
        back = BackFromQueue(params.get("QueueResult", ""), self._case(call.sid))
        return await self._go(call, back)

    async def whisper(self, params: Mapping[str, str]) -> VoiceResponse:
        """Dial mode: what the agent hears before the caller is connected."""
        code = " ".join(params.get("case", "").replace("-", ""))
        saying = self.content.handoff.whisper.format(case_code=code)
        return twiml.goodbye(self.content, [saying], farewell=False, hang_up=False)

    async def after_dial(
        self, params: Mapping[str, str], call: Call | None
    ) -> tuple[VoiceResponse, Call | None]:
        """Dial mode: the agent's leg ended; the caller is back with the assistant. What the
        assistant has to say meanwhile (the released password, the steps) is said now."""
        if call is None:
            return twiml.empty(), None
        return await self._go(call, BackFromAgent(self._case(call.sid)))

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

    def password_offer(self, call: Call) -> VoiceResponse:
        """What a retry of the answer that spelt the password hears instead: how to hear it."""
        offer = self.machine(call).password_offer()
        return twiml.render(offer, self.speaking(call), self._urls(call))

    def technical_problem(self, language: str | None = None) -> VoiceResponse:
        """What the caller hears when something failed on our side: where else to get help (in
        the call's ``language``, when it is known)."""
        content = (self.contents or {}).get(language or "", self.content)
        saying = content.technical_problem.format(phone=self.centre.phone)
        return twiml.goodbye(content, [for_the_ear(saying, content.ear)])

    # --- the shell around the machine ---------------------------------------------------------

    def _urls(self, call: Call) -> twiml.Urls:
        return self.urls.at_turn(call.turn)

    async def _go(self, call: Call, event: Event) -> tuple[VoiceResponse, Call]:
        call, step = self.machine(call).transition(call, event)
        return await self._run(call, step)

    async def _run(self, call: Call, step: Step) -> tuple[VoiceResponse, Call]:
        """Carry out the commands the machine ends with, until it replies; that reply as TwiML,
        and the call's new state."""
        for _ in range(MAX_COMMANDS):
            if not isinstance(step, Command):
                return twiml.render(step, self.speaking(call), self._urls(call)), call
            event = await self._carry_out(call, step)
            call, step = self.machine(call).transition(call, event)
        raise RuntimeError("the call's state machine did not come to a reply")

    async def _carry_out(self, call: Call, command: Command) -> Event:
        if isinstance(command, AskDialogue):
            language = call.language or self.content.code
            messages = await self.dialogue(call.sid, command.text, language)
            case = self._case(call.sid)
            return Answered(tuple(messages), command.before, command.checked, case)
        if isinstance(command, Reveal):
            revealed = reveal(command.message, call.sid)
            shown = revealed["custom"]["data"]["temporary_password"]
            value, text = shown.get("value"), command.message.get("text")
            return Revealed(
                value if isinstance(value, str) else None,
                _moment(shown.get("expires_at")),
                text if isinstance(text, str) else None,
                command.sayings,
            )
        if isinstance(command, RecordCaller):
            return CallerRecorded(command.then, self._record_caller(call))
        return self.lookups(call).carry_out(call.sid, command)  # Device ID entry's

    def _case(self, sid: str) -> CaseFacts | None:
        case = self.store.latest_for_conversation(sid)
        return None if case is None else _facts(case.code, case.status)

    def _record_caller(self, call: Call) -> bool:
        """The caller's number on the queued case, for the agent's verification card."""
        case = self.cases.current(call.sid)
        if case is None or not call.caller:
            return False
        self.store.set_caller_phone(case.code, call.caller, actor="assistant")
        return True


def _facts(code: str, status: CaseStatus) -> CaseFacts:
    return CaseFacts(code, on_hold=status in ON_HOLD)


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
