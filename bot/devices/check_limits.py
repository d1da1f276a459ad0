# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""How many failed Device ID checks a conversation, a client address and everyone together may
make in an hour, so nobody can walk the registry for valid IDs.

A check asks the registry whether an ID exists; a miss is what an enumeration produces by the
thousand. Each check first *reserves* a failure for every subject it concerns (its conversation,
its client address, and the registry as a whole), atomically, and is refused when any of them
would go over its limit; a check that did not fail is then forgiven. Counting before checking is
what makes parallel requests unable to slip past the limit.

The count is in the product database because two processes check IDs (the action server for the
chat and the phone, the Rasa server for label photos). :class:`FailedCheckLimiter` is the small
interface they use; :class:`SqlFailedCheckLimiter` keeps the count in SQLite or PostgreSQL, in
ten-minute buckets: a failure is refused when the buckets of the last hour (plus the current
one) already hold the limit, so no sliding hour ever holds more than the limit.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.db import Database, utcnow
from bot.devices.checks import CheckResult, Outcome
from bot.devices.models import DeviceIdCheckFailures

WINDOW = timedelta(hours=1)
BUCKET = timedelta(minutes=10)
# Buckets older than this are never read again.
KEEP = WINDOW + 2 * BUCKET
PRUNE_EVERY = timedelta(minutes=1)

# Outcomes that asked the registry and found nothing usable: the answers an enumeration wants.
# Shape errors (too short, wrong pattern ...) never reach the registry and are not counted.
FAILED_OUTCOMES = frozenset({Outcome.NOT_FOUND, Outcome.SERIAL_NUMBER})


class Scope(enum.Enum):
    CONVERSATION = "conversation"
    CLIENT_ADDRESS = "address"
    OVERALL = "overall"


@dataclass(frozen=True, order=True)
class Subject:
    """Who a failure is counted against."""

    scope: Scope
    key: str

    @property
    def key_hash(self) -> str:
        return hashlib.sha256(f"{self.scope.value}:{self.key}".encode()).hexdigest()


OVERALL = Subject(Scope.OVERALL, "registry")


def subjects_for(
    *, conversation: str | None = None, client_address: str | None = None
) -> tuple[Subject, ...]:
    """Everyone a check counts against: the conversation and the client address when known (a
    phone call has no address; a label photo has no conversation), and always the registry."""
    subjects = [OVERALL]
    if conversation:
        subjects.append(Subject(Scope.CONVERSATION, conversation))
    if client_address:
        subjects.append(Subject(Scope.CLIENT_ADDRESS, client_address))
    return tuple(sorted(subjects, key=lambda s: (s.scope.value, s.key)))


@dataclass(frozen=True)
class Limits:
    """Failed checks allowed per sliding hour, per scope.

    - a conversation: 10. The form offers a person after 3 misses; a real owner who restarts it
      twice with a typo each time still fits, a script typing ID after ID does not.
    - a client address: 30. A household, an office or a support desk behind one address may
      hold a few owners at once.
    - overall: 100, OWASP ASVS 2.2.1's bound for one target (the registry). Past it everyone is
      offered a person, who can look the recorder up, until the hour has passed.
    """

    per_conversation: int = 10
    per_client_address: int = 30
    overall: int = 100

    def for_scope(self, scope: Scope) -> int:
        return {
            Scope.CONVERSATION: self.per_conversation,
            Scope.CLIENT_ADDRESS: self.per_client_address,
            Scope.OVERALL: self.overall,
        }[scope]


@dataclass(frozen=True)
class Reservation:
    """A failure counted in advance; :meth:`FailedCheckLimiter.forgive` takes it back."""

    subjects: tuple[Subject, ...]
    bucket_start: datetime


class FailedCheckLimiter(Protocol):
    def reserve(self, subjects: Iterable[Subject]) -> Reservation | None:
        """Count a failure for every subject, or nothing (None) if one would pass its limit."""

    def forgive(self, reservation: Reservation) -> None:
        """The check did not fail: take the reserved failure back."""

    def limit_reached(self, subjects: Iterable[Subject]) -> bool:
        """Whether one more failure would pass a limit (a cheap look before costly work)."""


def limited_check(
    limiter: FailedCheckLimiter,
    subjects: Iterable[Subject],
    check: Callable[[], CheckResult],
) -> CheckResult | None:
    """``check()``'s result, counted against ``subjects``; None (nothing checked) once a limit
    is reached."""
    reservation = limiter.reserve(subjects)
    if reservation is None:
        return None
    try:
        result = check()
    except BaseException:
        limiter.forgive(reservation)
        raise
    if result.outcome not in FAILED_OUTCOMES:
        limiter.forgive(reservation)
    return result


class _OverLimit(Exception):
    pass


class SqlFailedCheckLimiter:
    """The count in the product database (SQLite or PostgreSQL), shared by every process."""

    def __init__(
        self,
        database: Database,
        limits: Limits | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._limits = limits or Limits()
        self._clock = clock
        self._pruned_at: datetime | None = None
        self._prune_lock = threading.Lock()

    @property
    def limits(self) -> Limits:
        return self._limits

    def reserve(self, subjects: Iterable[Subject]) -> Reservation | None:
        ordered = _ordered(subjects)
        now = self._clock()
        bucket = _bucket_start(now)
        self._prune(now)
        try:
            # One transaction: SQLite's BEGIN IMMEDIATE and PostgreSQL's row locks on the bucket
            # rows make concurrent reservations wait for each other, so each sees the others.
            with self._database.session() as session:
                for subject in ordered:
                    session.execute(_increment(session, subject, bucket))
                for subject in ordered:
                    if _failures(session, subject, now) > self._limits.for_scope(subject.scope):
                        raise _OverLimit
        except _OverLimit:
            return None
        return Reservation(ordered, bucket)

    def forgive(self, reservation: Reservation) -> None:
        table = DeviceIdCheckFailures.__table__
        with self._database.session() as session:
            for subject in reservation.subjects:
                session.execute(
                    update(table)
                    .where(
                        table.c.scope == subject.scope.value,
                        table.c.subject_hash == subject.key_hash,
                        table.c.bucket_start == reservation.bucket_start,
                        table.c.failures > 0,
                    )
                    .values(failures=table.c.failures - 1)
                )

    def limit_reached(self, subjects: Iterable[Subject]) -> bool:
        now = self._clock()
        with self._database.session() as session:
            return any(
                _failures(session, subject, now) >= self._limits.for_scope(subject.scope)
                for subject in _ordered(subjects)
            )

    def _prune(self, now: datetime) -> None:
        with self._prune_lock:
            if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
                return
            self._pruned_at = now
        table = DeviceIdCheckFailures.__table__
        with self._database.session() as session:
            session.execute(delete(table).where(table.c.bucket_start < now - KEEP))


def _ordered(subjects: Iterable[Subject]) -> tuple[Subject, ...]:
    # One order for every caller, so two PostgreSQL transactions never wait on each other's rows.
    return tuple(sorted(set(subjects), key=lambda s: (s.scope.value, s.key_hash)))


def _bucket_start(moment: datetime) -> datetime:
    seconds = int(BUCKET.total_seconds())
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=moment.tzinfo)


def _increment(session: Any, subject: Subject, bucket: datetime) -> Any:
    table = DeviceIdCheckFailures.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(
        scope=subject.scope.value,
        subject_hash=subject.key_hash,
        bucket_start=bucket,
        failures=1,
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.scope, table.c.subject_hash, table.c.bucket_start],
        set_={"failures": table.c.failures + 1},
    )


def _failures(session: Any, subject: Subject, now: datetime) -> int:
    """Failures in the buckets that overlap the last hour."""
    table = DeviceIdCheckFailures.__table__
    total = session.execute(
        select(func.coalesce(func.sum(table.c.failures), 0)).where(
            table.c.scope == subject.scope.value,
            table.c.subject_hash == subject.key_hash,
            table.c.bucket_start >= _bucket_start(now - WINDOW),
        )
    ).scalar_one()
    return int(total)


__all__ = [
    "FAILED_OUTCOMES",
    "FailedCheckLimiter",
    "Limits",
    "Reservation",
    "Scope",
    "SqlFailedCheckLimiter",
    "Subject",
    "limited_check",
    "subjects_for",
]
