"""What callers get back from the case store: frozen snapshots, detached from any session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.cases.status import CaseStatus


@dataclass(frozen=True)
class CaseView:
    code: str
    channel: str
    conversation_id: str
    device_id: str | None
    caller_phone: str | None
    status: CaseStatus
    created_at: datetime
    updated_at: datetime
    agent_id: int | None = None  # the agent who claimed it
    live_chat: bool = False  # that agent is chatting with the user; the assistant waits
    # What the user said about the owner, for the agent's verification card (None: not given).
    stated_name: str | None = None
    stated_email: str | None = None
    stated_phone: str | None = None
    language: str = "en"  # the conversation's (bot.localisation.LANGUAGES)

    @property
    def is_closed(self) -> bool:
        return self.status.is_closed


@dataclass(frozen=True)
class CaseEventView:
    case_code: str
    at: datetime
    actor: str
    from_status: CaseStatus | None  # None for the event that opened the case
    to_status: CaseStatus
    reason: str
