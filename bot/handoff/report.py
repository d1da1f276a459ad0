# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""The queue and outcome report (``python -m bot.cli report``), read from the audit trail.

Every figure comes from ``case_events``, the append-only record of every status change, so the
report needs nothing the cases do not already write down:

- **open cases by status** and the **oldest case waiting** in the queue (waiting is counted from
  when the case was opened, the same measure the queue and the console show);
- **per case** for the cases first queued in the last ``days`` days: time to claim (first queued
  to first claimed), time to release (first queued to the first temporary password released:
  the user's wait), who handled it and where it stands now;
- the **medians** of both times, over the cases that got that far;
- **per agent**: how many cases each claimed, released, rejected and put back in the period.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.agents.models import Agent
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseEventView
from bot.db import Database, utcnow

AGENT_ACTOR_PREFIX = "agent:"
OPEN_STATUSES = tuple(status for status in CaseStatus if not status.is_closed)


@dataclass(frozen=True)
class CaseFigures:
    code: str
    status: CaseStatus
    queued_at: datetime
    time_to_claim: timedelta | None  # None: nobody has claimed it yet
    time_to_release: timedelta | None  # None: no temporary password released
    handled_by: tuple[str, ...]  # display names of the agents who claimed it, in order


@dataclass
class AgentCounts:
    claimed: int = 0
    released: int = 0
    rejected: int = 0
    put_back: int = 0


@dataclass(frozen=True)
class OldestWaiting:
    code: str
    waiting: timedelta


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    days: int
    open_by_status: dict[CaseStatus, int]
    oldest_waiting: OldestWaiting | None
    cases: list[CaseFigures]
    median_time_to_claim: timedelta | None
    median_time_to_release: timedelta | None
    agents: dict[str, AgentCounts] = field(default_factory=dict)  # display name -> counts

    @property
    def open_total(self) -> int:
        return sum(self.open_by_status.values())


def build_report(database: Database, *, days: int = 7, now: datetime | None = None) -> Report:
    """The report for the ``days`` days up to ``now``."""
    if days < 1:
        raise ValueError("the report covers at least 1 day")
    now = now or utcnow()
    since = now - timedelta(days=days)
    with database.session() as session:
        names = {
            f"{AGENT_ACTOR_PREFIX}{username}": display_name
            for username, display_name in session.execute(
                select(Agent.username, Agent.display_name)
            ).all()
        }
    every_case = CaseStore(database).every_case_with_trail()

    open_by_status = {status: 0 for status in OPEN_STATUSES}
    oldest: OldestWaiting | None = None
    for case, _ in every_case:
        if case.is_closed:
            continue
        open_by_status[case.status] += 1
        waited = now - case.created_at
        if case.status is CaseStatus.QUEUED and (oldest is None or waited > oldest.waiting):
            oldest = OldestWaiting(case.code, waited)

    agents: dict[str, AgentCounts] = defaultdict(AgentCounts)
    for _, trail in every_case:
        for event in trail:
            if event.at >= since and event.actor.startswith(AGENT_ACTOR_PREFIX):
                _count(agents[_name(names, event.actor)], event)

    cases = [
        figures
        for case, trail in every_case
        if (figures := _figures(case.code, case.status, trail, names)) is not None
        and figures.queued_at >= since
    ]
    cases.sort(key=lambda figures: figures.queued_at)
    return Report(
        generated_at=now,
        days=days,
        open_by_status=open_by_status,
        oldest_waiting=oldest,
        cases=cases,
        median_time_to_claim=_median([c.time_to_claim for c in cases]),
        median_time_to_release=_median([c.time_to_release for c in cases]),
        agents=dict(sorted(agents.items())),
    )


def _figures(
    code: str, status: CaseStatus, trail: list[CaseEventView], names: dict[str, str]
) -> CaseFigures | None:
    queued_at = claimed_at = released_at = None
    handlers: list[str] = []
    for event in trail:
        to_status = event.to_status
        if to_status is CaseStatus.QUEUED and queued_at is None:
            queued_at = event.at
        elif to_status is CaseStatus.ASSIGNED and event.from_status is not to_status:
            claimed_at = claimed_at or event.at
            name = _name(names, event.actor)
            if name not in handlers:
                handlers.append(name)
        elif to_status is CaseStatus.RELEASED and released_at is None:
            released_at = event.at
    if queued_at is None:
        return None  # never reached the queue (still collecting, or guided without an agent)
    return CaseFigures(
        code=code,
        status=status,
        queued_at=queued_at,
        time_to_claim=None if claimed_at is None else claimed_at - queued_at,
        time_to_release=None if released_at is None else released_at - queued_at,
        handled_by=tuple(handlers),
    )


def _count(counts: AgentCounts, event: CaseEventView) -> None:
    moved = event.from_status is not event.to_status
    if event.to_status is CaseStatus.ASSIGNED and moved:
        counts.claimed += 1
    elif event.to_status is CaseStatus.RELEASED:
        counts.released += 1  # a repeated release (released -> released) counts too
    elif event.to_status is CaseStatus.REJECTED:
        counts.rejected += 1
    elif event.to_status is CaseStatus.QUEUED and moved:
        counts.put_back += 1


def _name(names: dict[str, str], actor: str) -> str:
    return names.get(actor) or actor.removeprefix(AGENT_ACTOR_PREFIX)


def _median(values: list[timedelta | None]) -> timedelta | None:
    present = [value.total_seconds() for value in values if value is not None]
    return timedelta(seconds=statistics.median(present)) if present else None


def duration(value: timedelta | None) -> str:
    """``value`` as people read it: ``45 s``, ``12 min``, ``3 h 05 min``, ``2 d 4 h``; ``-``."""
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def render_report(report: Report) -> str:
    """The report as plain text for a terminal."""
    lines = [
        f"Support queue report, last {report.days} day{'s' if report.days != 1 else ''} "
        f"(to {report.generated_at:%Y-%m-%d %H:%M} UTC)",
        "",
        f"Open cases: {report.open_total}",
    ]
    lines += [f"  {status.value:<11} {count}" for status, count in report.open_by_status.items()]
    if report.oldest_waiting is None:
        lines.append("Oldest waiting: no one is waiting")
    else:
        oldest = report.oldest_waiting
        lines.append(f"Oldest waiting: {oldest.code}, {duration(oldest.waiting)}")
    lines += ["", f"Cases queued in the period: {len(report.cases)}"]
    if report.cases:
        outcomes = outcome_counts(report)
        lines.append(
            "Where they stand now: "
            + ", ".join(f"{status.value} {outcomes[status]}" for status in CaseStatus
                        if outcomes[status])
        )
        case_rows = [
            (
                c.code,
                f"{c.queued_at:%Y-%m-%d %H:%M}",
                duration(c.time_to_claim),
                duration(c.time_to_release),
                ", ".join(c.handled_by) or "-",
                c.status.value,
            )
            for c in report.cases
        ]
        lines += _table(
            ("Case", "Queued (UTC)", "To claim", "To release", "Handled by", "Now"), case_rows
        )
    lines += [
        "",
        f"Median time to claim:   {duration(report.median_time_to_claim)}",
        f"Median time to release: {duration(report.median_time_to_release)}",
        "",
    ]
    if report.agents:
        agent_rows = [
            (name, str(c.claimed), str(c.released), str(c.rejected), str(c.put_back))
            for name, c in report.agents.items()
        ]
        header = ("Agent", "Claimed", "Released", "Rejected", "Put back")
        lines += ["Per agent:", *_table(header, agent_rows)]
    else:
        lines.append("Per agent: no agent worked a case in the period")
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def outcome_counts(report: Report) -> Counter[CaseStatus]:
    """How the period's cases stand now (status -> count)."""
    return Counter(case.status for case in report.cases)
