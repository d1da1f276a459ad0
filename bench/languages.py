"""One intent classifier for every language, or one per language behind a router?

``python -m bench.languages [--seed 0] [--folds 5]`` (about five minutes on a quiet machine)
prints, for each layout, per language (en, es, fr):

- macro-F1 of a seeded stratified k-fold cross-validation: every example of the language is
  predicted by a model that was not trained on it. Layout (a), one multilingual model: the folds
  are drawn over all languages' data together, and each fold's predictions are split by the
  language of the file the example came from. Layout (b), a model per language: the folds are
  drawn over that language's data alone, and its model sees only that language.
- macro-F1 on the language's held-out set (tests/nlu/heldout*.yml, never trained on), scored as
  tests/nlu/test_heldout.py scores it (for (b) with a perfect router: the conversation's
  language is known, so the message goes to its language's model);
- training time and the saved model's size.

What predicts is the real component (bot/nlu/linear_intent_classifier.py, its fitted confidences
included) with config.yml's FallbackClassifier thresholds applied after it: a prediction under
the threshold, or too close to the runner-up, is ``nlu_fallback`` and counts as a miss, as in
Rasa's own cross-validation of the pipeline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.model_selection import StratifiedKFold

from bot.nlu.linear_intent_classifier import MODEL_FILE, LinearIntentClassifier
from tests.nlu.test_heldout import ALSO_RIGHT, f1_table

REPO = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "es", "fr")
Example = tuple[str, str]  # text, intent


def training_examples(language: str) -> list[Example]:
    """The language's training data: data/nlu/*.yml for English, data/nlu/<lang>/*.yml else."""
    folder = REPO / "data" / "nlu" if language == "en" else REPO / "data" / "nlu" / language
    examples = []
    for path in sorted(folder.glob("*.yml")):
        for message in load_data(str(path)).intent_examples:
            examples.append((str(message.get(TEXT)), str(message.get(INTENT))))
    return examples


def heldout_examples(language: str) -> list[Example]:
    name = "heldout.yml" if language == "en" else f"heldout_{language}.yml"
    data = load_data(str(REPO / "tests" / "nlu" / name))
    return [(str(m.get(TEXT)), str(m.get(INTENT))) for m in data.intent_examples]


def fallback_thresholds() -> tuple[float, float]:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    fallback = next(c for c in config["pipeline"] if c["name"] == "FallbackClassifier")
    return float(fallback["threshold"]), float(fallback["ambiguity_threshold"])


class Trained:
    """A trained LinearIntentClassifier, its training time and saved size."""

    def __init__(self, examples: Sequence[Example], folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        storage = LocalModelStorage(folder)
        resource = Resource("intent_classifier")
        context = ExecutionContext(GraphSchema({}), "bench")
        component = LinearIntentClassifier.create({}, storage, resource, context)
        messages = [Message(data={TEXT: text, INTENT: intent}) for text, intent in examples]
        started = time.perf_counter()
        component.train(TrainingData(messages))
        self.seconds = time.perf_counter() - started
        self.size = sum(p.stat().st_size for p in folder.rglob(MODEL_FILE))
        self.component = component

    def predict(self, texts: Sequence[str]) -> list[str]:
        threshold, ambiguity = fallback_thresholds()
        messages = self.component.process([Message(data={TEXT: text}) for text in texts])
        intents = []
        for message in messages:
            ranking = message.get(INTENT_RANKING_KEY)
            top = ranking[0]["confidence"]
            second = ranking[1]["confidence"] if len(ranking) > 1 else 0.0
            fell_back = top < threshold or top - second < ambiguity
            intents.append("nlu_fallback" if fell_back else str(ranking[0]["name"]))
        return intents


def macro_f1(gold: Sequence[str], predicted: Sequence[str], heldout: bool = False) -> float:
    pairs = []
    for right, guess in zip(gold, predicted, strict=True):
        if heldout and guess in ALSO_RIGHT.get(right, set()):
            guess = right
        pairs.append((right, guess))
    return f1_table(pairs)[1]


def cross_validated(
    examples: Sequence[Example], folds: int, seed: int, work: Path
) -> tuple[list[str], float]:
    """Each example's prediction by the fold model that did not train on it; the mean fold
    training time."""
    intents = np.array([intent for _, intent in examples])
    predicted = [""] * len(examples)
    seconds = []
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for fold, (train, test) in enumerate(splitter.split(np.zeros(len(intents)), intents)):
        model = Trained([examples[i] for i in train], work / f"fold{fold}")
        seconds.append(model.seconds)
        for index, guess in zip(test, model.predict([examples[i][0] for i in test]), strict=True):
            predicted[index] = guess
    return predicted, float(np.mean(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--languages", nargs="+", default=list(LANGUAGES), choices=LANGUAGES)
    args = parser.parse_args()
    languages = tuple(args.languages)
    data = {language: training_examples(language) for language in languages}
    heldout = {language: heldout_examples(language) for language in languages}
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # (a) one multilingual model.
        everything = [(example, language) for language in languages for example in data[language]]
        predicted, fold_seconds = cross_validated(
            [example for example, _ in everything], args.folds, args.seed, work / "a-cv"
        )
        full = Trained([example for example, _ in everything], work / "a")
        for language in languages:
            mine = [i for i, (_, lang) in enumerate(everything) if lang == language]
            cv = macro_f1([everything[i][0][1] for i in mine], [predicted[i] for i in mine])
            texts = [text for text, _ in heldout[language]]
            held = macro_f1(
                [intent for _, intent in heldout[language]], full.predict(texts), heldout=True
            )
            rows.append(f"| (a) one model | {language} | {len(mine)} | {cv:.4f} | {held:.4f} |")
        rows.append(
            f"| (a) one model | all | {len(everything)} | | | train {full.seconds:.1f} s "
            f"(fold mean {fold_seconds:.1f} s), {full.size / 1e6:.1f} MB |"
        )
        # (b) one model per language, behind a (perfect) language router.
        total_seconds, total_size = 0.0, 0
        for language in languages:
            examples = data[language]
            predicted, fold_seconds = cross_validated(
                examples, args.folds, args.seed, work / f"b-cv-{language}"
            )
            cv = macro_f1([intent for _, intent in examples], predicted)
            model = Trained(examples, work / f"b-{language}")
            total_seconds += model.seconds
            total_size += model.size
            texts = [text for text, _ in heldout[language]]
            held = macro_f1(
                [intent for _, intent in heldout[language]], model.predict(texts), heldout=True
            )
            rows.append(
                f"| (b) per language | {language} | {len(examples)} | {cv:.4f} | {held:.4f} | "
                f"train {model.seconds:.1f} s, {model.size / 1e6:.1f} MB |"
            )
        rows.append(
            f"| (b) per language | all | | | | train {total_seconds:.1f} s in all, "
            f"{total_size / 1e6:.1f} MB in all |"
        )
    print(f"seed {args.seed}, {args.folds} folds; fallback thresholds {fallback_thresholds()}")
    print("| layout | language | examples | CV macro-F1 | held-out macro-F1 | cost |")
    print("| --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
