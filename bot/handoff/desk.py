# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""The support desk: what agents do to cases (claim, release, reject, talk, hand back).

Every method is one transaction that locks the case row first, checks that the agent may make the
move (only the agent who claimed a case works it), and has :mod:`bot.cases.lifecycle` make it:
the lifecycle's check, its side effects and an audit event naming the agent, exactly as for the
assistant's moves. Two agents claiming one case at once are served one after the other; the
second is told who has it.

A release returns the temporary password to the caller exactly once; the database keeps only its
argon2 hash and when and by whom it was released.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.agents.accounts import AgentView
from bot.agents.models import Agent
from bot.cases import lifecycle
from bot.cases.errors import CaseClosed, CaseError, IllegalTransition
from bot.cases.models import SupportCase
from bot.cases.presence import gone_since
from bot.cases.status import CaseStatus, require_transition
from bot.cases.store import CaseStore, case_view, find_case, locked_case
from bot.cases.views import CaseEventView, CaseView
from bot.db import Database, utcnow
from bot.devices.models import Device
from bot.devices.record import DeviceRecord
from bot.devices.registry import device_record
from bot.handoff.models import PasswordRelease
from bot.handoff.queue import QueueEntry as QueueEntry  # re-exported: the console reads it here
from bot.handoff.queue import read_queue
from bot.handoff.support_centre import RejectionReason, SupportCentre
from bot.handoff.temporary_password import PasswordProvider, SecretHasher, TemporaryPassword
from bot.handoff.verification import VerificationRow, verification_card

# The statuses in which a case is on an agent's desk (theirs until released or put back).
_WORKING = frozenset({CaseStatus.ASSIGNED, CaseStatus.RELEASED})


class NotYourCase(CaseError):
    def __init__(self, code: str, holder: str | None) -> None:
        who = f"{holder} has it" if holder else "nobody has claimed it"
        super().__init__(f"Case {code} is not assigned to you ({who}); claim it first")
        self.code = code


class AlreadyClaimed(CaseError):
    def __init__(self, code: str, holder: str) -> None:
        super().__init__(f"Case {code} was just claimed by {holder}")
        self.code = code
        self.holder = holder


class StaleCase(CaseError):
    """The agent acted on an outdated view of the case (a double click, a second tab)."""


class UnknownRejectionReason(CaseError):
    pass


@dataclass(frozen=True)
class ReleaseView:
    reference: str
    provider: str
    agent: str
    released_at: datetime
    expires_at: datetime
    superseded_at: datetime | None


@dataclass(frozen=True)
class Release:
    """A temporary password just released. ``password`` exists only in this object."""

    case: CaseView
    reference: str
    password: TemporaryPassword
    expires_at: datetime
    replaced_earlier: bool


@dataclass(frozen=True)
class Rejection:
    case: CaseView
    reason: RejectionReason


@dataclass(frozen=True)
class CaseFile:
    """Everything the case view shows, read in one transaction."""

    case: CaseView
    device: DeviceRecord | None
    agent: str | None  # display name of the agent who has it
    verification: list[VerificationRow]
    releases: list[ReleaseView]
    events: list[CaseEventView]
    owner_gone_since: datetime | None = None  # the owner's socket closed or call ended


class SupportDesk:
    def __init__(
        self,
        database: Database,
        *,
        centre: SupportCentre,
        provider: PasswordProvider,
        hasher: SecretHasher | None = None,
    ) -> None:
        self._database = database
        self._store = CaseStore(database)
        self._centre = centre
        self._provider = provider
        self._hasher = hasher or SecretHasher()

    @property
    def provider(self) -> PasswordProvider:
        return self._provider

    @property
    def centre(self) -> SupportCentre:
        return self._centre

    def queue(self, now: datetime | None = None) -> list[QueueEntry]:
        """The cases waiting for an agent, oldest first, with how long each has waited."""
        return read_queue(self._store, now or utcnow())

    def assigned_to(self, agent: AgentView) -> list[CaseView]:
        """The open cases ``agent`` is working on, oldest first."""
        return self._store.assigned_to(agent.id, _WORKING)

    def case_file(self, code: str) -> CaseFile:
        with self._database.session() as session:
            case = find_case(session, code)
            device = None
            if case.device_id is not None:
                row = session.scalars(
                    select(Device).where(Device.device_id == case.device_id)
                ).first()
                device = None if row is None else device_record(row)
            holder = None if case.agent_id is None else session.get(Agent, case.agent_id)
            releases = session.execute(
                select(PasswordRelease, Agent.display_name)
                .join(Agent, Agent.id == PasswordRelease.agent_id)
                .where(PasswordRelease.case_id == case.id)
                .order_by(PasswordRelease.id)
            ).all()
            view = case_view(case)
        events = self._store.events(view.code)
        return CaseFile(
            case=view,
            device=device,
            agent=None if holder is None else holder.display_name,
            verification=verification_card(
                device,
                name=view.stated_name,
                email=view.stated_email,
                phone=view.stated_phone or view.caller_phone,
            ),
            releases=[
                ReleaseView(
                    r.reference, r.provider, name, r.released_at, r.expires_at, r.superseded_at
                )
                for r, name in releases
            ],
            events=events,
            owner_gone_since=gone_since(events),
        )

    def claim(self, code: str, agent: AgentView) -> CaseView:
        with self._database.session() as session:
            case = locked_case(session, code)
            if case.status == CaseStatus.ASSIGNED.value and case.agent_id != agent.id:
                raise AlreadyClaimed(case.code, _holder_name(session, case) or "another agent")
            if case.status == CaseStatus.ASSIGNED.value:
                return case_view(case)  # claiming one's own case again changes nothing
            lifecycle.move(
                session, case, CaseStatus.ASSIGNED,
                actor=agent.actor, reason="claimed the case", at=utcnow(), agent_id=agent.id,
            )
            return case_view(case)

    def put_back(self, code: str, agent: AgentView) -> CaseView:
        with self._database.session() as session:
            case = self._own_case(session, code, agent, "putting it back in the queue")
            if case.status != CaseStatus.ASSIGNED.value:
                # Released or guiding cases go back to the queue only when the owner asks.
                raise IllegalTransition(
                    case.code, case.status, CaseStatus.QUEUED.value,
                    "only a case not yet released can be put back",
                )
            lifecycle.move(
                session, case, CaseStatus.QUEUED,
                actor=agent.actor, reason="put the case back", at=utcnow(),
            )
            return case_view(case)

    def release(
        self,
        code: str,
        agent: AgentView,
        *,
        agent_input: str | None = None,
        releases_seen: int | None = None,
    ) -> Release:
        """Release a temporary password for case ``code``; a later release replaces this one.

        ``releases_seen`` is how many releases the agent's screen showed: if another release
        happened meanwhile (a double click, a second tab), :class:`StaleCase` is raised instead of
        sending the user a second password.
        """
        with self._database.session() as session:
            case = self._own_case(session, code, agent, "releasing a temporary password")
            require_transition(case.code, CaseStatus(case.status), CaseStatus.RELEASED)
            earlier = session.scalars(
                select(PasswordRelease)
                .where(PasswordRelease.case_id == case.id)
                .order_by(PasswordRelease.id)
            ).all()
            if releases_seen is not None and releases_seen != len(earlier):
                last = earlier[-1].released_at.astimezone(self._centre.time_zone)
                raise StaleCase(
                    f"A temporary password was already released for case {case.code} at "
                    f"{last:%H:%M}; nothing was sent again. Reload the case to see it."
                )
            password = self._provider.issue(agent_input)
            now = utcnow()
            expires_at = self._centre.end_of_day(now)
            session.execute(
                update(PasswordRelease)
                .where(PasswordRelease.case_id == case.id, PasswordRelease.superseded_at.is_(None))
                .values(superseded_at=now)
                .execution_options(synchronize_session=False)
            )
            reference = secrets.token_urlsafe(16)
            session.add(
                PasswordRelease(
                    case_id=case.id,
                    agent_id=agent.id,
                    reference=reference,
                    provider=self._provider.name,
                    secret_hash=self._hasher.hash(password),
                    released_at=now,
                    expires_at=expires_at,
                )
            )
            local_expiry = expires_at.astimezone(self._centre.time_zone)
            why = (
                f"released a temporary password ({self._provider.name}), valid until "
                f"{local_expiry:%Y-%m-%d %H:%M} {self._centre.time_zone.key}"
            )
            if earlier:
                why += "; it replaces the earlier one"
            # The move shares the release's transaction: both are written, or neither.
            lifecycle.move(
                session, case, CaseStatus.RELEASED, actor=agent.actor, reason=why, at=now
            )
            return Release(
                case_view(case), reference, password, expires_at, replaced_earlier=bool(earlier)
            )

    def reject(self, code: str, agent: AgentView, reason_key: str, note: str = "") -> Rejection:
        reason = self._centre.rejection_reasons.get(reason_key)
        if reason is None:
            raise UnknownRejectionReason(
                f"Unknown reason {reason_key!r}; choose one of: "
                + ", ".join(self._centre.rejection_reasons)
            )
        with self._database.session() as session:
            case = self._own_case(session, code, agent, "rejecting it")
            why = f"rejected: {reason.label}" + (f" ({note.strip()})" if note.strip() else "")
            lifecycle.move(
                session, case, CaseStatus.REJECTED, actor=agent.actor, reason=why, at=utcnow()
            )
            return Rejection(case_view(case), reason)

    def note_message(self, code: str, agent: AgentView) -> CaseView:
        """Record that ``agent`` wrote to the user (the words are in the conversation)."""
        return self._note(code, agent, "sent the user a message", "writing to the user")

    def take_over(self, code: str, agent: AgentView) -> CaseView:
        return self._note(
            code, agent, "took over the chat", "taking over the chat", live_chat=True
        )

    def hand_back(self, code: str, agent: AgentView) -> CaseView:
        return self._note(
            code,
            agent,
            "handed the chat back to the assistant",
            "handing the chat back",
            live_chat=False,
        )

    def verify_secret(self, code: str, candidate: str) -> bool:
        """Whether ``candidate`` is the case's current temporary password (audit, support)."""
        with self._database.session() as session:
            case = find_case(session, code)
            current = session.scalars(
                select(PasswordRelease).where(
                    PasswordRelease.case_id == case.id, PasswordRelease.superseded_at.is_(None)
                )
            ).first()
            return current is not None and self._hasher.matches(current.secret_hash, candidate)

    def release_count(self, code: str) -> int:
        with self._database.session() as session:
            case = find_case(session, code)
            count: int = session.scalar(
                select(func.count(PasswordRelease.id)).where(PasswordRelease.case_id == case.id)
            )
            return count

    def _note(
        self,
        code: str,
        agent: AgentView,
        what: str,
        what_refused: str,
        *,
        live_chat: bool | None = None,
    ) -> CaseView:
        with self._database.session() as session:
            case = self._own_case(session, code, agent, what_refused)
            if live_chat is None:
                lifecycle.note(session, case, actor=agent.actor, reason=what, at=utcnow())
            else:
                lifecycle.set_live_chat(
                    session, case, live_chat, actor=agent.actor, reason=what, at=utcnow()
                )
            return case_view(case)

    def _own_case(
        self, session: Session, code: str, agent: AgentView, doing: str
    ) -> SupportCase:
        case = locked_case(session, code)
        status = CaseStatus(case.status)
        if status.is_closed:
            # Say what happened to it rather than "not yours".
            raise CaseClosed(case.code, status.value, doing)
        if case.agent_id != agent.id:
            raise NotYourCase(case.code, _holder_name(session, case))
        return case


def _holder_name(session: Session, case: SupportCase) -> str | None:
    if case.agent_id is None:
        return None
    holder = session.get(Agent, case.agent_id)
    return None if holder is None else str(holder.display_name)


def release_expiry(database: Database, reference: str) -> datetime | None:
    """When the release with ``reference`` stops working (None: no such release)."""
    with database.session() as session:
        expires_at: datetime | None = session.scalar(
            select(PasswordRelease.expires_at).where(PasswordRelease.reference == reference)
        )
        return expires_at
