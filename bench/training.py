"""Training times: ours from scratch and unchanged, and the stock bot (``rasa init``'s content).

* From scratch: ``rasa train --force`` with an empty training cache (``RASA_CACHE_DIRECTORY`` in
  a fresh folder), so every component is trained.
* Unchanged: ``rasa train`` again on the same inputs and cache; Rasa's fingerprints find every
  component in the cache and only package a new model.
* The stock bot: the project ``rasa init`` creates (its scaffold, copied by the same function
  ``rasa init`` calls), then ``rasa train`` in that folder, which is what ``rasa init
  --no-prompt`` runs next. Timed separately so the copy is not counted as training.

``--quick`` (a smoke run of the harness, never a measurement) trains with a copy of each config
whose epochs are cut, so the whole run takes minutes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.paths import RASA, rasa_env
from bench.servers import run_timed

OUR_TRAINING_DATA = ["data/nlu", "data/rules"]
QUICK_EPOCHS = 3


@dataclass(frozen=True)
class TrainingTimes:
    from_scratch_s: float
    unchanged_s: float


def quick_config(source: Path, target: Path, epochs: int = QUICK_EPOCHS) -> Path:
    """A copy of a Rasa config with every ``epochs`` cut to ``epochs`` (for --quick only).

    An empty pipeline or policy list (the stock bot's) is filled in from Rasa's default config
    first, since that is what Rasa would train.
    """
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    if not config.get("pipeline") or not config.get("policies"):
        defaults = yaml.safe_load(_default_config_path().read_text())
        config["pipeline"] = config.get("pipeline") or defaults["pipeline"]
        config["policies"] = config.get("policies") or defaults["policies"]
    for part in ("pipeline", "policies"):
        for component in config.get(part) or []:
            if component.get("name") in {
                "DIETClassifier",
                "ResponseSelector",
                "TEDPolicy",
                "UnexpecTEDIntentPolicy",
            }:
                component["epochs"] = epochs
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def _default_config_path() -> Path:
    import rasa.engine.recipes as recipes

    return Path(recipes.__file__).parent / "config_files" / "default_config.yml"


def train_ours(folder: Path, config: Path) -> TrainingTimes:
    """Our model from scratch, then again with nothing changed (into ``folder``, not models/)."""
    env = rasa_env(RASA_CACHE_DIRECTORY=str(folder / "cache"))
    command = [
        RASA,
        "train",
        "--config",
        str(config),
        "--domain",
        "domain",
        "--data",
        *OUR_TRAINING_DATA,
        "--out",
        str(folder / "models"),
    ]
    scratch = run_timed(
        [*command, "--fixed-model-name", "from-scratch", "--force"],
        env=env,
        log_path=folder / "train-from-scratch.log",
    )
    unchanged = run_timed(
        [*command, "--fixed-model-name", "unchanged"],
        env=env,
        log_path=folder / "train-unchanged.log",
    )
    return TrainingTimes(scratch, unchanged)


def make_stock_project(folder: Path) -> Path:
    """``rasa init``'s project (config, domain, data, credentials, endpoints) in ``folder``."""
    from rasa.cli.scaffold import create_initial_project

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    create_initial_project(str(folder))
    return folder


def train_stock(project: Path, quick: bool) -> float:
    """``rasa train`` in the stock project, as ``rasa init --no-prompt`` runs it."""
    config = project / "config.yml"
    if quick:
        config = quick_config(config, project / "quick-config.yml")
    return run_timed(
        [RASA, "train", "--config", str(config), "--out", "models"],
        cwd=project,
        env=rasa_env(RASA_CACHE_DIRECTORY=str(project / ".rasa" / "cache")),
        log_path=project / "train.log",
    )
