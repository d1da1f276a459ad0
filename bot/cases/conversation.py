"""A conversation's support case: what the assistant does to it as the dialogue moves on.

The dialogue only says what happened ("the owner asked for a person", "the steps are finished");
this module decides which case that concerns and which transition it means, so the rules live in
one place and are testable without Rasa. Every change goes through :class:`CaseStore`, and so
through the checked transitions and the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from bot.cases.errors import CaseClosed, CaseNotFound
from bot.cases.languages import DEFAULT_LANGUAGE
from bot.cases.presence import OWNER_LEFT, OWNER_RETURNED, gone_since
from bot.cases.resume import ProofAttempts
from bot.cases.status import ALLOWED_TRANSITIONS, CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseView
from bot.db import utcnow
from bot.devices.formats import DeviceIdFormats, load_formats

ASSISTANT = "assistant"

# A case in one of these is still being worked on by support: asking again must not open another.
_WITH_SUPPORT = frozenset({CaseStatus.QUEUED, CaseStatus.ASSIGNED})


@dataclass(frozen=True)
class QueuedCase:
    case: CaseView
    position: int  # 1 = next to be picked up; 0 when an agent already has it
    already_queued: bool
    returning: bool = False  # the case had been with support before (queued, then left it)


@cache
def _device_id_formats() -> DeviceIdFormats:
    return load_formats()


class ConversationCases:
    def __init__(
        self,
        store: CaseStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        formats: Callable[[], DeviceIdFormats] = _device_id_formats,
    ) -> None:
        self._store = store
        self._clock = clock
        self._proofs = ProofAttempts(store.database, formats)

    def current(self, conversation_id: str) -> CaseView | None:
        """The conversation's open case, if it has one."""
        return self._store.open_for_conversation(conversation_id)

    def start_gathering(
        self, conversation_id: str, channel: str, *, language: str = DEFAULT_LANGUAGE
    ) -> CaseView:
        """The case that collects the Device ID: the open one, or a new ``collecting`` case (in
        ``language``, the conversation's: see :meth:`set_language` for a case already open)."""
        case = self.current(conversation_id)
        if case is not None and case.status in _WITH_SUPPORT | {CaseStatus.COLLECTING}:
            return case
        if case is not None:
            self._close_superseded(case, "the owner started a new password reset")
        return self._store.open_case(
            channel=channel,
            conversation_id=conversation_id,
            actor=ASSISTANT,
            reason="the owner asked to reset a recorder password",
            language=language,
        )

    def queue_for_agent(
        self,
        conversation_id: str,
        channel: str,
        *,
        device_id: str | None,
        reason: str,
        language: str = DEFAULT_LANGUAGE,
    ) -> QueuedCase:
        """Put the conversation in the support queue.

        The conversation's case goes back to the queue (collecting, released, guiding, or
        rejected and reopened), keeping its place: the queue goes by when a case was opened.
        A case is opened only when the conversation has none to return to.
        """
        case = self.current(conversation_id) or self._rejected(conversation_id)
        if case is not None and case.status in _WITH_SUPPORT:
            return QueuedCase(case, self.position(case), already_queued=True)
        if case is None or CaseStatus.QUEUED not in ALLOWED_TRANSITIONS[case.status]:
            case = self._store.open_case(
                channel=channel,
                conversation_id=conversation_id,
                actor=ASSISTANT,
                reason=reason,
                status=CaseStatus.QUEUED,
                device_id=device_id,
                language=language,
            )
            return QueuedCase(case, self.position(case), already_queued=False)
        returning = any(
            event.to_status is CaseStatus.QUEUED for event in self._store.events(case.code)
        )
        reopening = case.is_closed  # rejected: a closed case takes no device until reopened
        if device_id is not None and not reopening:
            case = self._store.attach_device(case.code, device_id, actor=ASSISTANT)
        case = self._store.transition(case.code, CaseStatus.QUEUED, actor=ASSISTANT, reason=reason)
        if device_id is not None and reopening:
            case = self._store.attach_device(case.code, device_id, actor=ASSISTANT)
        return QueuedCase(case, self.position(case), already_queued=False, returning=returning)

    def record_owner_statement(
        self, code: str, *, name: str | None, email: str | None, phone: str | None
    ) -> CaseView:
        return self._store.record_owner_statement(
            code, name=name, email=email, phone=phone, actor=ASSISTANT
        )

    def close_without_handoff(self, conversation_id: str, reason: str) -> CaseView | None:
        """The owner leaves gathering (declined a person, other recovery route)."""
        case = self.current(conversation_id)
        if case is None or case.status is not CaseStatus.COLLECTING:
            return case
        return self._store.transition(
            case.code, CaseStatus.ABANDONED, actor=ASSISTANT, reason=reason
        )

    def withdraw(self, conversation_id: str, reason: str) -> CaseView | None:
        """The owner cancels while the case waits for support (or is still collecting): it is
        abandoned. A released or guiding case stays: the owner may come back to the steps."""
        case = self.current(conversation_id)
        if case is None or case.status not in _WITH_SUPPORT | {CaseStatus.COLLECTING}:
            return case
        return self._store.transition(
            case.code, CaseStatus.ABANDONED, actor=ASSISTANT, reason=reason
        )

    def start_guiding(
        self, conversation_id: str, channel: str, *, language: str = DEFAULT_LANGUAGE
    ) -> CaseView:
        """The reset steps begin: the released case moves on, or a ``guiding`` case is opened
        for an owner who got the temporary password elsewhere (phone, website)."""
        case = self.current(conversation_id)
        if case is not None and case.status is CaseStatus.GUIDING:
            return case
        if case is not None and case.status is CaseStatus.RELEASED:
            return self._store.transition(
                case.code,
                CaseStatus.GUIDING,
                actor=ASSISTANT,
                reason="guiding the owner through the reset steps",
            )
        if case is not None:
            self._close_superseded(case, "the owner already had a temporary password")
        return self._store.open_case(
            channel=channel,
            conversation_id=conversation_id,
            actor=ASSISTANT,
            reason="the owner already had a temporary password; guiding the reset steps",
            status=CaseStatus.GUIDING,
            language=language,
        )

    def resume_guiding(
        self, conversation_id: str, channel: str, *, language: str = DEFAULT_LANGUAGE
    ) -> CaseView:
        """The agent who helped with a step handed back: the same case goes on with the steps."""
        case = self.current(conversation_id)
        if case is not None and case.status is CaseStatus.ASSIGNED:
            return self._store.transition(
                case.code,
                CaseStatus.GUIDING,
                actor=ASSISTANT,
                reason="the agent handed back; the reset steps carry on",
            )
        return self.start_guiding(conversation_id, channel, language=language)

    def set_language(self, conversation_id: str, language: str) -> CaseView | None:
        """The conversation goes on in ``language``: its open case says so (None: it has none).
        A case is opened in the conversation's language; this is for one already open."""
        case = self.current(conversation_id)
        if case is None:
            return None
        return self._store.set_language(case.code, language, actor=ASSISTANT)

    def correct_device(self, conversation_id: str, device_id: str) -> CaseView | None:
        """The owner gave the wrong recorder: a case still waiting in the queue takes the right
        one (an audit event says which it was); None when an agent already has it."""
        case = self.current(conversation_id)
        if case is None or case.status is not CaseStatus.QUEUED:
            return None
        return self._store.attach_device(case.code, device_id, actor=ASSISTANT)

    def complete(self, conversation_id: str) -> CaseView | None:
        case = self.current(conversation_id)
        if case is None or case.status is not CaseStatus.GUIDING:
            return case
        return self._store.transition(
            case.code,
            CaseStatus.COMPLETED,
            actor=ASSISTANT,
            reason="the owner finished every reset step",
        )

    # --- a returning owner resumes a case by its code ---

    def resume_candidate(self, code: str) -> CaseView | None:
        """The open case with ``code`` (as people type it), or None. Shown to nobody before
        :meth:`verify_owner` says the person is its owner."""
        if not code.strip():
            return None
        try:
            case = self._store.get(code)
        except CaseNotFound:
            return None
        return None if case.is_closed else case

    def verify_owner(self, code: str, proof: str) -> bool:
        """Whether ``proof`` shows the person owns case ``code`` (see :mod:`bot.cases.resume`);
        a wrong proof counts towards :meth:`resume_limited`."""
        try:
            return self._proofs.attempt(code, proof, now=self._clock(), actor=ASSISTANT)
        except CaseNotFound:
            return False

    def resume_limited(self, code: str) -> bool:
        """Too many wrong proofs for case ``code`` in the last hour: no resuming by proof."""
        try:
            return self._proofs.limited(code, self._clock())
        except CaseNotFound:
            return False

    def adopt(self, code: str, conversation_id: str, channel: str) -> CaseView:
        """Case ``code`` continues in ``conversation_id``; the old conversation no longer
        reaches it. A case the new conversation had opened meanwhile is closed."""
        case = self._store.get(code)
        if case.is_closed:
            raise CaseClosed(case.code, case.status.value, "resuming it")
        own = self.current(conversation_id)
        if own is not None and own.code != case.code:
            self._close_superseded(own, f"the owner resumed case {case.code} instead")
        adopted = self._store.move_to_conversation(
            case.code,
            conversation_id,
            channel,
            actor=ASSISTANT,
            reason=f"the owner resumed the case from another conversation ({channel})",
        )
        self._mark_returned(adopted)
        return adopted

    # --- the owner's activity and presence ---

    def touch(self, conversation_id: str) -> None:
        """The owner wrote: the case is not stale, and an owner who had left is back."""
        case = self.current(conversation_id)
        if case is None:
            return
        self._store.mark_active(case.code, self._clock())
        self._mark_returned(case)

    def owner_left(self, conversation_id: str) -> None:
        """The owner's socket closed or the call ended."""
        case = self.current(conversation_id)
        if case is not None and self.owner_gone_since(case.code) is None:
            self._store.note(case.code, actor=ASSISTANT, reason=OWNER_LEFT, at=self._clock())

    def owner_returned(self, conversation_id: str) -> None:
        case = self.current(conversation_id)
        if case is not None:
            self._mark_returned(case)

    def owner_gone_since(self, code: str) -> datetime | None:
        return gone_since(self._store.events(code))

    def _mark_returned(self, case: CaseView) -> None:
        if self.owner_gone_since(case.code) is not None:
            self._store.note(case.code, actor=ASSISTANT, reason=OWNER_RETURNED, at=self._clock())

    def _rejected(self, conversation_id: str) -> CaseView | None:
        latest = self._store.latest_for_conversation(conversation_id)
        return latest if latest is not None and latest.status is CaseStatus.REJECTED else None

    def waiting(self) -> int:
        """How many cases wait in the queue now."""
        return len(self._store.queue())

    def position(self, case: CaseView) -> int:
        return self._store.queue_position(case.code)

    def _close_superseded(self, case: CaseView, reason: str) -> None:
        if CaseStatus.ABANDONED in ALLOWED_TRANSITIONS[case.status]:
            self._store.transition(case.code, CaseStatus.ABANDONED, actor=ASSISTANT, reason=reason)
