# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Tables ``support_cases`` and ``case_events`` (the audit trail).

Only :mod:`bot.cases` uses these classes (the desk gets locked rows from the store for its own
transactions); the rest of the product gets the frozen views in :mod:`bot.cases.views`. Every
status change of a case is a row in ``case_events``, written by :mod:`bot.cases.lifecycle` in the
same transaction as the change; those rows are never changed or deleted afterwards.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Text,
    event,
    inspect,
)
from sqlalchemy.orm import Session, relationship

import bot.agents.models  # noqa: F401  (the agents table that agent_id refers to)
from bot.cases.errors import AuditTrailIsAppendOnly, UnrecordedStatusChange
from bot.cases.status import CaseStatus
from bot.db import Base, UTCDateTime, utcnow

STATUS_LENGTH = 16
LANGUAGE_LENGTH = 8
# "assistant", "system" or "agent:" and a username of up to 64 characters (bot/agents/accounts.py).
ACTOR_LENGTH = 80


def _status_check(column: str) -> str:
    values = ", ".join(f"'{status.value}'" for status in CaseStatus)
    return f"{column} IN ({values})"


class SupportCase(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "support_cases"
    __table_args__ = (CheckConstraint(_status_check("status"), name="status"),)

    id = Column(Integer, primary_key=True)
    code = Column(String(16), nullable=False, unique=True)
    channel = Column(String(16), nullable=False)  # chat, phone, ...
    conversation_id = Column(String(128), nullable=False, index=True)
    # Unknown while the assistant is still asking, and may stay unknown when the user wants a
    # person straight away.
    device_id = Column(
        String(32), ForeignKey("devices.device_id"), nullable=True, index=True
    )
    caller_phone = Column(String(32), nullable=True)
    # What the user told the assistant about the owner, set beside the registry's record on the
    # agent's verification card. None: not given.
    stated_name = Column(String(200), nullable=True)
    stated_email = Column(String(254), nullable=True)
    stated_phone = Column(String(32), nullable=True)
    # The agent who claimed the case (None while queued), and whether that agent is chatting with
    # the user live (the assistant is paused meanwhile).
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=True, index=True)
    live_chat = Column(Boolean, nullable=False, default=False)
    # The conversation's language (a base code of bot.localisation.LANGUAGES): the console shows
    # it, and an owner who comes back is answered in it.
    language = Column(String(LANGUAGE_LENGTH), nullable=False, default="en", server_default="en")
    status = Column(String(STATUS_LENGTH), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime, nullable=False, default=utcnow)

    # passive_deletes="all": the ORM never touches events when a case is deleted; the foreign key
    # then refuses to delete a case that has an audit trail.
    events = relationship(
        "CaseEvent",
        back_populates="case",
        order_by="CaseEvent.id",
        passive_deletes="all",
    )

    def __repr__(self) -> str:
        return f"SupportCase(code={self.code!r}, status={self.status!r})"


class CaseEvent(Base):  # type: ignore[misc,valid-type]
    """One entry of a case's audit trail: when, who, from which status to which, and why."""

    __tablename__ = "case_events"
    __table_args__ = (
        CheckConstraint(_status_check("from_status"), name="from_status"),
        CheckConstraint(_status_check("to_status"), name="to_status"),
    )

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("support_cases.id"), nullable=False, index=True)
    at = Column(UTCDateTime, nullable=False, default=utcnow)
    actor = Column(String(ACTOR_LENGTH), nullable=False)  # "assistant", "agent:alice", "system"
    from_status = Column(String(STATUS_LENGTH), nullable=True)  # None: the case was opened
    to_status = Column(String(STATUS_LENGTH), nullable=False)
    reason = Column(Text, nullable=False)

    case = relationship("SupportCase", back_populates="events")

    def __repr__(self) -> str:
        return (
            f"CaseEvent(case_id={self.case_id!r}, {self.from_status!r} -> {self.to_status!r})"
        )


def _refuse_change(_mapper: Any, _connection: Any, target: CaseEvent) -> None:
    raise AuditTrailIsAppendOnly(
        f"case events are append-only; event {target.id} cannot be changed or deleted"
    )


def _refuse_bulk_change(state: Any) -> None:
    # update(CaseEvent) / delete(CaseEvent) run through the session skip the mapper events above.
    if not (state.is_update or state.is_delete):
        return
    mappers = list(state.all_mappers)
    if state.bind_mapper is not None:
        mappers.append(state.bind_mapper)
    if any(mapper.class_ is CaseEvent for mapper in mappers):
        raise AuditTrailIsAppendOnly(
            "case events are append-only; bulk UPDATE or DELETE of case_events is refused"
        )


event.listen(CaseEvent, "before_update", _refuse_change)
event.listen(CaseEvent, "before_delete", _refuse_change)
event.listen(Session, "do_orm_execute", _refuse_bulk_change)


def _refuse_unrecorded_status(session: Session, _context: Any, _instances: Any) -> None:
    # Every status a case takes is written with its event (bot/cases/lifecycle.py); a status
    # reaching the database without one would be a move nobody can account for.
    recorded = {
        (id(row.case), row.to_status)
        for row in session.new
        if isinstance(row, CaseEvent) and row.case is not None
    }
    for case in chain(session.new, session.dirty):
        if not isinstance(case, SupportCase):
            continue
        changed = case in session.new or inspect(case).attrs.status.history.has_changes()
        if changed and (id(case), case.status) not in recorded:
            raise UnrecordedStatusChange(
                f"case {case.code} would become {case.status} without an event in its audit "
                "trail; statuses are written by bot.cases.lifecycle"
            )


event.listen(Session, "before_flush", _refuse_unrecorded_status)
