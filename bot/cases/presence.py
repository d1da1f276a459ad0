"""Whether the owner is still there: the events that record a socket closing or a call ending,
and the owner coming back (reconnecting, or simply writing again).

Kept as audit events on the case (no column of their own), so the agent's view of the case shows
when the owner left and came back, and the queue can say "the owner has left".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.cases.views import CaseEventView

OWNER_LEFT = "the owner left the conversation"
OWNER_RETURNED = "the owner came back"


def gone_since(events: Iterable[CaseEventView]) -> datetime | None:
    """When the owner left, if they have not come back since (``events`` in trail order).

    A second "left" without a return in between keeps the first time: that is how long the
    owner has been away.
    """
    since: datetime | None = None
    for event in events:
        if event.reason == OWNER_LEFT and since is None:
            since = event.at
        elif event.reason == OWNER_RETURNED:
            since = None
    return since
