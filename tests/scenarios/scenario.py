"""The YAML conversation scenarios in this folder: their format, checked as they load.

The runner (runner.py) plays them against a running product; tests/test_scenarios.py runs them.

A scenario file is a list of scenarios; each is what an owner types (chat) or says and keys
(phone), what a support agent does in the console in between, and what a good reply must carry:

    - name: asks for the password again in the middle of step 4
      channel: chat           # chat: the REST channel; phone: signed Twilio webhooks
      state: steps            # the state the interesting turn happens in (design section 1)
      pattern: repeat         # the repair pattern it exercises, or happy_path
      turns:
        - user: "hi, locked out of my nvr, forgot the pw"
          expect: {expects: device_id}
        - agent: release      # claim (if needed) + release; also: claim, reject <reason>,
                              # take_over, say "<text>", hand_back
        - user: "ok whats the password again??"
          expect:
            payload: temporary_password_again
            expects: step
            contains_any: ["password"]
            not_contains: ["Step 2"]
        - new_conversation: true   # the same owner comes back later (a new chat or call)
        - user: "hi, my case is {case}"   # {case}: the case code of the first conversation

On the phone a user line is speech; ``press 12#`` presses keys; ``""`` is silence. The call
rings before the first turn; a first turn ``ring: true`` checks the greeting.

Scenarios may be in subfolders (``es/``, ``fr/``: the owner's language); the test id is the
file's path in this folder and the name (``es/steps.yml:...``). A scenario's ``language`` (en,
es, fr, or a tag such as fr-CA; default none) is the client's: on chat the page's language, sent
as every REST message's metadata ``{"language": ...}``; on the phone the language chosen at the
call's language menu (its key is pressed; ``menu: "<user line>"`` answers the menu otherwise,
e.g. ``"espanol"``). A call without either chooses English at the menu, as the English
scenarios always have.

What ``expect`` can check, contract first (the turn payload's fields; a list means any of
them), wording loosely:
``expects``, ``state``, ``step``, ``total``, ``sensitive_input``, ``language`` (the
conversation's: en, es, fr), ``case`` (true/false: a case code is in the payload),
``payload`` / ``no_payload`` (custom payload types present / absent in the reply),
``contains_any`` / ``contains_all`` / ``not_contains`` (case-insensitive, on the texts),
``says_something`` (true: at least one text), ``not_same_as_before`` (true: the texts differ from
the assistant's previous reply), ``case_status`` (the conversation's latest case, e.g. queued),
``case_opened`` (false: the conversation has no case), ``same_case`` (true: the latest case is the
one the conversation had first), ``no_repeated_sentence`` (true: no sentence said twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FOLDER = Path(__file__).resolve().parent

CHANNELS = ("chat", "phone")
STATES = (
    "greeting",
    "device_id",
    "owner_name",
    "owner_email",
    "owner_phone",
    "offer_agent",
    "queued",
    "taken_over",
    "steps",
    "finished",
    "rejected",
    "other_route",
    "case_proof",
    "closed",
)
PATTERNS = (
    "happy_path",
    "correction",
    "digression",
    "interruption",
    "clarification",
    "cancel",
    "human_handoff",
    "chitchat",
    "cannot_handle",
    "repeat",
)
PAYLOAD_FIELDS = ("expects", "state", "step", "total", "sensitive_input", "language")
LANGUAGES = ("en", "es", "fr")
EXPECT_KEYS = frozenset(
    {
        *PAYLOAD_FIELDS,
        "case",
        "payload",
        "no_payload",
        "contains_any",
        "contains_all",
        "not_contains",
        "says_something",
        "not_same_as_before",
        "case_status",
        "case_opened",
        "same_case",
        "no_repeated_sentence",
    }
)
AGENT_ACTIONS = ("claim", "release", "reject", "take_over", "say", "hand_back")


class ScenarioFileError(ValueError):
    pass


@dataclass(frozen=True)
class Turn:
    user: str | None = None  # what the owner types or says
    agent: str | None = None  # a console action
    new_conversation: bool = False
    ring: bool = False
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    file: str
    name: str
    channel: str
    state: str
    pattern: str
    turns: tuple[Turn, ...]
    # A failure that is known and not fixed yet, and why: the scenario is expected to fail
    # (strictly: once it passes, the test fails until this line goes).
    known_gap: str | None = None
    language: str | None = None  # the client's (chat: the page's; phone: chosen at the menu)
    menu: str | None = None  # phone: what the caller answers the language menu, if not its key

    @property
    def id(self) -> str:
        return f"{self.file}:{self.name}"


def load_scenarios(folder: Path = FOLDER) -> list[Scenario]:
    scenarios: list[Scenario] = []
    for path in sorted(folder.rglob("*.yml")):
        name = path.relative_to(folder).as_posix()
        entries = yaml.safe_load(path.read_text()) or []
        if not isinstance(entries, list):
            raise ScenarioFileError(f"{name}: a list of scenarios is expected")
        for number, entry in enumerate(entries, 1):
            scenarios.append(_scenario(name, number, entry))
    ids = [s.id for s in scenarios]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ScenarioFileError(f"scenario names used twice: {duplicates}")
    return scenarios


def _scenario(file: str, number: int, entry: Any) -> Scenario:
    where = f"{file}, scenario {number}"
    if not isinstance(entry, dict):
        raise ScenarioFileError(f"{where}: a mapping is expected")
    where = f"{file}, scenario {number} ({entry.get('name')!r})"
    keys = {"name", "channel", "state", "pattern", "turns", "known_gap", "language", "menu"}
    unknown = set(entry) - keys
    if unknown:
        raise ScenarioFileError(f"{where}: unknown keys {sorted(unknown)}")
    language = entry.get("language")
    if (
        language is not None
        and str(language).replace("_", "-").split("-")[0].lower() not in LANGUAGES
    ):
        raise ScenarioFileError(f"{where}: language must be one of {LANGUAGES} (or a tag: fr-CA)")
    menu = entry.get("menu")
    if menu is not None and entry.get("channel") != "phone":
        raise ScenarioFileError(f"{where}: menu (the language menu's answer) is the phone's")
    for key, allowed in (("channel", CHANNELS), ("state", STATES), ("pattern", PATTERNS)):
        if entry.get(key) not in allowed:
            raise ScenarioFileError(f"{where}: {key} must be one of {allowed}")
    turns = []
    for index, raw in enumerate(entry.get("turns") or [], 1):
        if not isinstance(raw, dict):
            raise ScenarioFileError(f"{where}, turn {index}: a mapping is expected")
        unknown = set(raw) - {"user", "agent", "new_conversation", "ring", "expect"}
        if unknown:
            raise ScenarioFileError(f"{where}, turn {index}: unknown keys {sorted(unknown)}")
        expect = raw.get("expect") or {}
        bad = set(expect) - EXPECT_KEYS
        if bad:
            raise ScenarioFileError(f"{where}, turn {index}: unknown expectations {sorted(bad)}")
        agent = raw.get("agent")
        if agent is not None and str(agent).split(" ", 1)[0] not in AGENT_ACTIONS:
            raise ScenarioFileError(f"{where}, turn {index}: agent actions are {AGENT_ACTIONS}")
        user = raw.get("user")
        turns.append(
            Turn(
                user=None if user is None else str(user),
                agent=None if agent is None else str(agent),
                new_conversation=bool(raw.get("new_conversation")),
                ring=bool(raw.get("ring")),
                expect=expect,
            )
        )
    if not turns:
        raise ScenarioFileError(f"{where}: no turns")
    gap = entry.get("known_gap")
    return Scenario(
        file,
        str(entry["name"]),
        entry["channel"],
        entry["state"],
        entry["pattern"],
        tuple(turns),
        None if gap is None else str(gap),
        language,
        None if menu is None else str(menu),
    )
