"""What a transition of a call's state machine (:mod:`bot.phone.machine`) ends with, and what it
is told back.

A transition ends with a **reply** (what to say to Twilio, as data: :func:`bot.phone.twiml.render`
turns it into TwiML with the call's URLs) or a **command**: something only the shell
(:class:`bot.phone.flow.CallFlow`) can do, because it is I/O (ask the dialogue, reveal the
password from the vault, look a Device ID up or count it, write the caller's number on the case).
The shell does it and hands the machine the result as an **event**; the machine's next
transition goes on from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.phone.device_id_entry import EntryCommand, EntryEvent

# -- replies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """Say ``sayings`` and listen (speech and keys; keys only at a private step)."""

    sayings: tuple[str, ...]
    kind: str  # what is expected: hints, timeout (bot.phone.contract.Turn.prompt_kind)
    pause_between: bool = False  # a pause after each saying (the password, spelt)


@dataclass(frozen=True)
class MenuLine:
    """One line of the language menu, said in its own language's voice."""

    text: str
    voice: str
    language: str  # Twilio's language of the line (a locale)


@dataclass(frozen=True)
class LanguageMenu:
    """Say each language's line of the menu in its voice, and listen for a key or a language's
    name (speech recognised in ``language``, with ``hints``)."""

    lines: tuple[MenuLine, ...]
    language: str
    hints: str


@dataclass(frozen=True)
class Enqueue:
    """Say ``sayings``, then hold the caller in the support queue."""

    sayings: tuple[str, ...]


@dataclass(frozen=True)
class Dial:
    """Say ``sayings``, then call the support centre (the agent hears the case code first)."""

    sayings: tuple[str, ...]
    case_code: str


@dataclass(frozen=True)
class Goodbye:
    """Say ``sayings`` (then phone.yml's goodbye, if ``farewell``) and hang up (if ``hang_up``)."""

    sayings: tuple[str, ...]
    farewell: bool = True
    hang_up: bool = True


@dataclass(frozen=True)
class Hold:
    """On hold: say ``sayings``, then hold music."""

    sayings: tuple[str, ...]


@dataclass(frozen=True)
class CheckAgain:
    """Say ``sayings``, pause, then ask the ``<Enqueue>`` action URL again."""

    sayings: tuple[str, ...]
    pause: int


@dataclass(frozen=True)
class Leave:
    """Leave the queue (the ``<Enqueue>`` action URL is asked next)."""


@dataclass(frozen=True)
class Nothing:
    """An empty answer (the call is gone, or has nothing to hear)."""


@dataclass(frozen=True)
class HangUp:
    pass


Reply = (
    Prompt | LanguageMenu | Enqueue | Dial | Goodbye | Hold | CheckAgain | Leave | Nothing | HangUp
)

# -- commands, and the events that answer them ------------------------------------------------


@dataclass(frozen=True)
class AskDialogue:
    """Send ``text`` to the dialogue; answered by :class:`Answered`. ``checked``: a turn it could
    not handle counts as a failed turn (the call's first turn is never checked)."""

    text: str
    before: tuple[str, ...] = ()  # said before its answer
    checked: bool = True


@dataclass(frozen=True)
class CaseFacts:
    """The conversation's latest case, as the machine needs it."""

    code: str
    on_hold: bool  # queued or assigned: the caller belongs in the queue


@dataclass(frozen=True)
class Answered:
    messages: tuple[dict[str, Any], ...]
    before: tuple[str, ...]
    checked: bool
    case: CaseFacts | None  # after the dialogue's turn


@dataclass(frozen=True)
class Reveal:
    """Take the password ``message`` refers to out of the vault; answered by :class:`Revealed`."""

    message: dict[str, Any]
    sayings: tuple[str, ...]  # what is said before it


@dataclass(frozen=True)
class Revealed:
    value: str | None  # None: no longer available (used, expired, another conversation's)
    valid_until: datetime | None
    text: str | None  # the message's own text
    sayings: tuple[str, ...]


@dataclass(frozen=True)
class RecordCaller:
    """Write the caller's number on the queued case (for the agent's verification card), then
    say ``then``; answered by :class:`CallerRecorded`."""

    then: Reply


@dataclass(frozen=True)
class CallerRecorded:
    then: Reply
    recorded: bool


# (Device ID entry's own: Lookup, CountReadBack, Forgive; bot.phone.device_id_entry.)
Command = AskDialogue | Reveal | RecordCaller | EntryCommand
Step = Reply | Command


# -- the events a request starts with ---------------------------------------------------------


@dataclass(frozen=True)
class Gathered:
    """A ``<Gather>``'s answer: what the caller said (never an intent) and pressed."""

    speech: str
    digits: str


@dataclass(frozen=True)
class BackFromQueue:
    """The ``<Enqueue>`` action URL: the caller left the queue (``hangup``: they hung up)."""

    queue_result: str
    case: CaseFacts | None


@dataclass(frozen=True)
class BackFromAgent:
    """Dial mode: the agent's leg ended."""

    case: CaseFacts | None


@dataclass(frozen=True)
class QueueFacts:
    """Where a caller on hold stands (the wait URL)."""

    case: CaseFacts | None
    closed_until: str | None = None  # support is closed: when it opens, spoken
    position: int = 0
    minutes: int = 0


Event = (
    Gathered | BackFromQueue | BackFromAgent | Answered | Revealed | CallerRecorded | EntryEvent
)
