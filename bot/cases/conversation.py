"""A conversation's support case: what the assistant does to it as the dialogue moves on.

The dialogue only says what happened ("the owner asked for a person", "the steps are finished");
this module decides which case that concerns and which transition it means, so the rules live in
one place and are testable without Rasa. Every change goes through :class:`CaseStore`, and so
through the checked transitions and the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.cases.status import ALLOWED_TRANSITIONS, CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseView

ASSISTANT = "assistant"

# A case in one of these is still being worked on by support: asking again must not open another.
_WITH_SUPPORT = frozenset({CaseStatus.QUEUED, CaseStatus.ASSIGNED})


@dataclass(frozen=True)
class QueuedCase:
    case: CaseView
    position: int  # 1 = next to be picked up; 0 when an agent already has it
    already_queued: bool


class ConversationCases:
    def __init__(self, store: CaseStore) -> None:
        self._store = store

    def current(self, conversation_id: str) -> CaseView | None:
        """The conversation's latest case, if it is still open."""
        case = self._store.latest_for_conversation(conversation_id)
        return None if case is None or case.is_closed else case

    def start_gathering(self, conversation_id: str, channel: str) -> CaseView:
        """The case that collects the Device ID: the open one, or a new ``collecting`` case."""
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
        )

    def queue_for_agent(
        self, conversation_id: str, channel: str, *, device_id: str | None, reason: str
    ) -> QueuedCase:
        """Put the conversation in the support queue, opening a case if needed."""
        case = self.current(conversation_id)
        if case is not None and case.status in _WITH_SUPPORT:
            return QueuedCase(case, self.position(case), already_queued=True)
        if case is not None and case.status is CaseStatus.COLLECTING:
            if device_id is not None:
                case = self._store.attach_device(case.code, device_id, actor=ASSISTANT)
            case = self._store.transition(
                case.code, CaseStatus.QUEUED, actor=ASSISTANT, reason=reason
            )
        else:
            if case is not None:
                # e.g. the temporary password was refused by the recorder: a new release is
                # a new case, and the old one says why it ended.
                self._close_superseded(case, f"replaced by a new request: {reason}")
            case = self._store.open_case(
                channel=channel,
                conversation_id=conversation_id,
                actor=ASSISTANT,
                reason=reason,
                status=CaseStatus.QUEUED,
                device_id=device_id,
            )
        return QueuedCase(case, self.position(case), already_queued=False)

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

    def start_guiding(self, conversation_id: str, channel: str) -> CaseView:
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
        )

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

    def position(self, case: CaseView) -> int:
        return self._store.queue_position(case.code)

    def _close_superseded(self, case: CaseView, reason: str) -> None:
        if CaseStatus.ABANDONED in ALLOWED_TRANSITIONS[case.status]:
            self._store.transition(
                case.code, CaseStatus.ABANDONED, actor=ASSISTANT, reason=reason
            )

