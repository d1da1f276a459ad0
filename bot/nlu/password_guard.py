"""Rasa NLU component: classify password-shaped messages as ``share_password``.

A statistical classifier cannot be trusted to spot "Tr0ub4dor&3" as a password; a rule can. The
intent then drives the warning, and the masking tracker store hides the text.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.privacy.password_shape import (
    is_email_address,
    looks_like_password,
    mentions_a_password,
)

SHARE_PASSWORD_INTENT = "share_password"


def device_id_spans(message: Message) -> list[tuple[int, int]]:
    return [
        (entity["start"], entity["end"])
        for entity in message.get(ENTITIES, [])
        if entity.get("entity") == "device_id"
    ]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class PasswordGuard(GraphComponent, IntentClassifier):
    """Overrides the predicted intent with ``share_password`` for password-shaped text, and
    takes it back where nothing supports it:

    - a bare email address (asked for to verify the owner; its ``@`` and mixed case can fool the
      statistical classifier);
    - a message with no password-shaped word that does not speak of a password either, such as
      the owner's name ("Oakley Maplecroft"): every recorder password mixes two kinds of
      character, so two capitalised words are not one, and a name taken for a password would be
      hidden and refused.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.component_config = config

    @classmethod
    def required_components(cls) -> list[type]:
        return [IntentClassifier]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> PasswordGuard:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            if is_email_address(text):
                _demote_share_password(message)
                continue
            if not looks_like_password(text, device_id_spans(message)):
                if not mentions_a_password(text):
                    _demote_share_password(message)
                continue
            intent = {INTENT_NAME_KEY: SHARE_PASSWORD_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, intent, add_to_output=True)
            ranking = [
                ranked
                for ranked in message.get(INTENT_RANKING_KEY) or []
                if ranked.get(INTENT_NAME_KEY) != SHARE_PASSWORD_INTENT
            ]
            message.set(INTENT_RANKING_KEY, [intent, *ranking], add_to_output=True)
        return messages


def _demote_share_password(message: Message) -> None:
    predicted = message.get(INTENT) or {}
    if predicted.get(INTENT_NAME_KEY) != SHARE_PASSWORD_INTENT:
        return
    ranking = [
        ranked
        for ranked in message.get(INTENT_RANKING_KEY) or []
        if ranked.get(INTENT_NAME_KEY) != SHARE_PASSWORD_INTENT
    ]
    if ranking:
        message.set(INTENT, ranking[0], add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
