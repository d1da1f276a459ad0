"""Wording written twice: for the web chat (``text``) and for the phone (``voice``).

Voice wording is read out by a speech synthesiser, so it must not contain markdown, web addresses
or "click" (a caller standing at the recorder selects or chooses). :func:`voice_problems` is the
check the content loader applies to every piece of voice wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Channel = Literal["chat", "voice"]
CHANNELS: tuple[Channel, ...] = ("chat", "voice")

_MARKUP = re.compile(r"[*_#\[\]<>`|]")
_CLICK = re.compile(r"\bclick", re.IGNORECASE)
_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|ca|net|org)\b", re.IGNORECASE)


def check_channel(channel: str) -> Channel:
    """``channel`` itself, if it is one of :data:`CHANNELS`; a ValueError otherwise."""
    if channel == "chat":
        return "chat"
    if channel == "voice":
        return "voice"
    raise ValueError(
        f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}"
    )


@dataclass(frozen=True)
class Wording:
    """One thing to say, as chat text (may use **bold**) and as voice wording."""

    text: str
    voice: str

    def for_channel(self, channel: Channel) -> str:
        return self.voice if check_channel(channel) == "voice" else self.text

    def format(self, **values: object) -> Wording:
        """Both variants with ``{placeholders}`` filled in (``str.format`` rules)."""
        return Wording(self.text.format(**values), self.voice.format(**values))


def voice_problems(voice: str) -> list[str]:
    """Why ``voice`` would sound wrong on the phone; empty when it is fine."""
    problems = []
    markup = sorted(set(_MARKUP.findall(voice)))
    if markup:
        problems.append(
            f"markup characters {' '.join(markup)} (voice wording is read aloud)"
        )
    if _CLICK.search(voice):
        problems.append("'click' (say 'select' or 'choose' on the phone)")
    url = _URL.search(voice)
    if url:
        problems.append(f"a web address ({url.group(0)!r})")
    return problems
