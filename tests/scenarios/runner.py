"""Plays a scenario (tests/scenarios/scenario.py) against the running product and checks each
reply against its expectations; a failure carries the whole transcript so far."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.cases.views import CaseView
from bot.phone.content import load_phone_languages
from tests.scenarios.channels import Conversation, Product, Reply, conversation_on
from tests.scenarios.scenario import PAYLOAD_FIELDS, Scenario

# --- playing a scenario -------------------------------------------------------------------------


@functools.cache
def _spelt_characters() -> tuple[re.Pattern[str], ...]:
    """How the phone says one character of a password, in every language ("capital T, as in
    Tango", "T mayúscula, de Tomás"): those lines may repeat (a password's characters may)."""
    patterns = []
    for content in load_phone_languages().values():
        words = content.password
        for template in (words.letter, words.lower_letter, words.digit, words.symbol):
            parts = re.split(r"\{[a-z_]+\}", template)
            patterns.append(re.compile(".+?".join(re.escape(part) for part in parts), re.I))
    return tuple(patterns)


def _spelt(text: str) -> bool:
    return any(pattern.fullmatch(text.strip()) for pattern in _spelt_characters())


@dataclass
class Transcript:
    scenario: Scenario
    lines: list[str] = field(default_factory=list)

    def render(self) -> str:
        header = (
            f"{self.scenario.id} [{self.scenario.channel}, state {self.scenario.state}, "
            f"pattern {self.scenario.pattern}]"
        )
        if self.scenario.language:
            header = header[:-1] + f", client language {self.scenario.language}]"
        return "\n".join([header, *self.lines])


class ScenarioFailed(AssertionError):
    pass


def play(
    scenario: Scenario, product: Product, transcript: Transcript, *, keep_going: bool = False
) -> None:
    """Play ``scenario``; raises :class:`ScenarioFailed` with the transcript so far.

    ``keep_going``: play every turn even after a failed one (for a whole transcript), and raise
    at the end.
    """
    failures: list[str] = []
    conversation = _new_conversation(scenario, product)
    first_case: dict[str, str] = {}  # the first conversation's case code, for {case}
    seen_case: list[str] = []  # the conversation's first case code, for same_case
    previous: Reply | None = None
    pending_ring = scenario.channel == "phone"
    for number, turn in enumerate(scenario.turns, 1):
        if turn.new_conversation:
            case = product.latest_case(conversation.conversation_id)
            if case is not None:
                first_case.setdefault("case", case.code)
            conversation = _new_conversation(scenario, product)
            seen_case.clear()
            previous = None
            pending_ring = scenario.channel == "phone"
            transcript.lines.append("--- a new conversation (the same owner, later) ---")
            if not turn.expect:
                continue
        try:
            if pending_ring:
                pending_ring = False
                transcript.lines.append("caller: [rings]")
                reply = conversation.start()
                answer = conversation.menu_answer(reply)
                if answer is not None:  # the language menu, answered before anything else
                    transcript.lines.extend(reply.render())
                    transcript.lines.append(f"caller: {answer or '[silence]'} [the language menu]")
                    reply = conversation.user(answer)
                if turn.ring or turn.new_conversation:
                    transcript.lines.extend(reply.render())
                    previous = reply
                    try:
                        _check(
                            turn.expect,
                            reply,
                            None,
                            conversation,
                            product,
                            seen_case,
                            transcript,
                            number,
                        )
                    except ScenarioFailed as exc:
                        if not keep_going:
                            raise
                        failures.append(str(exc).split("\n", 1)[0])
                    continue
                transcript.lines.extend(reply.render())
                previous = reply
            if turn.user is not None:
                text = turn.user.replace("{case}", first_case.get("case", "{case}"))
                who = "caller" if scenario.channel == "phone" else "owner"
                transcript.lines.append(f"{who}: {text if text else '[silence]'}")
                reply = conversation.user(text)
            elif turn.agent is not None:
                transcript.lines.append(f"AGENT (console): {turn.agent}")
                done, reply = conversation.agent(turn.agent)
                transcript.lines.append(f"  console: {done}")
            else:
                continue
        except AssertionError as exc:
            transcript.lines.append(f"  !! {exc}")
            if not keep_going:
                raise ScenarioFailed(f"turn {number}: {exc}\n\n{transcript.render()}") from None
            failures.append(f"turn {number}: {exc}")
            continue
        transcript.lines.extend(reply.render())
        try:
            _check(
                turn.expect, reply, previous, conversation, product, seen_case, transcript, number
            )
        except ScenarioFailed as exc:
            if not keep_going:
                raise
            failures.append(str(exc).split("\n", 1)[0])
        previous = reply
    if failures:
        raise ScenarioFailed("\n".join(failures) + "\n\n" + transcript.render())


def _new_conversation(scenario: Scenario, product: Product) -> Conversation:
    return conversation_on(product, scenario.channel, scenario.language, scenario.menu)


def _check(
    expect: dict[str, Any],
    reply: Reply,
    previous: Reply | None,
    conversation: Conversation,
    product: Product,
    seen_case: list[str],
    transcript: Transcript,
    number: int,
) -> None:
    case = product.latest_case(conversation.conversation_id)
    if case is not None and not seen_case:
        seen_case.append(case.code)
    problems = problems_with(expect, reply, previous, case, seen_case)
    if problems:
        transcript.lines.append("  !! " + "; ".join(problems))
        raise ScenarioFailed(
            f"turn {number}: " + "; ".join(problems) + "\n\n" + transcript.render()
        )


def problems_with(
    expect: dict[str, Any],
    reply: Reply,
    previous: Reply | None,
    case: CaseView | None,
    seen_case: list[str],
) -> list[str]:
    problems: list[str] = []
    turn = reply.turn
    for key in PAYLOAD_FIELDS:
        if key not in expect:
            continue
        if turn is None:
            problems.append(f"no turn payload (expected {key}={expect[key]!r})")
        elif turn.get(key) not in (expect[key] if isinstance(expect[key], list) else [expect[key]]):
            problems.append(f"{key} is {turn.get(key)!r}, expected {expect[key]!r}")
    if "case" in expect:
        value = None if turn is None else turn.get("case")
        wanted = expect["case"]
        if isinstance(wanted, bool):
            if bool(value) != wanted:
                problems.append(
                    f"turn payload case is {value!r}, expected {'a code' if wanted else 'none'}"
                )
        elif value != wanted:
            problems.append(f"turn payload case is {value!r}, expected {wanted!r}")
    types = [p.get("type") for p in reply.payloads]
    for wanted in _listed(expect.get("payload")):
        if wanted not in types:
            problems.append(f"no {wanted} payload (got {types})")
    for unwanted in _listed(expect.get("no_payload")):
        if unwanted in types:
            problems.append(f"an unwanted {unwanted} payload")
    said = "\n".join(reply.texts).lower()
    any_of = _listed(expect.get("contains_any"))
    if any_of and not any(word.lower() in said for word in any_of):
        problems.append(f"says none of {any_of}")
    for word in _listed(expect.get("contains_all")):
        if word.lower() not in said:
            problems.append(f"does not say {word!r}")
    for word in _listed(expect.get("not_contains")):
        if word.lower() in said:
            problems.append(f"says {word!r}")
    if expect.get("says_something") and not reply.texts:
        problems.append("says nothing")
    if expect.get("no_repeated_sentence"):
        sentences = [
            s.strip().lower()
            for text in reply.texts
            if not _spelt(text)  # a password's characters may repeat
            for s in re.split(r"(?<=[.!?])\s+", text)
            if len(s.strip()) > 12
        ]
        twice = sorted({s for s in sentences if sentences.count(s) > 1})
        if twice:
            problems.append(f"says twice: {twice}")
    if expect.get("not_same_as_before") and previous is not None and reply.texts == previous.texts:
        problems.append("repeats its previous reply word for word")
    if "case_status" in expect:
        status = None if case is None else case.status.value
        if str(status) not in _listed(expect["case_status"]):  # null: no case
            problems.append(f"the case is {status!r}, expected {expect['case_status']!r}")
    if "case_opened" in expect and (case is not None) != bool(expect["case_opened"]):
        problems.append(f"a case was opened ({case.code})" if case else "no case was opened")
    if expect.get("same_case") and case is not None and seen_case and case.code != seen_case[0]:
        problems.append(f"a new case {case.code} replaced {seen_case[0]}")
    return problems


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


# --- the report ---------------------------------------------------------------------------------


def report(results: dict[str, tuple[Scenario, bool]]) -> str:
    """Pass counts by state, by pattern and by channel, then the failing scenarios."""
    lines = ["# Conversation scenarios", ""]
    total = len(results)
    passed = sum(ok for _, ok in results.values())
    lines.append(f"**{passed} of {total} passed.**")
    groupings: list[tuple[str, Callable[[Scenario], str]]] = [
        ("state", lambda s: s.state),
        ("pattern", lambda s: s.pattern),
        ("channel", lambda s: s.channel),
    ]
    for title, key in groupings:
        counts: dict[str, list[int]] = {}
        for scenario, ok in results.values():
            row = counts.setdefault(key(scenario), [0, 0])
            row[0] += ok
            row[1] += 1
        lines += ["", f"| {title} | passed | of |", "| --- | --- | --- |"]
        lines += [f"| {name} | {row[0]} | {row[1]} |" for name, row in sorted(counts.items())]
    failing = [s.id for s, ok in results.values() if not ok]
    if failing:
        lines += ["", "Failing:", *(f"- {name}" for name in failing)]
    return "\n".join(lines) + "\n"
