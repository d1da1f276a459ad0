"""The support centre, as described in ``data/content/support.yml``: opening hours and the time
zone as people say it, the expected wait, and the reasons an agent may give for refusing a
release with the other routes offered (each worded for the chat and for the phone)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import groupby
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_time, get_day_names

from bot.content import CONTENT_DIR, ContentMapping, load_mapping
from bot.localisation import ENGLISH, LOCALES, load_localised

SUPPORT_FILE = CONTENT_DIR / "support.yml"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HOURS = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


@dataclass(frozen=True)
class RejectionReason:
    key: str
    label: str  # for the agent
    tell_user: str  # for the user
    alternatives: tuple[str, ...]  # what the user is told they can do instead
    tell_caller: str = ""  # for a caller, where it differs (what a phone cannot do); else tell_user

    def told(self, *, voice: bool = False) -> str:
        """What the user is told, by chat or (``voice``) on the phone."""
        return self.tell_caller if voice and self.tell_caller else self.tell_user


@dataclass(frozen=True)
class Route:
    """Another way to a password, worded for the chat and for the ear."""

    chat: str
    voice: str


@dataclass(frozen=True)
class TimeWords:
    """How times are said in one language (support.yml's ``when``; patterns are CLDR's)."""

    locale: str
    clock: str
    clock_on_the_hour: str
    opening: str
    opening_spoken: str
    tonight: str
    day_range: str
    day_hours: str


@dataclass(frozen=True)
class SupportCentre:
    time_zone: ZoneInfo
    zone_name: str  # as said after a time: "Eastern time"
    phone: str
    minutes_per_case: int
    hours: dict[int, tuple[time, time]]  # weekday (0 = Monday) -> opening, closing
    rejection_reasons: dict[str, RejectionReason]
    routes: dict[str, Route]
    skip_answers: frozenset[str]
    words: TimeWords
    agent_greeting: str  # {agent}: what the owner reads when an agent takes the chat over

    def clock(self, at: time | datetime) -> str:
        """A time of day as the language says it ("8 AM", "8:30 AM"; "8 h", "8 h 30")."""
        pattern = self.words.clock_on_the_hour if at.minute == 0 else self.words.clock
        return format_time(at, pattern, locale=self.words.locale)

    def day_name(self, weekday: int) -> str:
        """A weekday (0 = Monday) by its name in the language."""
        return str(get_day_names("wide", locale=self.words.locale)[weekday])

    def opening_words(self, at: datetime, *, spoken: bool = False) -> str:
        """When support opens, e.g. "Monday at 8 AM (Eastern time)"."""
        local = at.astimezone(self.time_zone)
        template = self.words.opening_spoken if spoken else self.words.opening
        return template.format(
            day=self.day_name(local.weekday()), time=self.clock(local), zone=self.zone_name
        )

    def until_words(self, at: datetime) -> str:
        """A time later today, e.g. "11:59 PM tonight (Eastern time)"."""
        local = at.astimezone(self.time_zone)
        return self.words.tonight.format(time=self.clock(local), zone=self.zone_name)

    def hours_words(self) -> str:
        """ "Monday to Friday 8 AM to 8 PM, Saturday 9 AM to 5 PM": days with the same hours
        joined."""
        days = [(day, self.hours.get(day)) for day in range(7)]
        parts = []
        for opening, group in groupby(days, key=lambda item: item[1]):
            run = [day for day, _ in group]
            if opening is None:
                continue
            names = self.day_name(run[0])
            if len(run) > 1:
                names = self.words.day_range.format(first=names, last=self.day_name(run[-1]))
            parts.append(
                self.words.day_hours.format(
                    days=names, opens=self.clock(opening[0]), closes=self.clock(opening[1])
                )
            )
        return ", ".join(parts)

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(self.time_zone)
        span = self.hours.get(local.weekday())
        return span is not None and span[0] <= local.time() < span[1]

    def next_opening(self, at: datetime) -> datetime:
        """When support next opens after ``at`` (local time zone)."""
        local = at.astimezone(self.time_zone)
        for days_ahead in range(8):
            day: date = local.date() + timedelta(days=days_ahead)
            span = self.hours.get(day.weekday())
            if span is None:
                continue
            opening = datetime.combine(day, span[0], tzinfo=self.time_zone)
            if opening > local:
                return opening
        raise ValueError("support.yml: no opening hours on any day")

    def expected_wait_minutes(self, position: int) -> int:
        return max(1, position) * self.minutes_per_case

    def end_of_day(self, at: datetime) -> datetime:
        """The last moment of ``at``'s day in the support centre's time zone."""
        local = at.astimezone(self.time_zone)
        return datetime.combine(local.date() + timedelta(days=1), time(0), self.time_zone) - (
            timedelta(microseconds=1)
        )

    def alternatives_text(self, reason: RejectionReason, *, voice: bool = False) -> str:
        """What the user can do instead, in chat wording or (``voice``) for the phone."""
        routes = [self.routes[key] for key in reason.alternatives]
        return " ".join(route.voice if voice else route.chat for route in routes)


@functools.cache
def load_support_centre(path: Path | None = None, language: str = ENGLISH) -> SupportCentre:
    """The support centre in ``language`` (``path``: another file, in English, for tests)."""
    data = load_localised(SUPPORT_FILE.name, language) if path is None else load_mapping(path)
    zone_name = data.require("time_zone", str)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise data.error(f"unknown time zone {zone_name!r}") from exc
    minutes = data.require("minutes_per_case", int)
    if minutes < 1:
        raise data.error("minutes_per_case must be at least 1")
    hours_data = data.require("hours", ContentMapping)
    hours: dict[int, tuple[time, time]] = {}
    for day, span in hours_data.items():
        if day not in WEEKDAYS:
            raise hours_data.error(f"unknown weekday {day!r}; use one of {', '.join(WEEKDAYS)}")
        match = HOURS.match(str(span))
        if match is None:
            raise hours_data.error(f"{day}: hours must look like 08:00-20:00, not {span!r}")
        opens, closes = (time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4])))
        if not opens < closes:
            raise hours_data.error(f"{day}: closes ({closes}) before it opens ({opens})")
        hours[WEEKDAYS.index(day)] = (opens, closes)
    routes_data = data.require("routes", ContentMapping)
    routes: dict[str, Route] = {}
    for key, entry in routes_data.items():
        if not isinstance(entry, ContentMapping):
            raise routes_data.error(f"route {key!r} must be a mapping with 'chat' and 'voice'")
        routes[key] = Route(
            chat=entry.require("chat", str).strip(), voice=entry.require("voice", str).strip()
        )
    reasons: dict[str, RejectionReason] = {}
    for key, entry in data.require("rejection_reasons", ContentMapping).items():
        if not isinstance(entry, ContentMapping):
            raise data.error(f"rejection reason {key!r} must be a mapping")
        alternatives = tuple(entry.optional("alternatives", list, []))
        unknown = [route for route in alternatives if route not in routes]
        if unknown:
            raise entry.error(f"{key}: unknown route(s) {', '.join(unknown)}")
        reasons[key] = RejectionReason(
            key,
            entry.require("label", str),
            entry.require("tell_user", str),
            alternatives,
            tell_caller=entry.optional("tell_caller", str, "").strip(),
        )
    return SupportCentre(
        time_zone=zone,
        zone_name=data.require("time_zone_name", str).strip(),
        phone=data.require("phone", str),
        minutes_per_case=minutes,
        hours=hours,
        rejection_reasons=reasons,
        routes=routes,
        skip_answers=frozenset(
            str(answer).lower() for answer in data.optional("skip_answers", list, [])
        ),
        words=_time_words(data.require("when", ContentMapping), LOCALES[language]),
        agent_greeting=data.require("agent_greeting", str),
    )


def _time_words(data: ContentMapping, locale: str) -> TimeWords:
    words = {name: data.require(name, str) for name in list(TimeWords.__dataclass_fields__)[1:]}
    for pattern in ("clock", "clock_on_the_hour"):
        try:
            format_time(time(8, 30), words[pattern], locale=locale)
        except (ValueError, KeyError) as exc:
            raise data.error(f"'{pattern}' is not a CLDR time pattern: {exc}") from exc
    return TimeWords(locale=locale, **words)
