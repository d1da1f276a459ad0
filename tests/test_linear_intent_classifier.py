"""The intent classifier component (bot/nlu/linear_intent_classifier.py) in Rasa's graph: trained,
saved, loaded and run as Rasa does, on a small real slice of the training data."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.content import ContentError
from bot.nlu.linear_intent_classifier import (
    DEVICE_ID_WORD,
    LinearIntentClassifier,
    classifier_text,
    load_shorthand,
    shorthand_files,
)

REPO = Path(__file__).resolve().parent.parent
INTENTS = ("greet", "provide_device_id", "request_human", "ask_hours", "out_of_scope")


@pytest.fixture(scope="module")
def training_data() -> TrainingData:
    data = load_data(str(REPO / "data" / "nlu"))
    return TrainingData([m for m in data.intent_examples if m.get(INTENT) in INTENTS])


def trained(tmp_path: Path, training_data: TrainingData) -> tuple[LocalModelStorage, Resource]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage = LocalModelStorage(tmp_path)
    resource = Resource("intent_classifier")
    context = ExecutionContext(GraphSchema({}), "test")
    component = LinearIntentClassifier.create({}, storage, resource, context)
    component.train(training_data)
    return storage, resource


def classify(component: LinearIntentClassifier, *texts: str) -> list[Message]:
    messages = [Message(data={TEXT: text}) for text in texts]
    return component.process(messages)


def loaded(storage: LocalModelStorage, resource: Resource) -> LinearIntentClassifier:
    context = ExecutionContext(GraphSchema({}), "test")
    return LinearIntentClassifier.load({}, storage, resource, context)


def test_what_the_classifier_reads_hides_the_device_id_and_writes_out_shorthand() -> None:
    assert classifier_text("My ID is ND48-1027-3945-KXQ pls") == (
        f"my id is {DEVICE_ID_WORD} please"
    )
    assert classifier_text("can u resend the pw?") == "can you resend the password ?"


def test_every_languages_shorthand_is_written_out_and_accents_do_not_matter() -> None:
    assert {path.parent.name for path in shorthand_files()} >= {"content", "es", "fr"}
    assert classifier_text("xq tmb olvidé la contraseña del DVR?") == (
        "porque tambien olvide la contrasena del recorder ?"
    )
    assert classifier_text("c’est quoi le mdp svp, jsp") == (
        "c'est quoi le mot de passe s'il vous plait je ne sais pas"
    )
    assert classifier_text("el numero es ND4810273945KXQ") == classifier_text(
        "el número es ND48 1027 3945 KXQ"
    )


def test_a_shorthand_word_that_means_two_things_is_refused(tmp_path: Path) -> None:
    (tmp_path / "es").mkdir()
    (tmp_path / "shorthand.yml").write_text('"pq": "porque"\n"pls": "please"\n')
    (tmp_path / "es" / "shorthand.yml").write_text('"pls": "please"\n"pq": "pourquoi"\n')
    with pytest.raises(ContentError, match="'pq' is 'porque'"):
        load_shorthand([tmp_path / "shorthand.yml", tmp_path / "es" / "shorthand.yml"])


def test_a_saved_model_loads_and_ranks_intents_with_confidences(
    tmp_path: Path, training_data: TrainingData
) -> None:
    component = loaded(*trained(tmp_path, training_data))
    hello, device, person, hours, weather = classify(
        component,
        "hey there",
        "the id on the sticker is WC3175502846EEA",
        "pls put me thru to a real person",
        "r u open on sundays",
        "is it raining in vancouver",
    )
    assert [m.get(INTENT)["name"] for m in (hello, device, person, hours, weather)] == list(INTENTS)
    for message in (hello, device, person, hours, weather):
        ranking = message.get(INTENT_RANKING_KEY)
        confidences = [item["confidence"] for item in ranking]
        assert confidences == sorted(confidences, reverse=True)
        assert 0.99 < sum(confidences) <= 1.0 + 1e-9  # every intent ranked: a distribution
        assert ranking[0] == message.get(INTENT)


def test_the_device_id_itself_does_not_change_the_intent_or_its_confidence(
    tmp_path: Path, training_data: TrainingData
) -> None:
    component = loaded(*trained(tmp_path, training_data))
    first, second = classify(component, "here it is ND4810273945KXQ", "here it is lhv965724920")
    assert first.get(INTENT_RANKING_KEY) == second.get(INTENT_RANKING_KEY)


def test_training_twice_gives_the_same_model(tmp_path: Path, training_data: TrainingData) -> None:
    once = loaded(*trained(tmp_path / "once", training_data))
    twice = loaded(*trained(tmp_path / "twice", training_data))
    texts = ("hello?", "can someone call me", "what time do you close", "purple elephants")
    assert [m.get(INTENT_RANKING_KEY) for m in classify(once, *texts)] == [
        m.get(INTENT_RANKING_KEY) for m in classify(twice, *texts)
    ]
