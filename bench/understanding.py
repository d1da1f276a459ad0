"""How well the assistant understands: NLU cross-validation and Device ID extraction.

* Cross-validation: ``rasa test nlu --cross-validation`` on ``data/nlu`` with the real
  ``config.yml`` and seeded folds (``bench/cross_validation.py``); intent accuracy and macro-F1
  from ``intent_report.json``, the most frequent confusions from its ``confused_with`` counts,
  and entity figures from each entity extractor's ``<extractor>_report.json`` where the
  training data annotates entities.
* Device ID extraction: every registered ID in ``data/devices.csv`` typed the ways owners type
  them (case, grouping with spaces / dashes / dots / en dashes, surrounding phrases, O/0 I/1 S/5
  B/8 look-alikes where the pattern decides, and all of these at once), run through the same
  extractor the NLU component uses; exact match means the normalised value is the registered ID.
* Spoken Device IDs: the phone issue's table of transcripts (``bench/spoken_table.py``, the
  rows ``tests/test_phone_spoken.py`` asserts) through the phone channel's own reading: ``hear``
  then ``resolve`` against the real registry (SQLite seeded from ``data/devices.csv``). Reported
  separately from the typed variants.
"""

from __future__ import annotations

import csv
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.paths import REPO, rasa_env
from bench.servers import run_timed

# ---------------------------------------------------------------------------------------------
# Cross-validation


@dataclass
class CrossValidation:
    folds: int
    seed: int
    seconds: float
    examples: int
    intent_accuracy: float
    intent_macro_f1: float
    intent_weighted_f1: float
    per_intent: dict[str, dict[str, float]]
    confusions: list[tuple[str, str, int]]
    entities: dict[str, dict[str, float]] = field(default_factory=dict)
    annotated_entities: int = 0


def cross_validate(folder: Path, config: Path, folds: int, seed: int) -> CrossValidation:
    out = folder / "cross-validation"
    seconds = run_timed(
        [
            sys.executable,
            "-m",
            "bench.cross_validation",
            str(seed),
            "test",
            "nlu",
            "--nlu",
            "data/nlu",
            "--config",
            str(config),
            "--cross-validation",
            "--folds",
            str(folds),
            "--out",
            str(out),
        ],
        log_path=folder / "cross-validation.log",
        # No training cache: seeded folds are the same on every run, and a model trained for
        # them by an earlier run would be reused instead of trained (Rasa caches by content).
        env=rasa_env(RASA_MAX_CACHE_SIZE="0"),
    )
    report: dict[str, Any] = json.loads((out / "intent_report.json").read_text())
    per_intent = {
        name: {
            k: float(v)
            for k, v in values.items()
            if k in ("precision", "recall", "f1-score", "support")
        }
        for name, values in report.items()
        if isinstance(values, dict) and name not in ("macro avg", "weighted avg", "micro avg")
    }
    confusions = sorted(
        (
            (actual, predicted, int(count))
            for actual, values in report.items()
            if isinstance(values, dict)
            for predicted, count in (values.get("confused_with") or {}).items()
        ),
        key=lambda row: (-row[2], row[0], row[1]),
    )
    return CrossValidation(
        folds=folds,
        seed=seed,
        seconds=seconds,
        examples=int(report["macro avg"]["support"]),
        intent_accuracy=float(report["accuracy"]),
        intent_macro_f1=float(report["macro avg"]["f1-score"]),
        intent_weighted_f1=float(report["weighted avg"]["f1-score"]),
        per_intent=per_intent,
        confusions=confusions,
        entities=_entity_reports(out),
        annotated_entities=_annotated_entities(),
    )


def _entity_reports(out: Path) -> dict[str, dict[str, float]]:
    """Extractor → micro-averaged precision / recall / F1 over the entity types it found."""
    found = {}
    for path in sorted(out.glob("*_report.json")):
        extractor = path.name.removesuffix("_report.json")
        if extractor in ("intent", "response_selection"):
            continue
        report = json.loads(path.read_text())
        average = report.get("micro avg") or report.get("weighted avg")
        if isinstance(average, dict):
            found[extractor] = {
                k: float(v)
                for k, v in average.items()
                if k in ("precision", "recall", "f1-score", "support")
            }
    return found


def _annotated_entities() -> int:
    """How many entity annotations the NLU training data has (0: no entity F1 to compute)."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(REPO / "data" / "nlu"))
    return sum(len(example.get("entities") or []) for example in data.training_examples)


# ---------------------------------------------------------------------------------------------
# Device ID extraction


@dataclass(frozen=True)
class Case:
    text: str
    expected: str


@dataclass
class ExtractionScore:
    category: str
    total: int = 0
    exact: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # text, expected, got

    @property
    def rate(self) -> float:
        return self.exact / self.total if self.total else 0.0


@dataclass
class ExtractionResult:
    categories: list[ExtractionScore]
    seconds: float

    @property
    def total(self) -> int:
        return sum(c.total for c in self.categories)

    @property
    def exact(self) -> int:
        return sum(c.exact for c in self.categories)

    @property
    def rate(self) -> float:
        return self.exact / self.total if self.total else 0.0


PHRASES = (
    "my device id is {}",
    "Device ID: {}",
    "it's {}.",
    "the id on the sticker says {} thanks",
    "here you go {}",
    "ok, {}",
    "{} is what the app shows",
    "Device ID is {} , serial 21LX0483920175",
    "I think it's {}?",
    "hi, my NVR device id = {}",
)


def _registry() -> list[str]:
    with open(REPO / "data" / "devices.csv", newline="") as handle:
        return [row["device_id"] for row in csv.DictReader(handle)]


def typed_variants(seed: int = 7) -> dict[str, list[Case]]:
    """Category → cases, for every registered Device ID (deterministic for a seed)."""
    from bot.devices.formats import DIGIT, LETTER, load_formats

    formats = load_formats()
    rng = random.Random(seed)
    # Which typed character stands for which true one, where the pattern decides.
    for_digit = {d: [k for k, v in formats.to_digit.items() if v == d] for d in "0123456789"}
    for_letter = {
        c: [k for k, v in formats.to_letter.items() if v == c] for c in formats.to_letter.values()
    }

    def grouped(device_id: str) -> list[str]:
        """The ID in its family's groups, as it is read back (``ND48 1027 3945 KXQ``)."""
        return formats.group(device_id).split()

    def separate(device_id: str) -> str:
        """Grouped as on the label, or with two neighbouring groups run together."""
        chunks = grouped(device_id)
        if len(chunks) > 2 and rng.random() < 0.3:
            join_at = rng.randrange(len(chunks) - 1)
            chunks[join_at : join_at + 2] = [chunks[join_at] + chunks[join_at + 1]]
        return rng.choice([" ", "-", ".", " - ", "\u2013", "  "]).join(chunks)

    def recase(text: str) -> str:
        style = rng.choice(["lower", "mixed", "title"])
        if style == "lower":
            return text.lower()
        if style == "title":
            return text.capitalize()
        return "".join(c.lower() if rng.random() < 0.5 else c for c in text)

    def lookalike(device_id: str) -> str | None:
        family = formats.families_for_length(len(device_id))
        if not family:
            return None
        pattern = family[0].pattern
        positions = []
        for index, (char, wanted) in enumerate(zip(device_id, pattern, strict=True)):
            options = (
                for_digit.get(char, [])
                if wanted == DIGIT
                else for_letter.get(char, [])
                if wanted == LETTER
                else []
            )
            if options:
                positions.append((index, options))
        if not positions:
            return None
        chars = list(device_id)
        for index, options in rng.sample(positions, k=min(len(positions), rng.choice([1, 2]))):
            chars[index] = rng.choice(options)
        return "".join(chars)

    cases: dict[str, list[Case]] = {
        "as printed (compact, capitals)": [],
        "lower or mixed case": [],
        "grouped (spaces, dashes, dots, en dashes)": [],
        "inside a phrase": [],
        "O/0 I/1 S/5 B/8 look-alikes": [],
        "all of these at once": [],
    }
    for device_id in _registry():
        cases["as printed (compact, capitals)"].append(Case(device_id, device_id))
        cases["lower or mixed case"].append(Case(recase(device_id), device_id))
        cases["grouped (spaces, dashes, dots, en dashes)"].append(
            Case(separate(device_id), device_id)
        )
        cases["inside a phrase"].append(
            Case(rng.choice(PHRASES).format(" ".join(grouped(device_id))), device_id)
        )
        swapped = lookalike(device_id)
        if swapped is not None:
            # Compact or in the label's groups, half each.
            shown = swapped if rng.random() < 0.5 else " ".join(grouped(swapped))
            cases["O/0 I/1 S/5 B/8 look-alikes"].append(Case(shown, device_id))
        everything = recase(separate(swapped or device_id))
        cases["all of these at once"].append(
            Case(rng.choice(PHRASES).format(everything), device_id)
        )
    return cases


def score_extraction(cases: dict[str, list[Case]]) -> ExtractionResult:
    """Exact-match rate of the NLU component's extractor, per category of cases."""
    from bot.devices.extraction import DeviceIdExtractor
    from bot.devices.formats import load_formats

    extractor = DeviceIdExtractor(load_formats())
    find: Callable[[str], Any] = extractor.find
    began = time.perf_counter()
    scores = []
    for category, category_cases in cases.items():
        score = ExtractionScore(category)
        for case in category_cases:
            found = find(case.text)
            got = found.value if found is not None else ""
            score.total += 1
            if got == case.expected:
                score.exact += 1
            else:
                score.misses.append((case.text, case.expected, got))
        scores.append(score)
    return ExtractionResult(scores, time.perf_counter() - began)


def spoken_cases() -> dict[str, list[Case]]:
    """The phone issue's spoken transcripts (``bench/spoken_table.py``), by half of the table."""
    from bench.spoken_table import GENERATED, HAND_WRITTEN

    return {
        "generated: every registered ID, seven speaking styles": [
            Case(text, device_id) for text, device_id in GENERATED
        ],
        "hand-written: recogniser confusions, spelling words, pairs": [
            Case(text, device_id) for text, device_id in HAND_WRITTEN
        ],
    }


def score_spoken(folder: Path, cases: dict[str, list[Case]]) -> ExtractionResult:
    """Exact-match rate of the phone channel's reading of spoken transcripts.

    Each transcript goes through what the channel does with one caller's turn: ``hear`` it,
    then ``resolve`` the pieces against the real registry (SQLite in ``folder``, migrated and
    seeded from ``data/devices.csv``) with the confusable-swap bound from ``phone.yml``. Exact
    match: the first registered reading offered for the read-back is the expected ID.
    """
    from bot.content import DATA_DIR
    from bot.db import Database, migrate
    from bot.devices.formats import load_formats
    from bot.devices.registry import DeviceRegistry
    from bot.phone.content import load_phone_content
    from bot.phone.lookup import RegistryIds
    from bot.phone.spoken import hear, resolve

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "spoken-registry.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    migrate(url)
    database = Database(url)
    try:
        registry = DeviceRegistry(database)
        registry.seed_from_csv(DATA_DIR / "devices.csv")
        ids = RegistryIds(registry)
        formats, content = load_formats(), load_phone_content()
        began = time.perf_counter()
        scores = []
        for category, category_cases in cases.items():
            score = ExtractionScore(category)
            for case in category_cases:
                pieces = hear(case.text, content).pieces
                found = resolve(pieces, formats, ids, max_swaps=content.max_confusable_swaps)
                got = found.found[0] if found.found else ""
                score.total += 1
                if found.complete and got == case.expected:
                    score.exact += 1
                else:
                    shown = got or f"nothing registered (heard {found.heard or 'nothing'})"
                    score.misses.append((case.text, case.expected, shown))
            scores.append(score)
        return ExtractionResult(scores, time.perf_counter() - began)
    finally:
        database.dispose()
