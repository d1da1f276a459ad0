# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Opening support cases, moving them through their lifecycle, and reading their audit trail.

Each public method is one transaction. A status change locks the case row first
(``SELECT ... FOR UPDATE``), so two agents claiming the same queued case at once are served one
after the other: the first claims it, the second finds it already assigned and gets
:class:`IllegalTransition` instead of silently overwriting the first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.cases.codes import CodeGenerator, new_case_code, normalise_case_code
from bot.cases.errors import CaseClosed, CaseNotFound, UnknownDevice
from bot.cases.models import CaseEvent, SupportCase
from bot.cases.status import (
    CLOSED_STATUSES,
    CaseStatus,
    require_opening_status,
    require_transition,
)
from bot.cases.views import CaseEventView, CaseView
from bot.db import Database, utcnow
from bot.devices.models import Device

# A collision is one in hundreds of millions per code; several in a row means something is wrong
# with the generator, not bad luck.
MAX_CODE_ATTEMPTS = 10


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
    ) -> CaseView:
        """A new case with a fresh code; its first audit event has no ``from_status``."""
        status = CaseStatus(status)
        require_opening_status(status)
        channel = _text(SupportCase, "channel", channel)
        conversation_id = _text(SupportCase, "conversation_id", conversation_id)
        actor = _text(CaseEvent, "actor", actor)
        reason = _reason(reason)
        if caller_phone is not None:
            caller_phone = _text(SupportCase, "caller_phone", caller_phone)

        with self._database.session() as session:
            if device_id is not None:
                _require_device(session, device_id)
            now = utcnow()
            case = self._insert_with_fresh_code(
                session,
                channel=channel,
                conversation_id=conversation_id,
                device_id=device_id,
                caller_phone=caller_phone,
                status=status.value,
                created_at=now,
                updated_at=now,
            )
            record_event(session, case, now, actor, None, status.value, reason)
            return case_view(case)

    def transition(
        self, code: str, to_status: CaseStatus, *, actor: str, reason: str
    ) -> CaseView:
        """Move case ``code`` to ``to_status``, recording who did it and why.

        Raises :class:`IllegalTransition` if the lifecycle does not allow the move.
        """
        to_status = CaseStatus(to_status)
        actor = _text(CaseEvent, "actor", actor)
        reason = _reason(reason)
        with self._database.session() as session:
            case = locked_case(session, code)
            from_status = CaseStatus(case.status)
            require_transition(case.code, from_status, to_status)
            if to_status is CaseStatus.QUEUED:
                # Back in the queue, the case waits for whichever agent claims it next.
                case.agent_id = None
                case.live_chat = False
            now = utcnow()
            case.status = to_status.value
            case.updated_at = now
            record_event(session, case, now, actor, from_status.value, to_status.value, reason)
            return case_view(case)

    def attach_device(self, code: str, device_id: str, *, actor: str) -> CaseView:
        """Record which recorder case ``code`` is about (an audit event; the status stays).

        Attaching the device the case already has changes nothing and records nothing.
        """
        actor = _text(CaseEvent, "actor", actor)
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
            record_event(session, case, now, actor, status.value, status.value, reason)
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
        actor = _text(CaseEvent, "actor", actor)
        stated = {
            "stated_name": name,
            "stated_email": email,
            "stated_phone": phone,
        }
        for column, value in stated.items():
            if value is not None:
                stated[column] = _text(SupportCase, column, value)
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
            record_event(session, case, utcnow(), actor, status.value, status.value, reason)
            return case_view(case)

    def set_caller_phone(self, code: str, phone: str, *, actor: str) -> CaseView:
        """The number a phone caller is calling from, for the agent's verification card."""
        actor = _text(CaseEvent, "actor", actor)
        phone = _text(SupportCase, "caller_phone", phone)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "recording the caller's number")
            if case.caller_phone == phone:
                return case_view(case)
            case.caller_phone = phone
            record_event(
                session, case, utcnow(), actor, status.value, status.value,
                "the caller's number was recorded",
            )
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
        actor = _text(CaseEvent, "actor", actor)
        reason = _reason(reason)
        with self._database.session() as session:
            case = locked_case(session, code)
            status = CaseStatus(case.status)
            if status.is_closed:
                raise CaseClosed(case.code, status.value, "recording a note")
            record_event(session, case, at or utcnow(), actor, status.value, status.value, reason)
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
        conversation_id = _text(SupportCase, "conversation_id", conversation_id)
        channel = _text(SupportCase, "channel", channel)
        actor = _text(CaseEvent, "actor", actor)
        reason = _reason(reason)
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
            record_event(session, case, now, actor, status.value, status.value, reason)
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

    def _insert_with_fresh_code(self, session: Session, **values: object) -> SupportCase:
        for _ in range(MAX_CODE_ATTEMPTS):
            case = SupportCase(code=self._new_code(), **values)
            try:
                # A savepoint, so a code collision undoes only this insert.
                with session.begin_nested():
                    session.add(case)
            except IntegrityError:
                continue
            return case
        raise RuntimeError(
            f"no unused case code after {MAX_CODE_ATTEMPTS} attempts; check the code generator"
        )


def record_event(
    session: Session,
    case: SupportCase,
    at: datetime,
    actor: str,
    from_status: str | None,
    to_status: str,
    reason: str,
) -> None:
    """Append one event to the case's audit trail, in the caller's transaction."""
    session.add(
        CaseEvent(
            case=case,
            at=at,
            actor=actor,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
        )
    )


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


def _require_device(session: Session, device_id: str) -> None:
    found = session.scalar(select(Device.id).where(Device.device_id == device_id))
    if found is None:
        raise UnknownDevice(device_id)


def _text(model: type, name: str, value: str) -> str:
    """``value`` stripped; refused if empty or longer than column ``name`` of ``model`` holds.

    Checked here because SQLite would store an over-long value that PostgreSQL refuses.
    """
    value = value.strip()
    if not value:
        raise ValueError(f"{name} must not be empty")
    limit: int | None = model.__table__.c[name].type.length  # type: ignore[attr-defined]
    if limit is not None and len(value) > limit:
        raise ValueError(f"{name} {value[:20]!r}... is longer than {limit} characters")
    return value


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValueError("reason must not be empty: the audit trail records why")
    return reason


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
