"""Rasa tracker store that hides password-shaped user messages before they are written.

Rasa Open Source stores every user message verbatim and has no redaction hook, so the masking
happens here, at the one place every conversation passes through on its way to the database.
Configured in ``endpoints.yml``; ``url`` is any SQLAlchemy URL (SQLite file or PostgreSQL).

It is also where the tracker store is made fast enough to run every turn: a pooled SQLite
engine in write-ahead-log mode, and queries that load only what Rasa reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    Restarted,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Query, Session, sessionmaker

from bot.content import REPO_ROOT
from bot.db import create_sqlite_file_engine, is_sqlite_file
from bot.guide.procedure import load_procedure
from bot.privacy.masking import should_mask
from bot.privacy.password_shape import MASK

DEFAULT_TRACKER_STORE_URL = f"sqlite:///{REPO_ROOT / 'var' / 'tracker.db'}"


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
        url = host or os.environ.get("TRACKER_STORE_URL") or DEFAULT_TRACKER_STORE_URL
        _ensure_sqlite_folder(url)
        kwargs.pop("url", None)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        if is_sqlite_file(url):
            # Rasa's own engine opens, and on closing checkpoints, the file for every query.
            self.engine.dispose()
            self.engine: Engine = create_sqlite_file_engine(url)
            self.sessionmaker = sessionmaker(bind=self.engine)
        self._sensitive_step = next(
            step.number for step in load_procedure().steps if step.sensitive_input
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        mask_password_messages(tracker, self._sensitive_step)
        await super().save(tracker)

    def _event_query(
        self, session: Session, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Query:
        # Rasa reads only each event's JSON (``row.data``) and counts rows; loading whole ORM
        # objects for every stored event was a third of the time to retrieve a tracker (py-spy).
        query = super()._event_query(session, sender_id, fetch_events_from_all_sessions)
        return query.with_entities(self.SQLEvent.data)


def mask_password_messages(tracker: DialogueStateTracker, sensitive_step: int) -> None:
    """Replace, in place, the text of every user message that should not be stored."""
    guiding = False
    step: float | None = None
    for event in tracker.events:
        if isinstance(event, (SessionStarted, Restarted)):
            guiding, step = False, None
        elif isinstance(event, SlotSet) and event.key == "guiding":
            guiding = bool(event.value)
        elif isinstance(event, SlotSet) and event.key == "reset_step":
            step = event.value
        elif isinstance(event, UserUttered) and event.text != MASK:
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
