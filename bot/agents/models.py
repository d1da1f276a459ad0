# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Tables ``agents`` (support staff who use the console) and ``agent_sessions`` (their logins).

Only :mod:`bot.agents.accounts` uses these classes. A session row holds a hash of the session
cookie, never the cookie itself, so a copy of the database cannot be used to log in.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String

from bot.db import Base, UTCDateTime, utcnow


class Agent(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "agents"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)  # stored lower case
    display_name = Column(String(100), nullable=False)  # what the user sees in the chat
    password_hash = Column(String(255), nullable=False)  # argon2id, with its parameters
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"Agent(username={self.username!r})"


class AgentSession(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "agent_sessions"

    id = Column(Integer, primary_key=True)
    token_hash = Column(String(64), nullable=False, unique=True)  # sha256 of the cookie, hex
    csrf_token = Column(String(64), nullable=False)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False, index=True)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)
