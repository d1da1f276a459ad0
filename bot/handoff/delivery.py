# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""What the assistant said to a user outside the user's own request, and whether it got there.

Messages produced for a conversation by the console (a released password, a rejection, an
agent's words) are pushed to the user's channel. A channel that cannot push (REST is request and
response) keeps them here, in ``pending_messages``, and hands them out, in order, with its answer
to the client's next message (:meth:`Outbox.take`). A channel that can tell whether each message
arrived (the web chat: the socket answers for it) reads them with :meth:`Outbox.kept` and drops
each from the keep only once it arrived (:meth:`Outbox.drop`).

A released temporary password's way to the user is tracked in ``release_deliveries`` (one row
per release): *waiting* while the message is kept for a user who is not there, *delivered* when
a channel handed the value to the user, *lost* when the user came back after the assistant's
memory had dropped it. No row: not delivered yet. Each change is also a case event, so the
console's audit trail shows it. Nothing here holds a password: a kept message carries only the
release's reference (:mod:`bot.channels.password_delivery`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Column, Integer, String, Text, delete, select
from sqlalchemy.orm import Session

from bot.cases import lifecycle
from bot.cases.store import locked_case_by_id
from bot.db import Base, Database, UTCDateTime, utcnow
from bot.handoff.models import PasswordRelease

ACTOR = "assistant"


class PendingMessage(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "pending_messages"

    id = Column(Integer, primary_key=True)  # the order they are given out in
    conversation_id = Column(String(128), nullable=False, index=True)
    message = Column(Text, nullable=False)  # JSON, as the channel returns it
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)


class ReleaseDelivery(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "release_deliveries"

    # password_releases.reference; no foreign key, so a release's audit rows never depend on it.
    reference = Column(String(32), primary_key=True)
    conversation_id = Column(String(128), nullable=False)
    state = Column(String(16), nullable=False)  # DeliveryState
    channel = Column(String(16), nullable=True)  # how it was delivered (or is waiting)
    waiting_since = Column(UTCDateTime, nullable=True)
    settled_at = Column(UTCDateTime, nullable=True)  # delivered or lost


class DeliveryState(str, Enum):
    WAITING = "waiting"
    DELIVERED = "delivered"
    LOST = "lost"


# How each channel's delivery reads in the audit trail.
CHANNEL_WORDS = {
    "rest": "the REST client took it with its next message",
    "socketio": "shown in the web chat",
    "phone": "read to the caller",
}


@dataclass(frozen=True)
class KeptMessage:
    id: int  # its place in the keep; :meth:`Outbox.drop` takes it
    message: dict[str, Any]


@dataclass(frozen=True)
class DeliveryView:
    reference: str
    state: DeliveryState
    channel: str | None
    waiting_since: datetime | None
    settled_at: datetime | None


class Outbox:
    def __init__(self, database: Database) -> None:
        self._database = database

    def keep(
        self,
        conversation_id: str,
        messages: list[dict[str, Any]],
        *,
        channel: str,
        release_reference: str | None = None,
    ) -> None:
        """Keep ``messages`` for the user's next request; a password among them now waits."""
        with self._database.session() as session:
            now = utcnow()
            for message in messages:
                session.add(
                    PendingMessage(
                        conversation_id=conversation_id,
                        message=json.dumps(message, ensure_ascii=False),
                        created_at=now,
                    )
                )
            if release_reference is not None:
                self._settle(
                    session, release_reference, conversation_id, DeliveryState.WAITING, channel
                )

    def take(self, conversation_id: str) -> list[dict[str, Any]]:
        """The messages kept for ``conversation_id``, oldest first; they are kept no longer."""
        with self._database.session() as session:
            rows = session.scalars(
                select(PendingMessage)
                .where(PendingMessage.conversation_id == conversation_id)
                .order_by(PendingMessage.id)
                .with_for_update()
            ).all()
            if not rows:
                return []
            session.execute(
                delete(PendingMessage)
                .where(PendingMessage.id.in_([row.id for row in rows]))
                .execution_options(synchronize_session=False)
            )
            return [json.loads(row.message) for row in rows]

    def kept(self, conversation_id: str) -> list[KeptMessage]:
        """The messages kept for ``conversation_id``, oldest first; still kept."""
        with self._database.session() as session:
            rows = session.scalars(
                select(PendingMessage)
                .where(PendingMessage.conversation_id == conversation_id)
                .order_by(PendingMessage.id)
            ).all()
            return [KeptMessage(row.id, json.loads(row.message)) for row in rows]

    def drop(self, message_ids: list[int]) -> None:
        """Kept messages that reached the user: kept no longer."""
        if not message_ids:
            return
        with self._database.session() as session:
            session.execute(
                delete(PendingMessage)
                .where(PendingMessage.id.in_(message_ids))
                .execution_options(synchronize_session=False)
            )

    def has_pending(self, conversation_id: str) -> bool:
        with self._database.session() as session:
            found = session.scalar(
                select(PendingMessage.id)
                .where(PendingMessage.conversation_id == conversation_id)
                .limit(1)
            )
            return found is not None

    def record(
        self, reference: str, conversation_id: str, *, delivered: bool, channel: str
    ) -> None:
        """A channel handed the password for ``reference`` to the user, or found it gone."""
        state = DeliveryState.DELIVERED if delivered else DeliveryState.LOST
        with self._database.session() as session:
            self._settle(session, reference, conversation_id, state, channel)

    def deliveries(self, references: list[str]) -> dict[str, DeliveryView]:
        if not references:
            return {}
        with self._database.session() as session:
            rows = session.scalars(
                select(ReleaseDelivery).where(ReleaseDelivery.reference.in_(references))
            ).all()
            return {
                row.reference: DeliveryView(
                    row.reference,
                    DeliveryState(row.state),
                    row.channel,
                    row.waiting_since,
                    row.settled_at,
                )
                for row in rows
            }

    def _settle(
        self,
        session: Session,
        reference: str,
        conversation_id: str,
        state: DeliveryState,
        channel: str,
    ) -> None:
        case_id = session.scalar(
            select(PasswordRelease.case_id).where(PasswordRelease.reference == reference)
        )
        case = None if case_id is None else locked_case_by_id(session, case_id)
        if case is None:
            return  # no such release: nothing to tell the agent
        if case.conversation_id != conversation_id:
            return  # someone else's reference: that user got nothing
        row = session.get(ReleaseDelivery, reference, with_for_update=True)
        if row is None:
            row = ReleaseDelivery(reference=reference, conversation_id=conversation_id)
            session.add(row)
        elif row.state == DeliveryState.DELIVERED.value or row.state == state.value:
            return  # delivered stays delivered (a replayed trigger finds the value gone)
        now = utcnow()
        row.state = state.value
        row.channel = channel
        if state is DeliveryState.WAITING:
            row.waiting_since = now
            why = "the temporary password waits for the user to come back (not connected)"
        elif state is DeliveryState.DELIVERED:
            row.settled_at = now
            how = CHANNEL_WORDS.get(channel, f"over {channel}")
            why = f"the temporary password reached the user ({how})"
        else:
            row.settled_at = now
            why = (
                "the user came back after the temporary password had been dropped from the "
                "assistant's memory; it was not delivered (release a new one)"
            )
        lifecycle.note(session, case, actor=ACTOR, reason=why, at=now)
