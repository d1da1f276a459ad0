"""Closing cases the owner walked away from while the assistant was still collecting details.

A ``collecting`` case whose owner has not written for the collecting timeout is abandoned, with a
reason in its trail. The owner's activity is the case's ``updated_at`` (moved on by every owner
message, see :meth:`ConversationCases.touch`). :func:`sweep_cases_periodically` runs in the
console process; ``python -m bot.cli sweep-cases`` does one sweep, for cron.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseView
from bot.db import utcnow

SWEEPER = "system"
SWEEP_INTERVAL = timedelta(minutes=1)

log = logging.getLogger(__name__)


def stale_reason(timeout: timedelta) -> str:
    return f"no message from the owner for {timeout_words(timeout)} while collecting details"


def timeout_words(timeout: timedelta) -> str:
    minutes = round(timeout.total_seconds() / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def abandon_stale_cases(
    store: CaseStore, timeout: timedelta, *, now: datetime | None = None
) -> list[CaseView]:
    """Abandon every ``collecting`` case untouched for ``timeout``; the cases it closed."""
    idle_since = (now or utcnow()) - timeout

    def still_idle(case: CaseView) -> bool:
        # Checked again under the row lock: an owner who wrote meanwhile keeps the case.
        return case.status is CaseStatus.COLLECTING and case.updated_at < idle_since

    closed = []
    for code in store.idle_since(CaseStatus.COLLECTING, idle_since):
        case = store.transition_if(
            code, CaseStatus.ABANDONED, still_idle, actor=SWEEPER, reason=stale_reason(timeout)
        )
        if case is not None:
            closed.append(case)
    return closed


async def sweep_cases_periodically(
    store: CaseStore, timeout: timedelta, interval: timedelta = SWEEP_INTERVAL
) -> None:
    """Sweep every ``interval`` until cancelled; a failed sweep is logged and tried again."""
    while True:
        try:
            closed = await asyncio.to_thread(abandon_stale_cases, store, timeout)
            if closed:
                codes = ", ".join(case.code for case in closed)
                log.info("Closed %d stale case(s): %s", len(closed), codes)
        except Exception:  # the database may be restarting: the next sweep tries again
            log.exception("Sweeping stale cases failed")
        await asyncio.sleep(interval.total_seconds())

