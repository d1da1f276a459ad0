"""Rasa tracker store that hides password-shaped user messages before they are written.

Rasa Open Source stores every user message verbatim and has no redaction hook, so the masking
happens here, at the one place every conversation passes through on its way to the database.
Configured in ``endpoints.yml``; ``url`` is any SQLAlchemy URL (SQLite file or PostgreSQL).

It is also where the tracker store is made fast enough to run every turn: a pooled SQLite
engine in write-ahead-log mode, queries that load only what Rasa reads, and the trackers of
recent conversations kept in memory (:class:`RecentTrackers`), so a turn neither rebuilds its
tracker from every stored event nor counts the stored rows to find which ones are new.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Query, Session, sessionmaker

from bot.db import create_sqlite_file_engine, is_sqlite_file
from bot.guide.procedure import load_procedure
from bot.privacy.masking import should_mask
from bot.privacy.password_shape import MASK
from bot.settings import process_settings
from bot.turn_failures import end_turn_if_in_one

# Conversations whose tracker stays in memory between turns. A long conversation's tracker is a
# few hundred kilobytes; the oldest are dropped first, and a dropped one is read back from the
# database, as any conversation is after a restart.
RECENT_TRACKERS = 256
# Seconds a read or write waits for another connection's lock on a SQLite file before failing.
TRACKER_BUSY_TIMEOUT = 2.0
STORE = "tracker store"


def _ensure_sqlite_folder(url: str) -> None:
    if is_sqlite_file(url):
        Path(make_url(url).database).parent.mkdir(parents=True, exist_ok=True)


class MaskingSQLTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Domain | None = None,
        host: str | None = None,
        event_broker: EventBroker | None = None,
        **kwargs: Any,
    ) -> None:
        # Rasa passes endpoints.yml's url as ``host``; without one, the Rasa process's settings.
        url = host or process_settings().tracker_store_url
        _ensure_sqlite_folder(url)
        kwargs.pop("url", None)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        if is_sqlite_file(url):
            # Rasa's own engine opens, and on closing checkpoints, the file for every query.
            self.engine.dispose()
            self.engine: Engine = create_sqlite_file_engine(url, busy_timeout=TRACKER_BUSY_TIMEOUT)
            self.sessionmaker = sessionmaker(bind=self.engine)
        self._sensitive_step = next(
            step.number for step in load_procedure().steps if step.sensitive_input
        )
        self._recent = RecentTrackers(RECENT_TRACKERS)
        # Rasa's index on sender_id holds the row id too: one index look-up.
        self._last_row_query = select(func.max(self.SQLEvent.id)).where(
            self.SQLEvent.sender_id == bindparam("sender_id")
        )

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The conversation's latest session: the tracker kept from its last turn when nothing
        has been written since, else read back from the database as Rasa does."""
        try:
            return await self._retrieve_latest(sender_id)
        except SQLAlchemyError as error:
            end_turn_if_in_one(STORE, error)
            raise

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Writes the turn's new events (with password-shaped messages masked), or none."""
        try:
            await self._save_new_events(tracker)
        except SQLAlchemyError as error:
            # What was kept in memory for the conversation was taken by the turn: the next
            # turn reads the database again.
            self._recent.forget(tracker.sender_id)
            end_turn_if_in_one(STORE, error)
            raise

    async def _retrieve_latest(self, sender_id: str) -> DialogueStateTracker | None:
        # The last row is read before the events: a row written in between makes the kept
        # tracker look out of date (read back next time), never the other way round.
        last_row = self._last_row(sender_id)
        tracker = self._recent.take(sender_id, last_row)
        if tracker is None:
            tracker = await super().retrieve(sender_id)
        if tracker is not None and last_row is not None:
            StoredPart.mark(tracker, len(tracker.events), last_row)
        return tracker

    async def _save_new_events(self, tracker: DialogueStateTracker) -> None:
        stored = StoredPart.of(tracker)
        mask_password_messages(tracker, self._sensitive_step, stored.events if stored else 0)
        if stored is None or self.event_broker is not None:
            # A tracker this store did not hand out: Rasa counts the stored rows to find the
            # new events (and an event broker needs the stored tracker to compare with).
            self._recent.forget(tracker.sender_id)
            await super().save(tracker)
            return
        last_row = self._insert(tracker, itertools.islice(tracker.events, stored.events, None))
        part = StoredPart.mark(tracker, len(tracker.events), last_row or stored.last_row)
        if reads_back_whole(tracker):
            self._recent.keep(tracker.sender_id, tracker, part)
        else:
            self._recent.forget(tracker.sender_id)

    def _last_row(self, sender_id: str) -> int | None:
        with self.engine.connect() as connection:
            last_row: int | None = connection.execute(
                self._last_row_query, {"sender_id": sender_id}
            ).scalar()
            return last_row

    def _insert(self, tracker: DialogueStateTracker, events: Iterable[Event]) -> int | None:
        """Writes the events as Rasa's ``save`` does, in one statement (SQLAlchemy Core: the
        ORM's unit of work cost more than the writing); the id of the conversation's last row."""
        rows = [_row(event) for event in events]
        if not rows:
            return None
        with self.engine.begin() as connection:
            connection.execute(
                self.SQLEvent.__table__.insert().values(sender_id=tracker.sender_id), rows
            )
            last_row: int = connection.execute(
                self._last_row_query, {"sender_id": tracker.sender_id}
            ).scalar_one()
        return last_row

    def _event_query(
        self, session: Session, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Query:
        # Rasa reads only each event's JSON (``row.data``) and counts rows; loading whole ORM
        # objects for every stored event was a third of the time to retrieve a tracker (py-spy).
        query = super()._event_query(session, sender_id, fetch_events_from_all_sessions)
        return query.with_entities(self.SQLEvent.data)


def _row(event: Event) -> dict[str, Any]:
    """An event's columns in Rasa's ``events`` table, as Rasa's ``save`` fills them."""
    data = event.as_dict()
    return {
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


@dataclass(frozen=True)
class StoredPart:
    """How much of a tracker is in the database: its first ``events`` events, the last of them
    in row ``last_row``. Carried by the tracker itself (Rasa's trackers cannot be dict keys)."""

    events: int
    last_row: int

    _ATTRIBUTE = "_lorex_stored_part"

    @classmethod
    def mark(cls, tracker: DialogueStateTracker, events: int, last_row: int) -> StoredPart:
        part = cls(events, last_row)
        setattr(tracker, cls._ATTRIBUTE, part)
        return part

    @classmethod
    def of(cls, tracker: DialogueStateTracker) -> StoredPart | None:
        part: StoredPart | None = getattr(tracker, cls._ATTRIBUTE, None)
        return part


class RecentTrackers:
    """The trackers of the most recent conversations, as they were saved.

    A kept tracker is handed out at most once (:meth:`take` removes it): the turn that takes it
    adds events to it, and only saving it again puts it back. A turn that fails before saving
    leaves nothing here, so the next one reads the database. A kept tracker is only handed out
    while the conversation's last row is the one it was saved with and it has not changed since.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._kept: OrderedDict[str, tuple[DialogueStateTracker, StoredPart]] = OrderedDict()

    def keep(self, sender_id: str, tracker: DialogueStateTracker, stored: StoredPart) -> None:
        self._kept[sender_id] = (tracker, stored)
        self._kept.move_to_end(sender_id)
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)

    def take(self, sender_id: str, last_row: int | None) -> DialogueStateTracker | None:
        kept = self._kept.pop(sender_id, None)
        if kept is None:
            return None
        tracker, stored = kept
        if stored.last_row != last_row or len(tracker.events) != stored.events:
            return None
        return tracker

    def forget(self, sender_id: str) -> None:
        self._kept.pop(sender_id, None)

    def __len__(self) -> int:
        return len(self._kept)


def reads_back_whole(tracker: DialogueStateTracker) -> bool:
    """Whether reading the conversation back gives exactly these events.

    Rasa reads back the events since the latest ``SessionStarted`` (by timestamp); the turn that
    starts a session still holds the events before it, so its tracker is not kept.
    """
    starts = [event.timestamp for event in tracker.events if isinstance(event, SessionStarted)]
    return bool(starts) and all(event.timestamp >= starts[-1] for event in tracker.events)


def mask_password_messages(
    tracker: DialogueStateTracker, sensitive_step: int, already_checked: int = 0
) -> None:
    """Replace, in place, the text of every user message that should not be stored. The first
    ``already_checked`` events were checked when they were stored: they are only followed, for
    the step the owner is at."""
    guiding = False
    step: float | None = None
    for index, event in enumerate(tracker.events):
        if isinstance(event, (SessionStarted, Restarted)):
            guiding, step = False, None
        elif isinstance(event, SlotSet) and event.key == "guiding":
            guiding = bool(event.value)
        elif isinstance(event, SlotSet) and event.key == "reset_step":
            step = event.value
        elif isinstance(event, UserUttered) and index >= already_checked and event.text != MASK:
            spans = [
                (entity["start"], entity["end"])
                for entity in event.entities
                if entity.get("entity") == "device_id" and "start" in entity
            ]
            if should_mask(
                event.text,
                event.intent_name,
                at_sensitive_step=guiding and step == sensitive_step,
                device_id_spans=spans,
            ):
                _mask(event)


def _mask(event: UserUttered) -> None:
    event.text = MASK
    event.entities = []
    event.parse_data["text"] = MASK
    event.parse_data["entities"] = []
