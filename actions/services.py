"""The product services the action server uses, built once per process.

The database and the stores on it come from the action server's bootstrap
(:func:`bot.bootstrap.action_server`: one database for every action); the content files are
loaded on first use and then shared, so no action re-reads YAML or reconnects per turn.
"""

from __future__ import annotations

from datetime import datetime

from bot.bootstrap import action_server
from bot.cases.conversation import ConversationCases
from bot.db import Database, utcnow
from bot.devices.check_limits import FailedCheckLimiter
from bot.devices.formats import DeviceIdFormats, load_formats
from bot.devices.registry import DeviceRegistry
from bot.dialogue.turn import Services
from bot.faq import load_faq
from bot.guide.procedure import Procedure, load_procedure
from bot.handoff.desk import release_expiry
from bot.handoff.support_centre import SupportCentre, load_support_centre
from bot.localisation import ENGLISH


def database() -> Database:
    return action_server().database


def registry() -> DeviceRegistry:
    return action_server().registry


def check_limiter() -> FailedCheckLimiter:
    return action_server().limiter


def conversation_cases() -> ConversationCases:
    return action_server().conversation_cases


def formats() -> DeviceIdFormats:
    return load_formats()


def procedure(language: str = ENGLISH) -> Procedure:
    return load_procedure(language=language)


def support_centre(language: str = ENGLISH) -> SupportCentre:
    return load_support_centre(language=language)


def now() -> datetime:
    """The current time (UTC); one place, so tests can fix the hour support is open."""
    return utcnow()


def dialogue_services(language: str = ENGLISH) -> Services:
    """What the dialogue controller works with, its content in ``language`` (content loaders are
    cached where they load)."""
    return Services(
        cases=conversation_cases(),
        registry=registry(),
        limiter=check_limiter(),
        formats=formats(),
        procedure=procedure(language),
        centre=support_centre(language),
        faq=load_faq(language=language),
        now=now,
        release_expiry=lambda reference: release_expiry(database(), reference),
    )
