"""Turning what the desk knows into HTML: the Jinja2 environment, its filters, and the page
*fragments* that both the first page load and the live updates render.

A fragment is a named part of a page (the queue, "my cases", a case's actions, its transcript ...)
rendered from the database alone. The server-sent events stream renders the same fragments every
second and pushes the ones whose HTML changed, so a page and its live updates cannot disagree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from bot.agents.accounts import AgentView
from bot.cases.languages import name_in_english
from bot.cases.status import ALLOWED_TRANSITIONS, CaseStatus
from bot.cases.views import CaseView
from bot.handoff.delivery import DeliveryState, DeliveryView
from bot.handoff.desk import CaseFile, QueueEntry
from bot.handoff.rasa_bridge import TranscriptLine
from bot.handoff.support_centre import SupportCentre

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

QUEUE_FRAGMENTS = ("queue-count", "queue", "my-cases")
CASE_FRAGMENTS = (
    "queue-count",
    "case-status",
    "registry",
    "verification",
    "releases",
    "audit",
    "transcript",
)

STATUS_WORDS = {
    CaseStatus.COLLECTING: "The assistant is still gathering details",
    CaseStatus.QUEUED: "Waiting in the queue",
    CaseStatus.ASSIGNED: "Claimed, no password released yet",
    CaseStatus.RELEASED: "Temporary password released",
    CaseStatus.REJECTED: "Rejected (closed)",
    CaseStatus.ABANDONED: "Abandoned by the user (closed)",
    CaseStatus.GUIDING: "The assistant is guiding the reset",
    CaseStatus.COMPLETED: "Completed (closed)",
}


# How a released password got to the user, by the channel that handed it over.
DELIVERED_BY = {
    "socketio": "shown in the web chat",
    "rest": "taken by the REST client",
    "phone": "read to the caller",
}
WAITING_FOR_OWNER = "waiting for the owner to come back"


def release_notice(delivery: DeliveryView | None, replaced_earlier: bool) -> str:
    """What the agent is told right after a release: "sent" only when it reached the user."""
    new = "A new temporary password (it replaces the earlier one)" if replaced_earlier else (
        "The temporary password"
    )
    if delivery is not None and delivery.state is DeliveryState.DELIVERED:
        how = DELIVERED_BY.get(delivery.channel or "", "delivered")
        return f"{new} was sent to the user ({how}); the assistant starts the steps."
    # Not delivered yet: on its way to an open chat (which confirms once it is shown), or kept
    # until the owner comes back. Which of the two is not known at this point.
    return (
        f"The release is recorded. {new} has not reached the user yet: it counts as delivered once "
        f"their chat has shown it, or it is {WAITING_FOR_OWNER}. "
        "The case page shows when it is delivered."
    )


def waiting_words(waited: timedelta) -> str:
    """How long someone has waited, to the minute (the page's script keeps it current)."""
    minutes = int(waited.total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def breakable(value: str) -> Markup:
    """``value`` escaped, with a line-break opportunity before each ``@`` (long emails in
    narrow cells), without changing what is copied."""
    return Markup("<wbr>@").join(escape(part) for part in value.split("@"))


_BOLD = re.compile(r"\*\*(.+?)\*\*")


def chat_text(value: str) -> Markup:
    """A chat message as the user saw it: escaped, with the assistant's **bold** shown bold and
    its line breaks kept."""
    escaped = str(escape(value))
    return Markup(_BOLD.sub(r"<strong>\1</strong>", escaped).replace("\n", "<br>"))


def epoch_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def fingerprint(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()[:16]


def build_environment(centre: SupportCentre) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def local(at: datetime | None) -> str:
        if at is None:
            return ""
        shown = at.astimezone(centre.time_zone)
        return f"{shown:%Y-%m-%d %H:%M} {shown.tzname()}"

    def clock(at: datetime) -> str:
        return f"{at.astimezone(centre.time_zone):%H:%M:%S}"

    environment.filters["breakable"] = breakable
    environment.filters["chat_text"] = chat_text
    environment.filters["local"] = local
    environment.filters["clock"] = clock
    environment.filters["waiting"] = waiting_words
    environment.filters["epoch_ms"] = epoch_ms
    environment.filters["language_name"] = name_in_english
    environment.globals["status_words"] = STATUS_WORDS
    environment.globals["delivered_by"] = DELIVERED_BY
    environment.globals["waiting_for_owner"] = WAITING_FOR_OWNER
    return environment


@dataclass(frozen=True)
class CaseActions:
    """What the logged-in agent may do with a case right now (the buttons the page shows)."""

    mine: bool
    claim: bool
    release: bool
    reject: bool
    put_back: bool
    talk: bool  # send a message, take over, hand back

    @classmethod
    def for_case(cls, case: CaseView, agent: AgentView) -> CaseActions:
        mine = case.agent_id == agent.id and not case.is_closed
        allowed = ALLOWED_TRANSITIONS[case.status]
        return cls(
            mine=mine,
            claim=case.status == CaseStatus.QUEUED,
            release=mine and CaseStatus.RELEASED in allowed,
            reject=mine and CaseStatus.REJECTED in allowed,
            # Only a case the agent holds goes back; the owner's own requests re-queue the rest.
            put_back=mine and case.status == CaseStatus.ASSIGNED,
            talk=mine
            and case.status in (CaseStatus.ASSIGNED, CaseStatus.RELEASED, CaseStatus.GUIDING),
        )


@dataclass(frozen=True)
class Transcript:
    lines: list[TranscriptLine]
    unavailable: str | None = None  # why it could not be read, in words


class Renderer:
    def __init__(self, centre: SupportCentre, needs_agent_input: bool) -> None:
        self.environment = build_environment(centre)
        self.centre = centre
        self.needs_agent_input = needs_agent_input

    def page(self, name: str, **context: Any) -> str:
        return self.environment.get_template(name).render(**context)

    def queue_fragments(
        self,
        agent: AgentView,
        csrf_token: str,
        queue: list[QueueEntry],
        mine: list[CaseView],
    ) -> dict[str, str]:
        context = {"agent": agent, "csrf_token": csrf_token, "queue": queue, "mine": mine}
        return {
            name: self.page(f"fragments/{name}.html", **context) for name in QUEUE_FRAGMENTS
        }

    def case_fragments(
        self,
        agent: AgentView,
        csrf_token: str,
        case_file: CaseFile,
        queue_length: int,
        transcript: Transcript | None,
        deliveries: dict[str, DeliveryView] | None = None,
    ) -> dict[str, str]:
        """The case page's fragments; ``transcript`` None leaves that one out (not re-read).

        ``deliveries``: how each release (by reference) got to the user; none yet if missing.
        """
        context = {
            "agent": agent,
            "csrf_token": csrf_token,
            "file": case_file,
            "case": case_file.case,
            "actions": CaseActions.for_case(case_file.case, agent),
            "reasons": self.centre.rejection_reasons,
            "needs_agent_input": self.needs_agent_input,
            "queue": [None] * queue_length,
            "transcript": transcript,
            "deliveries": deliveries or {},
        }
        names = [n for n in CASE_FRAGMENTS if transcript is not None or n != "transcript"]
        return {name: self.page(f"fragments/{name}.html", **context) for name in names}
