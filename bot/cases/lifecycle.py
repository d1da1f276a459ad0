# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""The one writer of a support case's status and of its audit trail.

Whoever moves a case (the assistant through :class:`~bot.cases.store.CaseStore`, an agent through
:class:`~bot.handoff.desk.SupportDesk`, the stale-case sweeper), the move is made here: checked
against :data:`~bot.cases.status.ALLOWED_TRANSITIONS`, with the same side effects, and recorded as
one event row written the same way. Each function works in the caller's session, so a caller
that changes more in one go (the desk's release: the password row and the move) commits all of
it or none; the caller has locked the case row first (:func:`bot.cases.store.locked_case`) and
passes the time, so the move and anything written beside it carry one instant.

Who holds a case (``agent_id``) and whether an agent chats live (``live_chat``) follow the status,
so they are written here too. Nothing else assigns those or ``SupportCase.status``, or adds a
``CaseEvent``; tests/test_case_transitions.py checks the source for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.cases.codes import CodeGenerator
from bot.cases.errors import CaseClosed
from bot.cases.models import CaseEvent, SupportCase
from bot.cases.status import CaseStatus, require_opening_status, require_transition

# A collision is one in hundreds of millions per code; several in a row means something is wrong
# with the generator, not bad luck.
MAX_CODE_ATTEMPTS = 10


def open_case(
    session: Session,
    new_code: CodeGenerator,
    *,
    status: CaseStatus,
    actor: str,
    reason: str,
    at: datetime,
    **columns: object,
) -> SupportCase:
    """Insert a case with a fresh code in ``status``; its first event has no ``from_status``."""
    status = CaseStatus(status)
    require_opening_status(status)
    actor, reason = checked_actor(actor), checked_reason(reason)
    for _ in range(MAX_CODE_ATTEMPTS):
        case = SupportCase(
            code=new_code(), status=status.value, created_at=at, updated_at=at, **columns
        )
        try:
            # A savepoint, so a code collision undoes only this insert (and its event, which is
            # flushed with it: a status never reaches the database without one).
            with session.begin_nested():
                session.add(case)
                _append_event(session, case, at, actor, None, status, reason)
        except IntegrityError:
            continue
        return case
    raise RuntimeError(
        f"no unused case code after {MAX_CODE_ATTEMPTS} attempts; check the code generator"
    )


def move(
    session: Session,
    case: SupportCase,
    to_status: CaseStatus,
    *,
    actor: str,
    reason: str,
    at: datetime,
    agent_id: int | None = None,
) -> None:
    """Move the (locked) ``case`` to ``to_status``, recording who did it and why.

    Raises :class:`~bot.cases.errors.IllegalTransition` if the lifecycle does not allow it.
    ``agent_id`` is the agent who takes the case, for a move to ``assigned``. Back in the queue a
    case waits for whichever agent claims it next; a case back in the queue or closed has no
    live chat (the assistant is not left paused for it).
    """
    to_status = CaseStatus(to_status)
    actor, reason = checked_actor(actor), checked_reason(reason)
    from_status = CaseStatus(case.status)
    require_transition(case.code, from_status, to_status)
    if to_status is CaseStatus.ASSIGNED and agent_id is not None:
        case.agent_id = agent_id
    if to_status is CaseStatus.QUEUED:
        case.agent_id = None
    if to_status is CaseStatus.QUEUED or to_status.is_closed:
        case.live_chat = False
    case.status = to_status.value
    case.updated_at = at
    _append_event(session, case, at, actor, from_status, to_status, reason)


def note(session: Session, case: SupportCase, *, actor: str, reason: str, at: datetime) -> None:
    """An event that keeps the case's status (a device attached, the owner left, a message
    sent, a delivery): whether the case may take it is the caller's rule."""
    actor, reason = checked_actor(actor), checked_reason(reason)
    status = CaseStatus(case.status)
    _append_event(session, case, at, actor, status, status, reason)


def set_live_chat(
    session: Session, case: SupportCase, live_chat: bool, *, actor: str, reason: str, at: datetime
) -> None:
    """The agent takes over the chat (the assistant waits) or hands it back, with an event."""
    status = CaseStatus(case.status)
    if status.is_closed:
        doing = "taking over the chat" if live_chat else "handing the chat back"
        raise CaseClosed(case.code, status.value, doing)
    case.live_chat = live_chat
    note(session, case, actor=actor, reason=reason, at=at)


def checked_text(model: type, name: str, value: str) -> str:
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


def checked_actor(actor: str) -> str:
    return checked_text(CaseEvent, "actor", actor)


def checked_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValueError("reason must not be empty: the audit trail records why")
    return reason


def _append_event(
    session: Session,
    case: SupportCase,
    at: datetime,
    actor: str,
    from_status: CaseStatus | None,
    to_status: CaseStatus,
    reason: str,
) -> None:
    session.add(
        CaseEvent(
            case=case,
            at=at,
            actor=actor,
            from_status=None if from_status is None else from_status.value,
            to_status=to_status.value,
            reason=reason,
        )
    )

