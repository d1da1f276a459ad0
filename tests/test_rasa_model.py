"""The trained Rasa model: training data, the dialogue policy, NLU quality, and parsing in process.

These use the model `make test` trains (models/lorex.tar.gz) and Rasa's own command line, so they
check exactly what `make run` serves.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "models" / "lorex.tar.gz"
RASA = [sys.executable, "-m", "rasa"]
TRAINING_DATA = ["--data", "data/nlu", "data/rules"]
# The targets: 0.95 for English (issue 14), 0.93 for Spanish and French (issue 16). The intent
# classifier is deterministic and the folds are seeded, so the figures are the same on every run.
# One model reads every language (config.yml says why): the cross-validation runs over all the
# training data and is scored per language, by the file each example came from (macro-F1 over
# that language's intents; nlu_fallback counts as a miss). Measured on 2026-12-04, after the
# Spanish and French data were cleaned and filled out, the guard learnt their password words and
# the SVM's C went to 1.5: en 0.9513, es 0.9344, fr 0.9302 (before: 0.9544, 0.9217, 0.9143; any
# change to the data redraws every fold, English's included, by about 0.005). Every floor sits
# at its language's target.
MACRO_F1_TARGETS = {"en": 0.95, "es": 0.93, "fr": 0.93}
MACRO_F1_FLOORS = {"en": 0.95, "es": 0.93, "fr": 0.93}
RASA_ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_rasa(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RASA, *args],
        cwd=REPO,
        env=RASA_ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def model() -> Path:
    if not MODEL.is_file():
        pytest.fail(f"{MODEL.relative_to(REPO)} is missing: run `make train` (make test does)")
    return MODEL


def test_training_data_and_domain_validate() -> None:
    # Without --fail-on-warnings: intents the agent console triggers (EXTERNAL_*) are rightly
    # absent from the NLU data, which that flag counts as a failure. Every warning is checked here
    # instead.
    result = run_rasa("data", "validate", "--domain", "domain", *TRAINING_DATA, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    warnings = re.findall(r"UserWarning: (.*)", output)
    external = re.compile(
        r"The intent 'EXTERNAL_\w+' is listed in the domain file, but is not found in the NLU"
    )
    unused_pattern = re.compile(r"The (utterance|intent) '(\w+)' is not used in any story")
    unexpected = [w for w in warnings if not external.match(w) and not unused_pattern.match(w)]
    assert unexpected == []
    # No story names an intent or a response any more: the dialogue policy sends every message to
    # action_converse, and the controller (bot/dialogue) says the responses. So each intent Rasa
    # flags must be one the domain lists, and each response must be named in the product's code.
    flagged = unused_pattern.findall(output)
    domain_intents = _domain_list("intents")
    assert [name for kind, name in flagged if kind == "intent" and name not in domain_intents] == []
    source = "\n".join(
        path.read_text() for folder in ("actions", "bot") for path in (REPO / folder).rglob("*.py")
    )
    unused = [name for kind, name in flagged if kind == "utterance" and f'"{name}"' not in source]
    assert unused == []


def _domain_list(key: str) -> set[str]:
    names: set[str] = set()
    for path in (REPO / "domain").glob("*.yml"):
        for item in yaml.safe_load(path.read_text()).get(key) or []:
            names.add(item if isinstance(item, str) else next(iter(item)))
    return names


def test_every_message_goes_to_the_conversation_controller(model: Path, tmp_path: Path) -> None:
    """The dialogue model (bot.dialogue.rasa_policy) answers every intent, typed, a button's or a
    key's, or the console's EXTERNAL_ ones, with action_converse and then listens, in any order:
    a story through every domain intent, checked by Rasa's own test command."""
    intents = sorted(_domain_list("intents"))

    def story(name: str, order: list[str]) -> dict[str, Any]:
        steps = [{"intent": intent, "action": "action_converse"} for intent in order]
        return {"story": name, "steps": [{k: v} for step in steps for k, v in step.items()]}

    stories = {
        "version": "3.1",
        "stories": [story("every intent", intents), story("backwards", intents[::-1])],
    }
    story_file = tmp_path / "every_intent.yml"
    story_file.write_text(yaml.safe_dump(stories, sort_keys=False))
    result = run_rasa(
        "test",
        "core",
        "--model",
        str(model),
        "--stories",
        str(story_file),
        "--fail-on-prediction-errors",
        "--out",
        str(tmp_path / "results"),
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    report = json.loads((tmp_path / "results" / "story_report.json").read_text())
    accuracy = report["conversation_accuracy"]
    assert accuracy["total"] == 2
    assert accuracy["correct"] == accuracy["total"]
    # The story went through every intent the NLU can give and every one the console triggers.
    trained = {
        str(item["intent"])
        for path in (REPO / "data" / "nlu").rglob("*.yml")
        for item in yaml.safe_load(path.read_text())["nlu"]
        if "intent" in item
    }
    assert trained | {"EXTERNAL_password_released", "EXTERNAL_case_rejected"} <= set(intents)


def training_files(language: str) -> list[Path]:
    """English's training data is data/nlu/*.yml; every other language's, data/nlu/<lang>/."""
    folder = REPO / "data" / "nlu"
    return sorted((folder if language == "en" else folder / language).glob("*.yml"))


def test_every_language_has_training_data_for_every_intent() -> None:
    def intents(language: str) -> set[str]:
        return {
            str(item["intent"])
            for path in training_files(language)
            for item in yaml.safe_load(path.read_text())["nlu"]
        }

    languages = {p.name for p in (REPO / "data" / "nlu").iterdir() if p.is_dir()} | {"en"}
    assert languages == set(MACRO_F1_FLOORS)
    for language in MACRO_F1_FLOORS:
        assert {p.name for p in training_files(language)} == {p.name for p in training_files("en")}
        assert intents(language) == intents("en"), language


def per_language(results: list[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Cross-validation results (text, intent, prediction) as (intent, prediction) pairs per
    language, by the file each example came from. A text that is in two languages' files with
    the same intent (say "ok") counts in both: in each, the model had to get it right."""
    from rasa.shared.nlu.training_data.loading import load_data

    owners: dict[tuple[str, str], list[str]] = {}
    for language in MACRO_F1_FLOORS:
        for path in training_files(language):
            for message in load_data(str(path)).intent_examples:
                owners.setdefault((message.get("text"), message.get("intent")), []).append(language)
    predictions: dict[tuple[str, str], list[str]] = {}
    for result in results:
        key = (result["text"], result["intent"])
        predictions.setdefault(key, []).append(result["intent_prediction"]["name"])
    assert set(predictions) == set(owners)
    pairs: dict[str, list[tuple[str, str]]] = {language: [] for language in MACRO_F1_FLOORS}
    for key, languages in owners.items():
        guesses = predictions[key]
        for index, language in enumerate(languages):
            # Rasa keeps a duplicate once or twice: each copy's own prediction where it has one.
            pairs[language].append((key[1], guesses[min(index, len(guesses) - 1)]))
    return pairs


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Over the gold intents; a prediction outside them (nlu_fallback) counts only as a miss."""
    from tests.nlu.test_heldout import f1_table

    return f1_table(pairs)[1]


def test_intent_cross_validation_holds_its_floor(tmp_path: Path) -> None:
    """5-fold cross-validation of the real NLU pipeline (config.yml) on every language's data,
    scored per language."""
    # Rasa shuffles the folds with numpy's global generator and no seed: seeded here, so the
    # figure is the same on every run and the floor can sit at the target.
    command = [
        sys.executable,
        "-c",
        "import sys, numpy; numpy.random.seed(0); from rasa.__main__ import main; "
        "sys.argv = ['rasa', *sys.argv[1:]]; main()",
        "test",
        "nlu",
        "--nlu",
        "data/nlu",
        "--config",
        "config.yml",
        "--cross-validation",
        "--folds",
        "5",
        "--successes",
        "--out",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, cwd=REPO, env=RASA_ENV, capture_output=True, text=True, timeout=2400
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = json.loads((tmp_path / "intent_report.json").read_text())
    results = [
        *json.loads((tmp_path / "intent_successes.json").read_text()),
        *json.loads(
            errors.read_text() if (errors := tmp_path / "intent_errors.json").is_file() else "[]"
        ),
    ]
    figures = {language: macro_f1(pairs) for language, pairs in per_language(results).items()}
    print(
        f"intent macro-F1 (5-fold, all languages): {report['macro avg']['f1-score']:.4f}, "
        f"accuracy {report['accuracy']:.4f}; per language: "
        + ", ".join(
            f"{lang} {f1:.4f} (target {MACRO_F1_TARGETS[lang]}, floor {MACRO_F1_FLOORS[lang]})"
            for lang, f1 in figures.items()
        )
    )
    assert {lang: f1 for lang, f1 in figures.items() if f1 < MACRO_F1_FLOORS[lang]} == {}


@pytest.fixture(scope="module")
def agent(model: Path) -> Iterator[Any]:
    from rasa.core.agent import Agent

    yield Agent.load(str(model))


def parse(agent: Any, text: str) -> dict[str, Any]:
    import asyncio

    result: dict[str, Any] = asyncio.run(agent.parse_message(text))
    return result


@pytest.mark.parametrize(
    ("text", "device_id"),
    [
        ("ND4810273945KXQ", "ND4810273945KXQ"),
        ("my device id is nd48-1027-3945-kxq thanks", "ND4810273945KXQ"),
        ("ID: ND48 1O27 3945 KXQ", "ND4810273945KXQ"),  # letter O where a digit belongs
        ("it's LRX 104 592 837.", "LRX104592837"),
        ("the serial is 21LX0483920175", "21LX0483920175"),
    ],
)
def test_the_model_extracts_a_normalised_device_id(agent: Any, text: str, device_id: str) -> None:
    entities = [e for e in parse(agent, text)["entities"] if e["entity"] == "device_id"]
    assert [e["value"] for e in entities] == [device_id]


@pytest.mark.parametrize(
    "text", ["where do I find the device id?", "I have an N843", "step 3 is done", ""]
)
def test_the_model_finds_no_device_id_where_there_is_none(agent: Any, text: str) -> None:
    assert [e for e in parse(agent, text)["entities"] if e["entity"] == "device_id"] == []


@pytest.mark.parametrize(
    "text",
    [
        "Tr0ub4dor&3",
        "Br1ght.Star",
        "S3cure#Home",
        "my new password will be Sunset2024!",
        "password: hunter22",
    ],
)
def test_password_shaped_messages_are_classified_as_such(agent: Any, text: str) -> None:
    assert parse(agent, text)["intent"]["name"] == "share_password"


@pytest.mark.parametrize(
    "text",
    [
        "Zion.Juniperfield@example.com",
        "dana@example.com",
        "grace.liu@example.net.",
        "sage.kestrelton2@example.org",
    ],
)
def test_an_email_address_is_never_taken_for_a_password(agent: Any, text: str) -> None:
    # Nor for anything else that would end the owner's details form: DIET's 2% runner-up
    # "request_human" once handed the conversation to an agent (found by make bench).
    assert parse(agent, text)["intent"]["name"] in {"nlu_fallback", "out_of_scope"}


@pytest.mark.parametrize(
    "text", ["Oakley Maplecroft", "Sage Kestrelton", "Marlow Quincey", "Dana Whitfield"]
)
def test_an_owners_name_is_never_taken_for_a_password(agent: Any, text: str) -> None:
    # DIET alone took "Oakley Maplecroft" for share_password (found by make bench).
    assert parse(agent, text)["intent"]["name"] not in {"share_password", "request_human"}


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("I forgot the password for my NVR", "request_password_reset"),
        ("where is the device id printed", "ask_device_id_location"),
        ("is that the same as the serial number?", "ask_serial_vs_device_id"),
        ("let me talk to a real person", "request_human"),
        ("support already gave me a temporary password", "have_temporary_password"),
        ("ok done, what's next", "step_done"),
        ("it says the password is wrong", "temp_password_rejected"),
        ("I don't have a monitor", "missing_equipment"),
        ("ND4810273945KXQ", "provide_device_id"),
    ],
)
def test_the_model_understands_key_intents(agent: Any, text: str, intent: str) -> None:
    assert parse(agent, text)["intent"]["name"] == intent
