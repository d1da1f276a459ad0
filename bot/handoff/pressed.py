"""What a user sent with a button or a phone key, said for the agent console's transcript.

A client sends intents, never sentences (the channel contract): Rasa's ``/intent`` or
``/intent{"device_id": "..."}`` text. The agent reads it by meaning, "(pressed: Done)" or
"(Device ID from the photo: ND48 1027 3945 KXQ)", worded in ``data/content/pressed.yml``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.channels.chat_input import INTENT_MESSAGE
from bot.content import REPO_ROOT, ContentMapping, load_mapping
from bot.devices.formats import load_formats
from bot.privacy.password_shape import MASK, looks_like_password

PRESSED_PATH = REPO_ROOT / "data" / "content" / "pressed.yml"


@dataclass(frozen=True)
class PressedWording:
    pressed: str
    titles: dict[str, str]
    device_id: dict[str, str]

    def describe(self, text: str, channel: str | None) -> str | None:
        """``text`` (a user message starting with "/") by its meaning; None when it is not a
        client's intent message. A password-shaped value is never repeated."""
        match = INTENT_MESSAGE.fullmatch(text.strip())
        if match is None:
            return None
        intent = match.group("intent")
        try:
            entities = json.loads(match.group("entities") or "{}")
        except ValueError:
            return None
        if not isinstance(entities, dict):
            return None
        device_id = entities.get("device_id")
        if isinstance(device_id, str) and device_id:
            if looks_like_password(device_id, [(0, len(device_id))]):
                return MASK
            wording = self.device_id.get(channel or "", self.device_id["other"])
            return wording.format(device_id=load_formats().group(device_id.upper()))
        if any(
            isinstance(value, str) and looks_like_password(value) for value in entities.values()
        ):
            return MASK
        return self.pressed.format(title=self.titles.get(intent, intent))


def _strings(mapping: ContentMapping, key: str) -> dict[str, str]:
    section = mapping.require(key, ContentMapping)
    for name, value in section.items():
        if not isinstance(value, str):
            raise section.error(f"'{key}.{name}' must be text")
    return {str(name): value for name, value in section.items()}


@cache
def load_pressed(path: str | Path = PRESSED_PATH) -> PressedWording:
    mapping = load_mapping(path)
    device_id = _strings(mapping, "device_id")
    if "other" not in device_id:
        raise mapping.error("'device_id' needs an 'other' wording")
    return PressedWording(
        pressed=mapping.require("pressed", str),
        titles=_strings(mapping, "titles"),
        device_id=device_id,
    )
