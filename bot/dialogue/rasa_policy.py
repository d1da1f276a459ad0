"""The dialogue policy: every user message (typed, a button, a phone key, or an EXTERNAL_ intent
the agent console triggers) goes to one action, ``action_converse``, which runs the controller
(:mod:`bot.dialogue.controller`); after it, the assistant listens.

Registered with Rasa's recipe (config.yml ``policies``), so ``rasa train``, ``rasa test``,
``rasa shell`` and the server all run it. It has nothing to learn: no featurising, no training.
This is the only module of :mod:`bot.dialogue` that imports Rasa.
"""

from __future__ import annotations

from typing import Any

from rasa.core.constants import POLICY_PRIORITY, RULE_POLICY_PRIORITY
from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

CONVERSE = "action_converse"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=False
)
class ConversationPolicy(Policy):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # The only policy: its priority orders nothing, but Rasa requires one.
        return {POLICY_PRIORITY: RULE_POLICY_PRIORITY}

    @staticmethod
    def supported_data() -> SupportedData:
        return SupportedData.ML_AND_RULE_DATA

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> ConversationPolicy:
        return cls(config, model_storage, resource, execution_context)

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """``action_converse`` right after a user message, ``action_listen`` otherwise."""
        after_user = isinstance(_last_turn_event(tracker), UserUttered)
        action = CONVERSE if after_user else ACTION_LISTEN_NAME
        probabilities = self._default_predictions(domain)
        probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities)


def _last_turn_event(tracker: DialogueStateTracker) -> Any:
    """The latest user message or action (slot and other events in between do not count)."""
    for event in reversed(tracker.events):
        if isinstance(event, (UserUttered, ActionExecuted)):
            return event
    return None
