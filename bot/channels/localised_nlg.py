"""Rasa's responses in the conversation's language (endpoints.yml's ``nlg``).

English is the domain's own; Spanish and French are data/content/<lang>/responses.yml, with the
same variations (bot/localisation.py checks it). The language is the one the conversation action
chose for this turn (a ``language`` value sent with each message: the slot is set only after the
turn's messages are rendered), else the ``language`` slot.
"""

from __future__ import annotations

from typing import Any

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.localisation import ENGLISH, LANGUAGES, language_or_none, load_responses


class LocalisedResponses(TemplatedNaturalLanguageGenerator):
    def __init__(
        self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None
    ) -> None:
        super().__init__((domain or Domain.empty()).responses)
        self._translations = {
            language: TemplatedNaturalLanguageGenerator(load_responses(language))
            for language in LANGUAGES
            if language != ENGLISH
        }

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        language = language_or_none(kwargs.get("language")) or language_or_none(
            tracker.get_slot("language")
        )
        translation = self._translations.get(language or ENGLISH)
        generator: TemplatedNaturalLanguageGenerator = self
        if translation is not None and utter_action in translation.responses:
            generator = translation
        response: dict[str, Any] | None = await TemplatedNaturalLanguageGenerator.generate(
            generator, utter_action, tracker, output_channel, **kwargs
        )
        return response
