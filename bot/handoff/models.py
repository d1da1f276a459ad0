# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Table ``password_releases``: which temporary password was released for which case, by whom.

Only a hash of the temporary password is kept (for audit: "was this the code we released?"); the
plain text never reaches the database. A later release for the same case supersedes the earlier
one (``superseded_at``), which stays for the audit trail.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String

from bot.db import Base, UTCDateTime, utcnow


class PasswordRelease(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "password_releases"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("support_cases.id"), nullable=False, index=True)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False)
    # What the assistant's message carries instead of the password; the channel swaps it for the
    # value, once, when sending to the conversation's own user.
    reference = Column(String(32), nullable=False, unique=True)
    provider = Column(String(16), nullable=False)  # generator, manual
    secret_hash = Column(String(255), nullable=False)  # argon2id of the temporary password
    released_at = Column(UTCDateTime, nullable=False, default=utcnow)
    expires_at = Column(UTCDateTime, nullable=False)
    superseded_at = Column(UTCDateTime, nullable=True)
