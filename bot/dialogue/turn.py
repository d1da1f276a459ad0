"""One turn's context: who is talking, on which channel, and the services the dialogue uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot.guide.wording import Channel

if TYPE_CHECKING:
    from bot.cases.conversation import ConversationCases
    from bot.devices.check_limits import FailedCheckLimiter
    from bot.devices.formats import DeviceIdFormats
    from bot.devices.registry import DeviceRegistry
    from bot.faq import Faq
    from bot.guide.procedure import Procedure
    from bot.handoff.support_centre import SupportCentre

PHONE = "phone"


@dataclass(frozen=True)
class Services:
    cases: ConversationCases
    registry: DeviceRegistry
    limiter: FailedCheckLimiter
    formats: DeviceIdFormats
    procedure: Procedure
    centre: SupportCentre
    faq: Faq
    now: Callable[[], datetime]
    # When a release's temporary password stops working (None: no such release).
    release_expiry: Callable[[str], datetime | None]


@dataclass(frozen=True)
class Turn:
    conversation_id: str
    channel: str  # "chat" or "phone": the case's channel
    client_address: str | None  # the chat client's address (the failed-check limits)
    services: Services  # with the content in the conversation's language
    language: str = "en"  # the conversation's language this turn (bot/dialogue/language.py)
    language_asked: bool = False  # the owner asked for that language in this message
    language_changed: bool = False  # the conversation goes on in another language from here

    @property
    def wording(self) -> Channel:
        """Which wording of the guide's content applies (voice on the phone)."""
        return "voice" if self.channel == PHONE else "chat"
