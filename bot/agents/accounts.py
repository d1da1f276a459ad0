# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Support agents' accounts and login sessions.

Passwords are hashed with argon2id (argon2-cffi). A login session is a random token in a cookie;
the database keeps its SHA-256 only, with an expiry and the session's CSRF token, which every
form the console renders carries back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from bot.agents.models import Agent, AgentSession
from bot.db import Database, utcnow

DEFAULT_SESSION_LIFETIME = timedelta(hours=8)  # one shift
MIN_PASSWORD_LENGTH = 12
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class AccountError(ValueError):
    """A request about an agent account that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class AgentView:
    id: int
    username: str
    display_name: str

    @property
    def actor(self) -> str:
        """How the audit trail names this agent."""
        return f"agent:{self.username}"


@dataclass(frozen=True)
class LoginSession:
    """A logged-in agent. ``token`` is only known right after login (it goes in the cookie)."""

    agent: AgentView
    csrf_token: str
    expires_at: datetime
    token: str = ""


@dataclass(frozen=True)
class ExpiredSession:
    expired_at: datetime


class AgentAccounts:
    def __init__(
        self,
        database: Database,
        *,
        hasher: PasswordHasher | None = None,
        session_lifetime: timedelta = DEFAULT_SESSION_LIFETIME,
    ) -> None:
        self._database = database
        self._hasher = hasher or PasswordHasher()
        self._session_lifetime = session_lifetime
        # Verified when the username is unknown, so that a wrong username takes as long to
        # refuse as a wrong password (no hint which of the two was wrong).
        self._decoy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def create(self, username: str, display_name: str, password: str) -> AgentView:
        username = normalise_username(username)
        display_name = display_name.strip()
        if not display_name or len(display_name) > 100:
            raise AccountError("the display name must be 1 to 100 characters")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(
                f"the password must be at least {MIN_PASSWORD_LENGTH} characters long"
            )
        with self._database.session() as session:
            if session.scalar(select(Agent.id).where(Agent.username == username)) is not None:
                raise AccountError(f"there is already an agent called {username!r}")
            agent = Agent(
                username=username,
                display_name=display_name,
                password_hash=self._hasher.hash(password),
                active=True,
            )
            session.add(agent)
            session.flush()
            return _view(agent)

    def authenticate(self, username: str, password: str) -> AgentView | None:
        """The agent if ``username`` and ``password`` match an active account, else None.

        argon2 runs outside any transaction: on SQLite every transaction holds the write lock
        (``BEGIN IMMEDIATE``), and a check held it for as long as argon2 took, so a flood of
        logins kept the other processes' writers waiting until they failed.
        """
        try:
            username = normalise_username(username)
        except AccountError:
            username = ""
        with self._database.session() as session:
            agent = session.scalars(
                select(Agent).where(Agent.username == username, Agent.active.is_(True))
            ).first()
            found = None if agent is None else (_view(agent), agent.password_hash)
        if found is None:
            self._verify(self._decoy_hash, password)
            return None
        view, password_hash = found
        if not self._verify(password_hash, password):
            return None
        if self._hasher.check_needs_rehash(password_hash):
            self._rehash(view.id, password_hash, self._hasher.hash(password))
        return view

    def _rehash(self, agent_id: int, verified_hash: str, new_hash: str) -> None:
        """Store ``new_hash`` unless the password changed since ``verified_hash`` was read."""
        with self._database.session() as session:
            session.execute(
                update(Agent)
                .where(Agent.id == agent_id, Agent.password_hash == verified_hash)
                .values(password_hash=new_hash)
            )

    def log_in(self, agent: AgentView) -> LoginSession:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self._database.session() as session:
            # Expired sessions are of no use to anyone; clear them on the way.
            session.execute(delete(AgentSession).where(AgentSession.expires_at < now))
            row = AgentSession(
                token_hash=_token_hash(token),
                csrf_token=secrets.token_urlsafe(32),
                agent_id=agent.id,
                created_at=now,
                expires_at=now + self._session_lifetime,
            )
            session.add(row)
            return LoginSession(agent, row.csrf_token, row.expires_at, token)

    def session(self, token: str) -> LoginSession | ExpiredSession | None:
        """The session behind a cookie: live, expired (say so), or unknown (None)."""
        if not token:
            return None
        with self._database.session() as session:
            row = session.scalars(
                select(AgentSession).where(AgentSession.token_hash == _token_hash(token))
            ).first()
            if row is None:
                return None
            if row.expires_at <= utcnow():
                return ExpiredSession(row.expires_at)
            agent = session.get(Agent, row.agent_id)
            if agent is None or not agent.active:
                return None
            return LoginSession(_view(agent), row.csrf_token, row.expires_at)

    def log_out(self, token: str) -> None:
        with self._database.session() as session:
            session.execute(
                delete(AgentSession).where(AgentSession.token_hash == _token_hash(token))
            )

    def find(self, agent_id: int) -> AgentView | None:
        with self._database.session() as session:
            agent = session.get(Agent, agent_id)
            return None if agent is None else _view(agent)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False


def normalise_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise AccountError(
            "a username is 2 to 64 characters: letters, digits, dots, dashes or underscores"
        )
    return username


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected.encode(), (given or "").encode())


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(agent: Agent) -> AgentView:
    return AgentView(agent.id, agent.username, agent.display_name)
