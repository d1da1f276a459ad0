"""The reset procedure, loaded from ``data/content/reset_steps.yml`` and validated once.

The steps and the guide's fixed messages are content (see the YAML file's header for its fields);
this module turns them into immutable :class:`Step` and :class:`Procedure` objects, refusing a
malformed file with a :class:`~bot.content.ContentError` that names the file and line.

Moving through the steps is :func:`bot.guide.navigation.navigate`, re-exported here with
:class:`Navigation` and :class:`GuideTurn` so callers need a single import.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from bot.content import CONTENT_DIR, ContentError, ContentMapping, load_mapping
from bot.guide.navigation import GuideTurn, Navigation, navigate
from bot.guide.wording import Channel, Wording, voice_problems
from bot.localisation import ENGLISH, LANGUAGES, load_localised

__all__ = [
    "DEFAULT_PATH",
    "MESSAGE_PLACEHOLDERS",
    "ContentError",
    "GuideTurn",
    "Navigation",
    "Procedure",
    "Step",
    "load_procedure",
    "navigate",
]

DEFAULT_PATH = CONTENT_DIR / "reset_steps.yml"

# Every fixed message the guide needs, with the placeholders it may use and a sample value for
# each (used to check the template at load time).
MESSAGE_PLACEHOLDERS: Mapping[str, Mapping[str, object]] = MappingProxyType(
    {
        "step_header": {"number": 3, "total": 10, "title": "Log in"},
        "navigation_hint": {},
        "already_first_step": {},
        "completed": {},
        "no_more_tips": {},
        "missing_equipment": {},
        "temp_password_rejected": {},
        "password_rules": {},
        "password_warning": {},
        "waiting": {},
    }
)

MIN_TIPS = 2
MAX_TIPS = 4

_STEP_KEYS = ("id", "title", "text", "voice", "tips", "picture", "sensitive_input")
_TOP_KEYS = ("steps", "messages")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Step:
    number: int  # 1-based position in the procedure
    id: str
    title: str
    text: str  # chat wording
    voice: str  # phone wording
    tips: tuple[Wording, ...]
    picture: str | None
    sensitive_input: bool


@dataclass(frozen=True)
class Procedure:
    steps: tuple[Step, ...]
    messages: Mapping[str, Wording]

    @property
    def total(self) -> int:
        return len(self.steps)

    def step(self, number: int) -> Step:
        """The step at 1-based ``number``; a ValueError if there is no such step."""
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"step number must be an int, not {type(number).__name__}")
        if not 1 <= number <= self.total:
            raise ValueError(
                f"there is no step {number}: this procedure has steps 1 to {self.total}"
            )
        return self.steps[number - 1]

    def wording(self, key: str, **values: object) -> Wording:
        """Fixed message ``key`` in both variants, placeholders filled from ``values``."""
        try:
            template = self.messages[key]
        except KeyError:
            known = ", ".join(sorted(self.messages))
            raise KeyError(f"no message {key!r}; known messages: {known}") from None
        try:
            return template.format(**values)
        except KeyError as exc:
            raise ValueError(
                f"message {key!r} needs a value for {exc.args[0]!r}"
            ) from None

    def message(self, key: str, channel: Channel, **values: object) -> str:
        """Fixed message ``key`` for ``channel`` ("chat" or "voice")."""
        return self.wording(key, **values).for_channel(channel)

    def header(self, step: Step) -> Wording:
        """The step's header ("Step 3 of 10: Log in"), in both variants."""
        return self.wording(
            "step_header", number=step.number, total=self.total, title=step.title
        )


def load_procedure(path: str | Path | None = None, language: str = ENGLISH) -> Procedure:
    """The procedure in ``path`` (default: ``data/content/reset_steps.yml`` in ``language``,
    loaded once).

    Raises :class:`~bot.content.ContentError` (``file:line: problem``) if the file is malformed.
    """
    if path is None:
        return _load_default(language)
    return _parse(load_mapping(Path(path)))


@functools.lru_cache(maxsize=len(LANGUAGES))
def _load_default(language: str) -> Procedure:
    return _parse(load_localised(DEFAULT_PATH.name, language))


def _parse(root: ContentMapping) -> Procedure:
    _reject_unknown_keys(root, _TOP_KEYS, "the top level")
    steps = _parse_steps(root)
    messages = _parse_messages(root)
    return Procedure(steps=steps, messages=MappingProxyType(messages))


def _parse_steps(root: ContentMapping) -> tuple[Step, ...]:
    raw_steps = root.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise root.error("'steps' must be a non-empty list of steps")
    steps: list[Step] = []
    first_line: dict[str, int] = {}
    sensitive: list[tuple[Step, ContentMapping]] = []
    for number, raw in enumerate(raw_steps, start=1):
        if not isinstance(raw, ContentMapping):
            raise root.error(
                f"step {number} must be a mapping with {', '.join(_STEP_KEYS)}"
            )
        step = _parse_step(raw, number)
        if step.id in first_line:
            raise raw.error(
                f"duplicate step id '{step.id}' (first used on line {first_line[step.id]})"
            )
        first_line[step.id] = raw.line
        if step.sensitive_input:
            sensitive.append((step, raw))
        steps.append(step)
    if not sensitive:
        raise root.error(
            "no step has 'sensitive_input: true'; exactly one must "
            "(the step where the owner types the new password)"
        )
    if len(sensitive) > 1:
        ids = ", ".join(f"'{step.id}'" for step, _ in sensitive)
        raise sensitive[1][1].error(
            f"only one step may have 'sensitive_input: true', but {ids} do"
        )
    return tuple(steps)


def _parse_step(raw: ContentMapping, number: int) -> Step:
    where = f"step {number}"
    _reject_unknown_keys(raw, _STEP_KEYS, where)
    step_id = _string(raw, "id", where)
    if not _SLUG.match(step_id):
        raise raw.error(f"{where}: id '{step_id}' must be a slug like 'open-main-menu'")
    where = f"step '{step_id}'"
    title = _string(raw, "title", where)
    text = _string(raw, "text", where)
    voice = _string(raw, "voice", where)
    _check_voice(raw, where, "title", title)
    _check_voice(raw, where, "voice", voice)
    if "picture" not in raw:
        raise raw.error(
            f"{where} has no 'picture' (write 'picture: null' if it has none)"
        )
    picture = raw["picture"]
    if picture is not None and not (isinstance(picture, str) and _SLUG.match(picture)):
        raise raw.error(f"{where}: 'picture' must be a name like 'main-menu', or null")
    if "sensitive_input" not in raw:
        raise raw.error(f"{where} has no 'sensitive_input' (true or false)")
    sensitive_input = raw["sensitive_input"]
    if not isinstance(sensitive_input, bool):
        raise raw.error(f"{where}: 'sensitive_input' must be true or false")
    return Step(
        number=number,
        id=step_id,
        title=title,
        text=text,
        voice=voice,
        tips=_parse_tips(raw, where),
        picture=picture,
        sensitive_input=sensitive_input,
    )


def _parse_tips(raw: ContentMapping, where: str) -> tuple[Wording, ...]:
    tips = raw.get("tips")
    if not isinstance(tips, list) or not MIN_TIPS <= len(tips) <= MAX_TIPS:
        raise raw.error(f"{where} must have a list of {MIN_TIPS} to {MAX_TIPS} 'tips'")
    parsed = []
    for index, tip in enumerate(tips, start=1):
        if not isinstance(tip, ContentMapping):
            raise raw.error(
                f"{where}: tip {index} must be a mapping with 'text' and 'voice'"
            )
        parsed.append(_parse_wording(tip, f"{where}, tip {index}"))
    return tuple(parsed)


def _parse_messages(root: ContentMapping) -> dict[str, Wording]:
    raw_messages = root.get("messages")
    if not isinstance(raw_messages, ContentMapping):
        raise root.error(
            "'messages' must be a mapping of message name to 'text' and 'voice'"
        )
    missing = [key for key in MESSAGE_PLACEHOLDERS if key not in raw_messages]
    if missing:
        raise raw_messages.error(f"missing message(s): {', '.join(missing)}")
    messages = {}
    for key, raw in raw_messages.items():
        where = f"message '{key}'"
        if not isinstance(raw, ContentMapping):
            raise raw_messages.error(
                f"{where} must be a mapping with 'text' and 'voice'"
            )
        wording = _parse_wording(raw, where)
        samples = MESSAGE_PLACEHOLDERS.get(key, {})
        _check_template(raw, f"{where} 'text'", wording.text, samples)
        _check_template(raw, f"{where} 'voice'", wording.voice, samples)
        messages[str(key)] = wording
    return messages


def _parse_wording(raw: ContentMapping, where: str) -> Wording:
    _reject_unknown_keys(raw, ("text", "voice"), where)
    text = _string(raw, "text", where)
    voice = _string(raw, "voice", where)
    _check_voice(raw, where, "voice", voice)
    return Wording(text=text, voice=voice)


def _check_template(
    raw: ContentMapping, where: str, template: str, samples: Mapping[str, object]
) -> None:
    allowed = ", ".join("{" + name + "}" for name in samples) or "none"
    try:
        fields = [
            name
            for _, name, _, _ in string.Formatter().parse(template)
            if name is not None
        ]
    except ValueError as exc:
        raise raw.error(
            f"{where}: {exc} (write a literal brace as {{{{ or }}}})"
        ) from None
    for name in fields:
        if name not in samples:
            raise raw.error(
                f"{where}: unknown placeholder {{{name}}}; allowed: {allowed}"
            )
    try:
        template.format(**samples)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise raw.error(f"{where}: template does not format: {exc}") from None


def _string(raw: ContentMapping, key: str, where: str) -> str:
    if key not in raw:
        raise raw.error(f"{where} has no '{key}'")
    value = raw[key]
    if not isinstance(value, str):
        raise raw.error(f"{where}: '{key}' must be text, not {type(value).__name__}")
    if not value.strip():
        raise raw.error(f"{where}: '{key}' is empty")
    return value.strip()


def _check_voice(raw: ContentMapping, where: str, key: str, wording: str) -> None:
    problems = voice_problems(wording)
    if problems:
        raise raw.error(f"{where}: '{key}' is read aloud but has {'; '.join(problems)}")


def _reject_unknown_keys(
    raw: ContentMapping, known: tuple[str, ...], where: str
) -> None:
    unknown = [str(key) for key in raw if key not in known]
    if unknown:
        raise raw.error(
            f"{where} has unknown key(s) {', '.join(unknown)}; expected {', '.join(known)}"
        )
