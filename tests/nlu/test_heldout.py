"""The trained model on the held-out sets (tests/nlu/heldout.yml, and heldout_es.yml and
heldout_fr.yml for Spanish and French, written before any Spanish or French training data):
owners' own wording, never trained on. Per-intent F1 and macro-F1 per language, and the
confusions issue 14 names, each checked by itself.

Run with ``pytest -s`` to see the table; it is also written to the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "lorex.tar.gz"
HELDOUT = {
    "en": Path(__file__).resolve().parent / "heldout.yml",
    "es": Path(__file__).resolve().parent / "heldout_es.yml",
    "fr": Path(__file__).resolve().parent / "heldout_fr.yml",
}
# English's floor is its target, 0.85 (issue 14). Spanish's and French's target is the same; the
# model is deterministic, and on 2026-12-04 (one model for every language, config.yml) it
# measured en 0.9866, es 0.9722, fr 0.9382, so their floors sit a little below what was measured
# (about two or three of 193 messages), not at the target far below it.
MACRO_F1_FLOORS = {"en": 0.85, "es": 0.95, "fr": 0.92}

# A Device ID given with the reason for coming: the controller acts on the entity, so taking the
# message for either intent is right (and it must never be share_password).
ALSO_RIGHT = {
    "request_password_reset": {"provide_device_id"},
}

# Messages once taken for another intent (issue 14): text, the intents that are right.
CONFUSIONS = [
    ("I need a temporary password", {"request_password_reset"}),
    ("go to step 8", {"go_to_step"}),
    ("go back two steps", {"go_back"}),
    ("a person please", {"request_human"}),
    ("is this a real Lorex support chat?", {"ask_legit"}),
    ("how long is this going to take", {"ask_status"}),
    ("what was the password again?", {"ask_password_again"}),
    (
        "i forgot my password, the device id is ND4810273945KXQ",
        {"request_password_reset", "provide_device_id"},
    ),
    ("my old password was 1234", {"share_password"}),
]


def heldout_examples(language: str = "en") -> list[tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(HELDOUT[language]))
    return [(message.get("text"), message.get("intent")) for message in data.intent_examples]


@pytest.fixture(scope="module")
def agent() -> Iterator[Any]:
    if not MODEL.is_file():
        pytest.fail(f"{MODEL.relative_to(REPO)} is missing: run `make train` (make test does)")
    from rasa.core.agent import Agent

    yield Agent.load(str(MODEL))


def parse(agent: Any, text: str) -> dict[str, Any]:
    result: dict[str, Any] = asyncio.run(agent.parse_message(text))
    return result


def predicted_intent(agent: Any, text: str) -> str:
    return str(parse(agent, text)["intent"]["name"])


Row = tuple[float, float, float, int]  # precision, recall, F1, support


def f1_table(pairs: list[tuple[str, str]]) -> tuple[dict[str, Row], float]:
    """Per gold intent: precision, recall, F1 and support; and their macro-F1 (predictions
    outside the gold intents, such as nlu_fallback, count only as misses)."""
    support = Counter(gold for gold, _ in pairs)
    predicted = Counter(guess for _, guess in pairs)
    correct = Counter(gold for gold, guess in pairs if gold == guess)
    table = {}
    for intent in sorted(support):
        precision = correct[intent] / predicted[intent] if predicted[intent] else 0.0
        recall = correct[intent] / support[intent]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[intent] = (precision, recall, f1, support[intent])
    macro_f1 = sum(row[2] for row in table.values()) / len(table)
    return table, macro_f1


@pytest.mark.parametrize("language", HELDOUT)
def test_the_heldout_set_covers_every_intent_an_owner_can_say(language: str) -> None:
    import yaml

    intents: set[str] = set()
    for path in (REPO / "domain").glob("*.yml"):
        intents.update(yaml.safe_load(path.read_text()).get("intents") or [])
    typed = {intent for intent in intents if not intent.startswith("EXTERNAL_")}
    examples = heldout_examples(language)
    assert typed - {intent for _, intent in examples} == set()
    assert len(examples) >= 150


@pytest.mark.parametrize("language", HELDOUT)
def test_the_heldout_set_is_not_in_the_training_data(language: str) -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    def words(text: str) -> str:
        # Without accents too: "numero" in training would be "número" held out.
        plain = unicodedata.normalize("NFKD", text.lower())
        return " ".join("".join(c for c in plain if c.isalnum() or c.isspace()).split())

    # Every language's training data (data/nlu and its subfolders), not only the held-out
    # set's own language: a message may be written the same in two languages ("ok", "stop").
    trained = {words(m.get("text")) for m in load_data(str(REPO / "data" / "nlu")).intent_examples}
    assert [text for text, _ in heldout_examples(language) if words(text) in trained] == []


@pytest.mark.parametrize("language", HELDOUT)
def test_macro_f1_on_the_heldout_set(agent: Any, tmp_path: Path, language: str) -> None:
    pairs = []
    misses = []
    for text, gold in heldout_examples(language):
        guess = predicted_intent(agent, text)
        if guess in ALSO_RIGHT.get(gold, set()):
            guess = gold
        pairs.append((gold, guess))
        if guess != gold:
            misses.append(f"  {gold:<26} -> {guess:<26} {text}")
    table, macro_f1 = f1_table(pairs)
    lines = [f"{'intent':<26} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>3}"]
    lines += [
        f"{intent:<26} {p:>9.2f} {r:>7.2f} {f:>6.2f} {n:>3}"
        for intent, (p, r, f, n) in table.items()
    ]
    lines.append(
        f"{language}: macro-F1 {macro_f1:.4f} over {len(table)} intents, {len(pairs)} utterances"
    )
    lines.append(f"misses ({len(misses)}):")
    lines += misses
    report = "\n".join(lines)
    (tmp_path / f"heldout_intent_report_{language}.txt").write_text(report + "\n")
    print(f"\n{report}\n(written to {tmp_path / f'heldout_intent_report_{language}.txt'})")
    assert macro_f1 >= MACRO_F1_FLOORS[language]


@pytest.mark.parametrize(
    ("text", "right"), CONFUSIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_once_confused_message_is_understood(agent: Any, text: str, right: set[str]) -> None:
    assert predicted_intent(agent, text) in right


def test_a_device_id_after_a_forgotten_password_is_the_device_id(agent: Any) -> None:
    result = parse(agent, "i forgot my password, the device id is ND4810273945KXQ")
    assert [e["value"] for e in result["entities"] if e["entity"] == "device_id"] == [
        "ND4810273945KXQ"
    ]
