# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Opening support cases, moving them through their lifecycle, and reading their audit trail.

Each public method is one transaction. A status change locks the case row first
(``SELECT ... FOR UPDATE``), so two agents claiming the same queued case at once are served one
after the other: the first claims it, the second finds it already assigned and gets
:class:`IllegalTransition` instead of silently overwriting the first. The status and the audit
trail are written by :mod:`bot.cases.lifecycle` alone; this module finds, locks and reads cases
(the module-level functions taking a session are for callers with a transaction of their own).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.cases import lifecycle
from bot.cases.codes import CodeGenerator, new_case_code, normalise_case_code
from bot.cases.errors import CaseClosed, CaseNotFound, UnknownDevice
from bot.cases.languages import DEFAULT_LANGUAGE, checked_language, name_in_english
from bot.cases.lifecycle import checked_actor, checked_reason, checked_text
from bot.cases.models import CaseEvent, SupportCase
from bot.cases.status import CLOSED_STATUSES, CaseStatus
from bot.cases.views import CaseEventView, CaseView
from bot.db import Database, utcnow
from bot.devices.models import Device

# One entry of the queue as the console reads it: the case, its recorder's model, its trail.
QueuedCaseRow = tuple[CaseView, str | None, list[CaseEventView]]


class CaseStore:
    def __init__(self, database: Database, *, new_code: CodeGenerator = new_case_code) -> None:
        self._database = database
        self._new_code = new_code

    @property
    def database(self) -> Database:
        return self._database

    def open_case(
        self,
        *,
        channel: str,
        conversation_id: str,
        actor: str,
        reason: str,
        status: CaseStatus = CaseStatus.COLLECTING,
        device_id: str | None = None,
        caller_phone: str | None = None,
        language: str = DEFAULT_LANGUAGE,
    ) -> CaseView:
        """A new case with a fresh code; its first audit event has no ``from_status``.

        ``language``: the conversation's (a base code the assistant speaks; ValueError if not).
        """
        language = checked_language(language)
        channel = checked_text(SupportCase, "channel", channel)
        conversation_id = checked_text(SupportCase, "conversation_id", conversation_id)
        if caller_phone is not None:
            caller_phone = checked_text(SupportCase, "caller_phone", caller_phone)

        with self._database.session() as session:
            if device_id is not None:
                _require_device(session, device_id)
            case = lifecycle.open_case(
                session,
                self._new_code,
                status=status,
                actor=actor,
                reason=reason,
                at=utcnow(),
                channel=channel,
                conversation_id=conversation_id,
                device_id=device_id,
                caller_phone=caller_phone,
                language=language,
            )
            return case_view(case)

    def transition(
        self, code: str, to_status: CaseStatus, *, actor: str, reason: str
    ) -> CaseView:
        """Move case ``code`` to ``to_status``, recording who did it and why.

        Raises :class:`IllegalTransition` if the lifecycle does not allow the move.
        """
        with self._database.session() as session:
            case = locked_case(session, code)
            lifecycle.move(session, case, to_status, actor=actor, reason=reason, at=utcnow())
            return case_view(case)

    def transition_if(
        self,
        code: str,
        to_status: CaseStatus,
        still: Callable[[CaseView], bool],
        *,
        actor: str,
        reason: str,
    ) -> CaseView | None:
        """:meth:`transition`, made only if ``still(case)`` holds under the row lock (None if
        not): a decision taken on an earlier read is checked again where nobody can change it
        (the sweeper's: an owner who wrote meanwhile keeps the case)."""
        with self._database.session() as session:
            case = locked_case(session, code)
            if not still(case_view(case)):
                return None
            lifecycle.move(session, case, to_status, actor=actor, reason=reason, at=utcnow())
            return case_view(case)

    def attach_device(self, code: str, device_id: str, *, actor: str) -> CaseView:
        """Record which recorder case ``code`` is about (an audit event; the status stays).

        Attaching the device the case already has changes nothing and records nothing.
        """
        actor = checked_actor(actor)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "attaching a device")
            if case.device_id == device_id:
                return case_view(case)
            _require_device(session, device_id)
            if case.device_id is None:
                reason = f"Device ID {device_id} attached"
            else:
                reason = f"Device ID changed from {case.device_id} to {device_id}"
            now = utcnow()
            case.device_id = device_id
            case.updated_at = now
            lifecycle.note(session, case, actor=actor, reason=reason, at=now)
            return case_view(case)

    def record_owner_statement(
        self,
        code: str,
        *,
        name: str | None,
        email: str | None,
        phone: str | None,
        actor: str,
    ) -> CaseView:
        """What the user said about the owner (None: not given), for the agent to verify."""
        actor = checked_actor(actor)
        stated = {
            "stated_name": name,
            "stated_email": email,
            "stated_phone": phone,
        }
        for column, value in stated.items():
            if value is not None:
                stated[column] = checked_text(SupportCase, column, value)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "recording the owner's details")
            for column, value in stated.items():
                setattr(case, column, value)
            given = [column.removeprefix("stated_") for column, value in stated.items() if value]
            reason = (
                f"the user gave the owner's {', '.join(given)}"
                if given
                else "the user gave no owner details"
            )
            lifecycle.note(session, case, actor=actor, reason=reason, at=utcnow())
            return case_view(case)

    def set_caller_phone(self, code: str, phone: str, *, actor: str) -> CaseView:
        """The number a phone caller is calling from, for the agent's verification card."""
        actor = checked_actor(actor)
        phone = checked_text(SupportCase, "caller_phone", phone)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "recording the caller's number")
            if case.caller_phone == phone:
                return case_view(case)
            case.caller_phone = phone
            lifecycle.note(
                session, case, actor=actor, reason="the caller's number was recorded", at=utcnow()
            )
            return case_view(case)

    def set_language(self, code: str, language: str, *, actor: str) -> CaseView:
        """The conversation of case ``code`` goes on in ``language`` (an audit event says from
        which; the same language changes nothing). ValueError for a language the assistant does
        not speak, :class:`CaseClosed` for a closed case."""
        language = checked_language(language)
        actor = checked_actor(actor)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "changing its language")
            if case.language == language:
                return case_view(case)
            reason = (
                f"the conversation's language changed from {name_in_english(case.language)} "
                f"to {name_in_english(language)}"
            )
            case.language = language
            lifecycle.note(session, case, actor=actor, reason=reason, at=utcnow())
            return case_view(case)

    def get(self, code: str) -> CaseView:
        """The case with ``code`` (as typed by a person: case and separators do not matter)."""
        with self._database.session() as session:
            return case_view(find_case(session, code))

    def latest_for_conversation(self, conversation_id: str) -> CaseView | None:
        """The most recently opened case of a conversation, if it has any."""
        with self._database.session() as session:
            case = session.scalars(
                select(SupportCase)
                .where(SupportCase.conversation_id == conversation_id)
                .order_by(SupportCase.created_at.desc(), SupportCase.id.desc())
                .limit(1)
            ).first()
            return None if case is None else case_view(case)

    def open_for_conversation(self, conversation_id: str) -> CaseView | None:
        """The conversation's most recently opened case that is still open, if any.

        Not simply the latest case: a case adopted from another conversation may be older than
        a case this conversation opened and closed meanwhile.
        """
        closed = [status.value for status in CLOSED_STATUSES]
        with self._database.session() as session:
            case = session.scalars(
                select(SupportCase)
                .where(
                    SupportCase.conversation_id == conversation_id,
                    SupportCase.status.not_in(closed),
                )
                .order_by(SupportCase.created_at.desc(), SupportCase.id.desc())
                .limit(1)
            ).first()
            return None if case is None else case_view(case)

    def note(self, code: str, *, actor: str, reason: str, at: datetime | None = None) -> CaseView:
        """An audit event that changes nothing else (the owner left, came back ...)."""
        actor, reason = checked_actor(actor), checked_reason(reason)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "recording a note")
            lifecycle.note(session, case, actor=actor, reason=reason, at=at or utcnow())
            return case_view(case)

    def mark_active(self, code: str, at: datetime) -> None:
        """The owner wrote just now (``updated_at``); no audit event, one happens per message."""
        with self._database.session() as session:
            case = locked_case(session, code)
            if at > case.updated_at:
                case.updated_at = at

    def move_to_conversation(
        self, code: str, conversation_id: str, channel: str, *, actor: str, reason: str
    ) -> CaseView:
        """Case ``code`` now belongs to ``conversation_id`` (the owner resumed it elsewhere)."""
        conversation_id = checked_text(SupportCase, "conversation_id", conversation_id)
        channel = checked_text(SupportCase, "channel", channel)
        actor, reason = checked_actor(actor), checked_reason(reason)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "resuming it")
            if (case.conversation_id, case.channel) == (conversation_id, channel):
                return case_view(case)
            now = utcnow()
            case.conversation_id = conversation_id
            case.channel = channel
            case.updated_at = now
            lifecycle.note(session, case, actor=actor, reason=reason, at=now)
            return case_view(case)

    def events(self, code: str) -> list[CaseEventView]:
        """The audit trail of case ``code``, in the order it was written."""
        with self._database.session() as session:
            case = find_case(session, code)
            rows = session.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
            ).all()
            return [event_view(case.code, row) for row in rows]

    def queue(self) -> list[CaseView]:
        """Cases waiting for an agent, the longest-standing first.

        Ordered by when the case was opened, so a case an agent puts back keeps its place near
        the front instead of joining the end of the line.
        """
        with self._database.session() as session:
            cases = session.scalars(
                select(SupportCase)
                .where(SupportCase.status == CaseStatus.QUEUED.value)
                .order_by(SupportCase.created_at, SupportCase.id)
            ).all()
            return [case_view(case) for case in cases]

    def queue_with_trails(self) -> list[QueuedCaseRow]:
        """:meth:`queue` as the console shows it, in one transaction: each case with its
        recorder's model (None: no Device ID yet) and its whole audit trail."""
        with self._database.session() as session:
            rows = session.execute(
                select(SupportCase, Device.model)
                .outerjoin(Device, Device.device_id == SupportCase.device_id)
                .where(SupportCase.status == CaseStatus.QUEUED.value)
                .order_by(SupportCase.created_at, SupportCase.id)
            ).all()
            codes = {case.id: case.code for case, _ in rows}
            trails: dict[int, list[CaseEventView]] = {case_id: [] for case_id in codes}
            events = session.scalars(
                select(CaseEvent).where(CaseEvent.case_id.in_(list(codes))).order_by(CaseEvent.id)
            ).all()
            for event in events:
                trails[event.case_id].append(event_view(codes[event.case_id], event))
            return [(case_view(case), model, trails[case.id]) for case, model in rows]

    def every_case_with_trail(self) -> list[tuple[CaseView, list[CaseEventView]]]:
        """Every case with its audit trail in the order it happened, read in one transaction
        (the report's figures)."""
        with self._database.session() as session:
            cases = session.scalars(select(SupportCase).order_by(SupportCase.id)).all()
            codes = {case.id: case.code for case in cases}
            trails: dict[int, list[CaseEventView]] = {case_id: [] for case_id in codes}
            events = session.scalars(select(CaseEvent).order_by(CaseEvent.at, CaseEvent.id))
            for event in events:
                # A case opened between the two reads is left for the next report.
                if event.case_id in trails:
                    trails[event.case_id].append(event_view(codes[event.case_id], event))
            return [(case_view(case), trails[case.id]) for case in cases]

    def assigned_to(self, agent_id: int, statuses: frozenset[CaseStatus]) -> list[CaseView]:
        """The cases agent ``agent_id`` holds in one of ``statuses``, oldest first."""
        with self._database.session() as session:
            cases = session.scalars(
                select(SupportCase)
                .where(
                    SupportCase.agent_id == agent_id,
                    SupportCase.status.in_([status.value for status in statuses]),
                )
                .order_by(SupportCase.created_at, SupportCase.id)
            ).all()
            return [case_view(case) for case in cases]

    def idle_since(self, status: CaseStatus, since: datetime) -> list[str]:
        """The codes of cases in ``status`` untouched since ``since``, the longest idle first."""
        with self._database.session() as session:
            return list(
                session.scalars(
                    select(SupportCase.code)
                    .where(
                        SupportCase.status == CaseStatus(status).value,
                        SupportCase.updated_at < since,
                    )
                    .order_by(SupportCase.updated_at, SupportCase.id)
                ).all()
            )

    def queue_position(self, code: str) -> int:
        """Where case ``code`` stands in :meth:`queue`: 1 at the front, 0 if it is not queued.

        Counted in the database: the position is told on every turn that queues a case, and
        loading the whole queue for it grew with the queue.
        """
        with self._database.session() as session:
            case = find_case(session, code)
            if case.status != CaseStatus.QUEUED.value:
                return 0
            ahead = session.scalar(
                select(func.count())
                .select_from(SupportCase)
                .where(
                    SupportCase.status == CaseStatus.QUEUED.value,
                    or_(
                        SupportCase.created_at < case.created_at,
                        and_(
                            SupportCase.created_at == case.created_at,
                            SupportCase.id < case.id,
                        ),
                    ),
                )
            )
            return int(ahead) + 1


def find_case(session: Session, code: str, *, lock: bool = False) -> SupportCase:
    query = select(SupportCase).where(SupportCase.code == normalise_case_code(code))
    if lock:
        query = query.with_for_update()
    case: SupportCase | None = session.scalars(query).first()
    if case is None:
        raise CaseNotFound(code)
    return case


def locked_case(session: Session, code: str) -> SupportCase:
    return find_case(session, code, lock=True)


def locked_case_by_id(session: Session, case_id: int) -> SupportCase | None:
    """The case row with primary key ``case_id``, locked (None if there is none)."""
    case: SupportCase | None = session.scalars(
        select(SupportCase).where(SupportCase.id == case_id).with_for_update()
    ).first()
    return case


def _require_device(session: Session, device_id: str) -> None:
    found = session.scalar(select(Device.id).where(Device.device_id == device_id))
    if found is None:
        raise UnknownDevice(device_id)


def case_view(case: SupportCase) -> CaseView:
    return CaseView(
        code=case.code,
        channel=case.channel,
        conversation_id=case.conversation_id,
        device_id=case.device_id,
        caller_phone=case.caller_phone,
        status=CaseStatus(case.status),
        created_at=case.created_at,
        updated_at=case.updated_at,
        agent_id=case.agent_id,
        live_chat=bool(case.live_chat),
        stated_name=case.stated_name,
        stated_email=case.stated_email,
        stated_phone=case.stated_phone,
        language=case.language,
    )


def event_view(case_code: str, event: CaseEvent) -> CaseEventView:
    return CaseEventView(
        case_code=case_code,
        at=event.at,
        actor=event.actor,
        from_status=None if event.from_status is None else CaseStatus(event.from_status),
        to_status=CaseStatus(event.to_status),
        reason=event.reason,
    )
