"""Rasa NLU component: the ``device_id`` entity, found and normalised by rules (spaCy Matcher).

Device IDs have fixed shapes kept in data (``data/content/device_id_formats.yml``), so a rule-based
extractor is exact where a trained entity model would guess. The work is done by
:mod:`bot.devices.extraction`; this class only adapts it to Rasa's graph.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.devices.extraction import DeviceIdExtractor
from bot.devices.formats import load_formats

ENTITY_NAME = "device_id"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False
)
class DeviceIdEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Adds a normalised ``device_id`` entity when a message contains something ID-shaped."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.component_config = config
        self._extractor = DeviceIdExtractor(load_formats())

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> DeviceIdEntityExtractor:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # Nothing to learn, and training examples keep their own annotations.
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            entity = self._entity_for(message.get(TEXT) or "")
            if entity:
                message.set(
                    ENTITIES,
                    [*message.get(ENTITIES, []), entity],
                    add_to_output=True,
                )
        return messages

    def _entity_for(self, text: str) -> dict[str, Any] | None:
        found = self._extractor.find(text)
        if found is None:
            return None
        return {
            "entity": ENTITY_NAME,
            "value": found.value,
            "start": found.start_char,
            "end": found.end_char,
            "confidence_entity": 1.0,
            "extractor": self.__class__.__name__,
        }
