"""Rasa NLU component: classify password-shaped messages as ``share_password``.

A statistical classifier cannot be trusted to spot "Tr0ub4dor&3" as a password; a rule can. The
intent then drives the warning, and the masking tracker store hides the text.
"""

from __future__ import annotations

from typing import Any

from rasa.core.constants import (
    DEFAULT_NLU_FALLBACK_AMBIGUITY_THRESHOLD,
    DEFAULT_NLU_FALLBACK_THRESHOLD,
)
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.classifiers.fallback_classifier import (
    AMBIGUITY_THRESHOLD_KEY,
    THRESHOLD_KEY,
    FallbackClassifier,
)
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.devices.extraction import without_lone_surrogates
from bot.privacy.log_redaction import redact_user_text_in_logs
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

    The intent that then comes first faces the same test as every other prediction, Rasa's
    ``FallbackClassifier`` with the thresholds given here (config.yml passes the pipeline's):
    the classifier's runner-up to share_password is often a guess with 2% confidence, and acting
    on it ("request_human" for an email address) ended the owner's details form.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "fallback_threshold": DEFAULT_NLU_FALLBACK_THRESHOLD,
            "fallback_ambiguity_threshold": DEFAULT_NLU_FALLBACK_AMBIGUITY_THRESHOLD,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        # Rasa logs a message's text when handling it fails; the process running this guard must
        # not (its logging is configured by then: the model loads after Rasa's start-up).
        redact_user_text_in_logs()
        self.component_config = {**self.get_default_config(), **config}
        self._fallback = FallbackClassifier(
            {
                **FallbackClassifier.get_default_config(),
                THRESHOLD_KEY: self.component_config["fallback_threshold"],
                AMBIGUITY_THRESHOLD_KEY: self.component_config["fallback_ambiguity_threshold"],
            }
        )

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
            text = without_lone_surrogates(message.get(TEXT) or "")
            if is_email_address(text):
                self._take_back_share_password(message)
                continue
            if not looks_like_password(text, device_id_spans(message)):
                if not mentions_a_password(text):
                    self._take_back_share_password(message)
                continue
            intent = {INTENT_NAME_KEY: SHARE_PASSWORD_INTENT, PREDICTED_CONFIDENCE_KEY: 1.0}
            message.set(INTENT, intent, add_to_output=True)
            # What looked like an ID in a password ("Sunset2024!") is the password: it must not
            # become the Device ID slot, be checked, or be read back.
            message.set(ENTITIES, _without_device_ids(message), add_to_output=True)
            ranking = [intent, *_ranking_without_share_password(message)]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        return messages

    def _take_back_share_password(self, message: Message) -> None:
        predicted = message.get(INTENT) or {}
        if predicted.get(INTENT_NAME_KEY) != SHARE_PASSWORD_INTENT:
            return
        ranking = _ranking_without_share_password(message)
        if ranking:
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            self._fallback.process([message])


def _without_device_ids(message: Message) -> list[dict[str, Any]]:
    return [
        entity for entity in message.get(ENTITIES, []) if entity.get("entity") != "device_id"
    ]


def _ranking_without_share_password(message: Message) -> list[dict[str, Any]]:
    return [
        ranked
        for ranked in message.get(INTENT_RANKING_KEY) or []
        if ranked.get(INTENT_NAME_KEY) != SHARE_PASSWORD_INTENT
    ]
