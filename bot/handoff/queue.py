"""The support queue as the console shows it: each waiting case with its place, how long it has
waited, whether its owner is coming back to support, and whether the owner is still there.

The queue goes by when a case was opened, so a case that comes back (the owner asked for a person
again during the steps, an agent put it back) keeps its place ahead of newer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.cases.presence import gone_since
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseEventView, CaseView

# Coming back to the queue from one of these is the owner asking again, not an agent's put-back.
_RETURNING_FROM = frozenset({CaseStatus.RELEASED, CaseStatus.GUIDING, CaseStatus.REJECTED})


@dataclass(frozen=True)
class QueueEntry:
    case: CaseView
    position: int  # 1 = next
    model: str | None
    waiting: timedelta  # since the case was opened: a returning case keeps its place
    # The owner came back to the queue after support had released or rejected the case;
    # ``history`` is what happened to it before that, oldest first (empty unless returning).
    returning: bool = False
    history: tuple[CaseEventView, ...] = ()
    owner_gone_since: datetime | None = None  # the owner's socket closed or call ended


def read_queue(store: CaseStore, now: datetime) -> list[QueueEntry]:
    """The cases waiting for an agent, oldest first (read in one transaction)."""
    return [
        _entry(case, position, model, now, trail)
        for position, (case, model, trail) in enumerate(store.queue_with_trails(), start=1)
    ]


def _entry(
    case: CaseView, position: int, model: str | None, now: datetime, trail: list[CaseEventView]
) -> QueueEntry:
    entries = [
        index
        for index, event in enumerate(trail)
        if event.to_status is CaseStatus.QUEUED and event.from_status is not CaseStatus.QUEUED
    ]
    last_entry = entries[-1] if entries else 0
    returning = bool(entries) and trail[last_entry].from_status in _RETURNING_FROM
    return QueueEntry(
        case,
        position,
        model,
        now - case.created_at,
        returning=returning,
        history=tuple(trail[:last_entry]) if returning else (),
        owner_gone_since=gone_since(trail),
    )
