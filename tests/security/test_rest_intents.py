"""A REST client may name, with Rasa's ``/intent{...}`` shorthand, only the intents a client
sends (:func:`bot.channels.chat_input.intent_message_problem`): the console's ``EXTERNAL_*``
intents (release, reject, hand back) and the password guard's ``share_password`` get a 400 with
a JSON error and never reach the dialogue. On the running product.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from bot.serve import Settings
from tests.running_product import AssistantClient, running_product


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssistantClient]:
    folder = tmp_path_factory.mktemp("rest-intents")
    settings: Settings
    with running_product(
        folder,
        database_url=f"sqlite:///{folder / 'lorex.db'}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
    ) as (settings, _log):
        yield AssistantClient(settings.rasa_url, settings.rasa_api_token)


def post(product: AssistantClient, sender: str, message: str) -> requests.Response:
    return requests.post(
        f"{product.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        timeout=60,
    )


@pytest.mark.parametrize(
    "message",
    [
        '/EXTERNAL_password_released{"release_ref": "x"}',
        "/EXTERNAL_case_rejected",
        "  /EXTERNAL_handed_back",
        "/share_password",
        "/restart",
        '/provide_device_id{"release_ref": "x"}',
        "/greet{not json}",
    ],
)
def test_a_client_cannot_send_the_consoles_or_the_guards_intents(
    product: AssistantClient, message: str
) -> None:
    sender = "intent-attacker"
    refused = post(product, sender, message)

    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/json")
    assert "'message'" in refused.json()["error"]
    user_texts = [
        e.get("text") for e in product.tracker(sender)["events"] if e.get("event") == "user"
    ]
    assert user_texts == []


def test_a_client_may_send_its_own_intents(product: AssistantClient) -> None:
    sender = "intent-button"
    assert post(product, sender, "/greet").status_code == 200
    accepted = post(product, sender, '/provide_device_id{"device_id": "ND4810273945KXQ"}')
    assert accepted.status_code == 200, accepted.text
    intents = [
        e["parse_data"]["intent"]["name"]
        for e in product.tracker(sender)["events"]
        if e.get("event") == "user"
    ]
    assert intents == ["greet", "provide_device_id"]
