"""A phone call as a state machine: pure transitions from the call's stored state and an event to
its new state and what comes next (:mod:`bot.phone.steps`).

The state is the :class:`~bot.phone.call_state.Call` the store keeps between two webhooks; a
transition never changes the call it is given (it works on a copy, returned) and does no I/O:
what needs I/O (the dialogue, the vault, Device ID lookups, the case) is a command the shell
(:class:`bot.phone.flow.CallFlow`) carries out, handing the result back as the next event.
Device ID entry's transitions (:mod:`bot.phone.device_id_entry`) are part of it, pure as well.

============================  =========================  =========================================
Where the call is (state)     Event                      What follows
============================  =========================  =========================================
coming in (several languages) the call rings             the language menu, each line in its voice
the menu (``language`` None)  a key, a language's name   that language's welcome and first turn
                              silence, anything unclear  the menu once more, then English
anywhere                      "en español por favor"     that language from now on; the question
                                                         asked again in it
anywhere                      star; "agent" (own quest.) the dialogue's agent intent
``reading_password``          "ready" / "again"          what came after it / the password again
``candidates`` (read-back)    yes / no / neither         Device ID entry confirms, reads on, asks
asking (``prompt_kind``)      silence                    reprompts (rephrased, keypad), an agent
at a step (``steps``)         silence, "hold on"         a gentle wait (``waits``)
                              "ready" after waiting      the dialogue's repeat intent
asking for the Device ID      speech or keys             Device ID entry (pieces, read-back)
asking anything else          keys / speech              the keymap's intent / the dialogue
after the dialogue's turn     understood                 a prompt, the queue, the password, goodbye
                              not understood             its re-ask once, then the reprompts
on hold (``enqueued``)        the wait URL               position and wait, or leave
back from hold or the agent   messages pushed meanwhile  their answer; else back in line, a short
                                                         wait, or the last prompt
============================  =========================  =========================================

The hang-up (the status callback) is the shell's: it ends the call in the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.channels.password_delivery import password_reference
from bot.devices.formats import DeviceIdFormats
from bot.phone.call_state import Call
from bot.phone.content import EarWording, PhoneContent
from bot.phone.contract import intent_message, payload, turn_of
from bot.phone.device_id_entry import (
    Ask,
    DeviceIdEntry,
    EntryStep,
    Failed,
    Forgiven,
    Limited,
    LookedUp,
    Outcome,
    Pass,
    ReadBackCounted,
)
from bot.phone.speech import (
    for_the_ear,
    read_back,
    says,
    says_only,
    spell_password,
    without_repeats,
    written_as_typed,
    written_number,
    yes_or_no,
)
from bot.phone.spelling import folded
from bot.phone.steps import (
    Answered,
    AskDialogue,
    BackFromAgent,
    BackFromQueue,
    CallerRecorded,
    CheckAgain,
    Dial,
    Enqueue,
    Event,
    Gathered,
    Goodbye,
    Hold,
    LanguageMenu,
    Leave,
    MenuLine,
    Nothing,
    Prompt,
    QueueFacts,
    RecordCaller,
    Reply,
    Reveal,
    Revealed,
    Step,
)

MAX_CHECKS_AFTER_QUEUE = 5
# After silence or an unclear answer the language menu is said this many times more; then the
# call goes on in the first language (English), never in a loop.
MENU_RETRIES = 1
# Prompt kinds at a reset step: "private_step" is where the caller types the new password on the
# recorder, so only keys are listened to (speech would be transcribed and stored).
STEP_KINDS = frozenset({"steps", "private_step"})
# Where keys may be a phone number (a returning owner's proof may be one).
NUMBER_KINDS = frozenset({"owner_phone", "case_proof"})


@dataclass(frozen=True)
class CallMachine:
    """The transitions, given the call's content (wording, keys) and the Device ID formats."""

    content: PhoneContent  # the call's language's
    formats: DeviceIdFormats
    dial_mode: bool = False  # phone.yml's handoff mode: dial the centre instead of queueing
    # Every language the caller may choose, by code, the first the fallback (None: ``content``'s
    # language alone, and no menu).
    contents: Mapping[str, PhoneContent] | None = None

    @property
    def languages(self) -> Mapping[str, PhoneContent]:
        return self.contents or {self.content.code: self.content}

    def speaking(self, language: str | None) -> CallMachine:
        """The machine for a call in ``language`` (this one's, if it is not offered)."""
        content = self.languages.get(language or "", self.content)
        return dataclasses.replace(self, content=content)

    def call_comes_in(self, call: Call) -> tuple[Call, Step]:
        """The call's first request: the language menu, or (one language) the first turn."""
        call = dataclasses.replace(call)
        if len(self.languages) > 1:
            return call, self._menu()
        call.language = self.content.code
        return call, self.first_turn()

    def transition(self, call: Call, event: Event) -> tuple[Call, Step]:
        """The call's new state (a copy) and what comes next, after ``event``."""
        call = dataclasses.replace(call)
        if isinstance(event, Gathered) and call.language is None and len(self.languages) > 1:
            return call, self._choose(call, event.speech, event.digits)
        if isinstance(event, Gathered):
            return call, self._gathered(call, event.speech, event.digits)
        if isinstance(event, Answered):
            return call, self._answered(call, event)
        if isinstance(event, Revealed):
            return call, self._revealed(call, event)
        if isinstance(event, LookedUp | ReadBackCounted | Forgiven):
            return call, self._entry_step(call, self.entry.on(call, event))
        if isinstance(event, CallerRecorded):
            call.caller_recorded = call.caller_recorded or event.recorded
            return call, event.then
        if isinstance(event, BackFromQueue):
            return call, self._back_from_queue(call, event)
        return call, self._back_from_agent(call, event)

    @property
    def entry(self) -> DeviceIdEntry:
        return DeviceIdEntry(self.content, self.formats)

    def first_turn(self) -> AskDialogue:
        """The call comes in: the dialogue's first intent, after the welcome."""
        content = self.content
        return AskDialogue(intent_message(content.first_intent), (content.welcome,), checked=False)

    def on_hold(self, call: Call | None, facts: QueueFacts) -> Reply:
        """The wait URL: where the caller stands, or leave when it's time (no change)."""
        if call is None or facts.case is None or call.has_pending or not facts.case.on_hold:
            return Leave()
        queue = self.content.queue
        if facts.closed_until is not None:
            saying = queue.closed.format(opening=facts.closed_until)
        elif facts.position == 0:
            saying = queue.agent_has_case
        else:
            saying = queue.position.format(position=facts.position, minutes=facts.minutes)
        return Hold((saying,))

    def password_offer(self) -> Prompt:
        """What a retry of the answer that spelt the password hears instead: how to hear it."""
        return Prompt((self.content.password.offer_repeat,), "password")

    # --- the language ---------------------------------------------------------------------------

    def _menu(self) -> LanguageMenu:
        languages = self.languages.values()
        lines = tuple(MenuLine(c.choice.option, c.voice, c.language) for c in languages)
        hints = ", ".join(name for c in languages for name in c.choice.names)
        return LanguageMenu(lines, self.content.language, hints)

    def _choose(self, call: Call, speech: str, digits: str) -> Step:
        """The answer to the language menu: that language's welcome and first turn."""
        chosen = chosen_language(self.languages, speech, digits)
        if chosen is None and call.language_asks < MENU_RETRIES:
            call.language_asks += 1
            return self._menu()
        call.language = chosen or next(iter(self.languages))
        return self.speaking(call.language).first_turn()

    def _switch_to(self, call: Call, speech: str) -> str | None:
        """The language ``speech`` asks to go on in, if it is such a request (and another)."""
        if not speech or len(self.languages) < 2:
            return None
        heard = folded(speech)
        for code, content in self.languages.items():
            # Longest first: "en français s'il vous plaît" is one request, not three words more.
            phrases = tuple(
                sorted((folded(p) for p in content.choice.switch_phrases), key=len, reverse=True)
            )
            if code != call.language and says_only(heard, phrases):
                return code
        return None

    def _switched(self, call: Call) -> Step:
        """The call now speaks this machine's language: what was being asked, asked again in it
        (the channel's own question here, the dialogue's by its repeat intent)."""
        content = self.content
        call.reprompts = 0
        if call.candidates:
            chunks = read_back(call.candidates[call.candidate], self.formats, content)
            sayings = [content.choice.switched, content.device_id.read_back.format(chunks=chunks)]
            return _prompt(call, sayings, "confirm", remember=False)
        if call.reading_password:
            return self._password(call, again=False, before=[content.choice.switched])
        return AskDialogue(intent_message(content.after_waiting_intent), (content.choice.switched,))

    # --- a gather's answer ---------------------------------------------------------------------

    def _gathered(self, call: Call, speech: str, digits: str) -> Step:
        content = self.content
        switch = self._switch_to(call, speech)
        if switch is not None:
            call.language = switch
            return self.speaking(switch)._switched(call)
        own_question = call.reading_password or bool(call.candidates or call.id_pieces)
        if digits == content.agent_key or (own_question and says(speech, content.agent_words)):
            # While the channel asks its own question, "agent" is the channel's to hear; anywhere
            # else speech goes to the dialogue as it was said.
            call.reset_device_id()
            call.reading_password = False
            return AskDialogue(intent_message(content.agent_intent))
        if call.reading_password:
            return self._password_turn(call, speech, digits)
        if call.candidates:
            answer = yes_or_no(content, speech, digits)
            return self._entry_step(call, self.entry.confirm(call, answer))
        if not speech and not digits:
            return self._failed_turn(call, silence=True)
        if call.prompt_kind in STEP_KINDS and speech and not digits:
            if says_only(speech, content.hold_phrases):
                # "Hold on": the caller is busy at the recorder. Wait, gently, as for silence.
                call.waits += 1
                return _prompt(call, [content.holding], call.prompt_kind, remember=False)
            if says(speech, content.ready_phrases) and call.waits:
                # Back from waiting: say the step again rather than guess it was done.
                call.waits = 0
                return AskDialogue(intent_message(content.after_waiting_intent))
        call.waits = 0
        if call.prompt_kind == "device_id" or (
            call.prompt_kind == "case_proof" and self.entry.is_proof(call, speech, digits)
        ):
            # A returning caller's proof may be the Device ID: heard (or keyed) and read back as
            # in gathering, and only the ID the caller confirms is compared with the case's.
            return self._entry_step(call, self.entry.turn(call, speech, digits))
        if digits:
            return self._keys(call, digits)
        return AskDialogue(written_as_typed(speech, call.prompt_kind, self.content))

    def _keys(self, call: Call, digits: str) -> Step:
        """Keys pressed outside Device ID entry: the intent the expectation's keymap names."""
        number = digits.rstrip("#")
        if call.prompt_kind in NUMBER_KINDS and number.isdigit() and 7 <= len(number) <= 15:
            # The phone number question says it may be keyed in.
            return AskDialogue(written_number(number))
        expects = "step" if call.prompt_kind in STEP_KINDS else call.prompt_kind
        intent = (self.content.keys.get(expects) or {}).get(digits)
        if intent is None:
            return self._failed_turn(call)
        return AskDialogue(intent_message(intent))

    def _failed_turn(self, call: Call, *, silence: bool = False, saying: str | None = None) -> Step:
        content = self.content
        if silence and call.prompt_kind in STEP_KINDS and call.waits < content.max_step_waits:
            # At the recorder, silence is work, not confusion: wait, and ask gently again.
            call.waits += 1
            return _prompt(call, [content.step_waiting], call.prompt_kind, remember=False)
        call.reprompts += 1
        if call.reprompts > len(content.reprompts):
            call.reprompts = 0
            call.reset_device_id()
            return AskDialogue(intent_message(content.agent_intent))
        if saying is None:
            saying = content.reprompts[call.reprompts - 1].format(
                prompt=" ".join(call.last_prompt), keypad_help=content.keypad.help
            )
        return _prompt(call, [saying], call.prompt_kind, remember=False)

    def _entry_step(self, call: Call, step: EntryStep) -> Step:
        """Carry out what Device ID entry decided (a command of its own goes to the shell)."""
        if not isinstance(step, Ask | Pass | Failed | Limited):
            return step
        return self._entry_decided(call, step)

    def _entry_decided(self, call: Call, outcome: Outcome) -> Step:
        if isinstance(outcome, Ask):
            return _prompt(call, list(outcome.sayings), outcome.kind, remember=False)
        if isinstance(outcome, Pass):
            return AskDialogue(outcome.message)
        if isinstance(outcome, Failed):
            return self._failed_turn(call, saying=outcome.saying)
        # A failed-check limit is reached: nothing more is looked up or read back for this call;
        # the caller hears why and is put through to an agent, as after repeated failed turns.
        call.reset_device_id()
        call.device_id_limited = True
        call.reprompts = 0
        agent = intent_message(self.content.agent_intent)
        return AskDialogue(agent, (self.content.device_id.too_many,))

    def _password_turn(self, call: Call, speech: str, digits: str) -> Step:
        wording = self.content.password
        ready = digits == self.content.yes_key or says(speech, wording.ready_words)
        again = digits == self.content.no_key or says(speech, wording.repeat_words)
        if ready and not again:
            call.reading_password = False
            call.reprompts = 0
            sayings, call.after_password = call.after_password, []
            return _prompt(call, sayings or call.last_prompt, call.prompt_kind)
        if not again:
            call.reprompts += 1
            if call.reprompts > len(self.content.reprompts):
                call.reading_password = False
                return self._failed_turn(call)
        return self._password(call, again=True)

    # --- the dialogue's answer -----------------------------------------------------------------

    def _answered(self, call: Call, event: Answered) -> Step:
        messages, before = list(event.messages), list(event.before)
        turn = turn_of(messages)
        if not event.checked or turn is None or turn.understood:
            return self._answer(call, messages, before, event)
        # The dialogue's own short re-ask is the first rephrasing; after that, the reprompts
        # escalate (keypad, then an agent) instead of repeating it.
        sayings, kind = _speakable(call, messages, self.content.ear, remember=False)
        call.prompt_kind = kind  # what is expected still comes from the payload
        if call.reprompts == 0:
            call.reprompts = 1
            return _prompt(call, [*before, *sayings], kind, remember=False)
        return self._failed_turn(call)

    def _answer(
        self, call: Call, messages: list[dict[str, Any]], before: list[str], event: Answered
    ) -> Step:
        """What follows the dialogue's ``messages``: spoken, then listen; the queue; the password
        (first time or again); or goodbye."""
        for index, message in enumerate(messages):
            again = payload(message, "temporary_password_again") is not None
            if again or password_reference(message) is not None:
                sayings, _ = _speakable(call, messages[: index + 1], self.content.ear)
                _speakable(call, messages[index + 1 :], self.content.ear)  # what follows, for later
                call.after_password = list(call.last_prompt)
                sayings = without_repeats([*before, *sayings])
                if again:
                    return self._password_again(call, sayings)
                return Reveal(message, tuple(sayings))
        sayings, kind = _speakable(call, messages, self.content.ear)
        sayings = without_repeats([*before, *sayings])
        call.reprompts = 0
        case = event.case
        if case is not None and case.on_hold and not call.enqueued:
            call.enqueued = True
            call.checks_after_queue = 0
            handoff, queue = self.content.handoff, self.content.queue
            if self.dial_mode:
                held: Reply = Dial(tuple(without_repeats([*sayings, handoff.dialling])), case.code)
            else:
                held = Enqueue(tuple(without_repeats([*sayings, queue.placed])))
            if call.caller and not call.caller_recorded:
                return RecordCaller(held)
            return held
        if kind == "finished":
            # The guide said its own goodbye; after a rejection or a closed case the caller has
            # heard what they can do next, and the call ends politely.
            return Goodbye(tuple(sayings), farewell=call.state != "finished")
        if kind == "private_step":
            sayings = [*sayings, self.content.private_step_note]
        return _prompt(call, sayings, kind)

    def _revealed(self, call: Call, event: Revealed) -> Step:
        sayings = list(event.sayings)
        if event.value is None:
            call.after_password = []
            return _prompt(call, [*sayings, self.content.password.unavailable], "default")
        # Kept for repeating while it is valid (and no longer than the call: the store's part).
        call.password, call.password_until = event.value, event.valid_until
        call.reading_password = True
        if event.text is not None and event.text.strip():
            sayings.append(for_the_ear(event.text, self.content.ear))
        return self._password(call, again=False, before=sayings)

    def _password_again(self, call: Call, sayings: list[str]) -> Step:
        """The owner asked for the password again: read from the call's state, if it holds it."""
        if call.password is None:
            after, call.after_password = call.after_password, []
            saying = self.content.password.not_on_this_call
            return _prompt(call, [*sayings, saying, *after], call.prompt_kind)
        call.reading_password = True
        return self._password(call, again=False, before=sayings)

    def _password(self, call: Call, *, again: bool, before: list[str] | None = None) -> Prompt:
        wording = self.content.password
        password = call.password or ""
        characters = spell_password(password, self.content)
        if again:
            lead = [wording.again]
        else:
            lead = [*(before or []), wording.intro.format(length=len(password))]
        return Prompt((*lead, *characters, wording.offer_repeat), "password", pause_between=True)

    # --- back from hold or from the agent ------------------------------------------------------

    def _back_from_queue(self, call: Call, event: BackFromQueue) -> Step:
        if event.queue_result == "hangup":
            return Nothing()
        call.enqueued = False
        pending = call.take_pending()
        if pending:
            call.checks_after_queue = 0
            return self._answer(call, pending, [], Answered((), (), False, event.case))
        if event.case is not None and event.case.on_hold and call.checks_after_queue == 0:
            # Left the queue while still waiting (queue full, an error): back in line.
            call.enqueued = True
            return Enqueue((self.content.queue.placed,))
        # Released or rejected, and the assistant's message is on its way: wait briefly for it.
        call.checks_after_queue += 1
        if call.checks_after_queue <= MAX_CHECKS_AFTER_QUEUE:
            first = call.checks_after_queue == 1
            return CheckAgain((self.content.queue.back_with_nothing,) if first else (), pause=2)
        call.checks_after_queue = 0
        return _prompt(call, call.last_prompt, call.prompt_kind)

    def _back_from_agent(self, call: Call, event: BackFromAgent) -> Step:
        back = self.content.handoff.back_from_agent
        pending = call.take_pending()
        if pending:
            return self._answer(call, pending, [back], Answered((), (), False, event.case))
        return _prompt(call, [back, *call.last_prompt], call.prompt_kind, remember=False)


def chosen_language(
    languages: Mapping[str, PhoneContent], speech: str, digits: str
) -> str | None:
    """The language a caller chose at the menu: by its key, or by naming one language (in any
    of them, accents or not); None if neither, or more than one was named."""
    if digits:
        keyed = [code for code, content in languages.items() if digits[0] == content.choice.key]
        return keyed[0] if keyed else None
    heard = folded(speech)
    named = [
        code
        for code, content in languages.items()
        if says(heard, tuple(folded(name) for name in content.choice.names))
    ]
    return named[0] if len(named) == 1 else None


def _speakable(
    call: Call, messages: list[dict[str, Any]], ear: EarWording, *, remember: bool = True
) -> tuple[list[str], str]:
    """What to say for ``messages`` (``ear``: made speakable in the call's language) and the
    prompt kind that follows, from their turn payload (none: the call keeps its expectation).
    Remembered on the call as its last prompt."""
    sayings = [
        for_the_ear(text, ear)
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


def _prompt(call: Call, sayings: list[str], kind: str, *, remember: bool = True) -> Prompt:
    if remember:
        call.last_prompt, call.prompt_kind = list(sayings), kind
    return Prompt(tuple(sayings), kind)

