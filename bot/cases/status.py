"""The statuses a support case goes through, and which moves between them are allowed.

``collecting``: the assistant is gathering what support needs (Device ID, photos).
``queued``: waiting for a support agent; ``assigned``: an agent has it (and may put it back).
``released``: the agent released a temporary password; releasing again replaces it.
``guiding``: the assistant walks the user through the reset on the recorder.
``rejected``, ``abandoned`` and ``completed`` close the case; only a rejected case may be reopened,
into the queue, when the owner asks for a person again (the agent then sees the rejection in its
history instead of a fresh case without it). An owner who asks for a person while released or
guiding goes back to the queue with the same case, so it keeps its place.
:data:`ALLOWED_TRANSITIONS` is the whole lifecycle; nothing else decides which moves are legal.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

from bot.cases.errors import IllegalTransition


class CaseStatus(str, Enum):
    COLLECTING = "collecting"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RELEASED = "released"
    REJECTED = "rejected"
    ABANDONED = "abandoned"
    GUIDING = "guiding"
    COMPLETED = "completed"

    def __str__(self) -> str:
        return self.value

    @property
    def is_closed(self) -> bool:
        return self in CLOSED_STATUSES


ALLOWED_TRANSITIONS: Mapping[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.COLLECTING: frozenset({CaseStatus.QUEUED, CaseStatus.ABANDONED}),
    CaseStatus.QUEUED: frozenset({CaseStatus.ASSIGNED, CaseStatus.ABANDONED}),
    CaseStatus.ASSIGNED: frozenset(
        {
            CaseStatus.RELEASED,
            CaseStatus.REJECTED,
            CaseStatus.QUEUED,  # the agent puts it back in the queue
            CaseStatus.GUIDING,  # the agent helped with a step and handed back to the steps
            CaseStatus.ABANDONED,
        }
    ),
    CaseStatus.RELEASED: frozenset(
        {
            CaseStatus.RELEASED,  # a new temporary password replaces the earlier one
            CaseStatus.GUIDING,
            CaseStatus.COMPLETED,
            CaseStatus.ABANDONED,
            CaseStatus.QUEUED,  # the owner asks for a person again
        }
    ),
    CaseStatus.GUIDING: frozenset(
        {CaseStatus.COMPLETED, CaseStatus.ABANDONED, CaseStatus.QUEUED}
    ),
    CaseStatus.REJECTED: frozenset({CaseStatus.QUEUED}),  # reopened by the owner's new request
    CaseStatus.ABANDONED: frozenset(),
    CaseStatus.COMPLETED: frozenset(),
}

CLOSED_STATUSES: frozenset[CaseStatus] = frozenset(
    {CaseStatus.REJECTED, CaseStatus.ABANDONED, CaseStatus.COMPLETED}
)

# Where a case may start: gathering details, straight into the queue (the user asked for a person
# early), or straight into guiding (the user already holds a temporary password, e.g. from the
# Lorex website).
OPENING_STATUSES: frozenset[CaseStatus] = frozenset(
    {CaseStatus.COLLECTING, CaseStatus.QUEUED, CaseStatus.GUIDING}
)


def _options(statuses: frozenset[CaseStatus]) -> str:
    names = [status.value for status in CaseStatus if status in statuses]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def require_transition(code: str, from_status: CaseStatus, to_status: CaseStatus) -> None:
    """Raise :class:`IllegalTransition` unless case ``code`` may go ``from_status -> to_status``."""
    allowed = ALLOWED_TRANSITIONS[from_status]
    if to_status in allowed:
        return
    article = "an" if from_status.value[0] in "aeiou" else "a"
    if from_status.is_closed:
        why = f"{article} {from_status.value} case is closed"
    else:
        why = f"{article} {from_status.value} case can only move to {_options(allowed)}"
    raise IllegalTransition(code, from_status.value, to_status.value, why)


def require_opening_status(status: CaseStatus) -> None:
    if status not in OPENING_STATUSES:
        raise ValueError(
            f"a case cannot be opened as {status.value}; "
            f"it starts as {_options(OPENING_STATUSES)}"
        )
