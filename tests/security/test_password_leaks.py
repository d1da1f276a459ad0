"""A password typed into the chat is never kept or repeated.

What the product withstands here (finding 4 of issue 13):

- an owner who types their old password while the assistant asks for the Device ID ("my old
  password was Sunset2024!"): the password guard calls the message password-shaped, so no
  Device ID candidate comes out of it. Nothing of the password reaches the ``device_id`` slot,
  the assistant's reply, the conversation's events (what the agent console shows) or the
  server log;
- a message that used to crash the NLU (a lone UTF-16 surrogate, JSON's ``"\\ud800"``): the
  pipeline understands it, and Rasa's own failure log lines carry no user text, nor do their
  tracebacks' local variables.

All against the real model: the running product over HTTP (REST channel, Rasa's API), and
Rasa's own logging configuration in a separate process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.security.product import Product, started_product

# Read back the way the assistant reads IDs (upper case, look-alikes swapped, in chunks), so the
# search finds "SUNSET2024" and "SUNS ET20 24" alike.
_LOOKALIKES = str.maketrans("0Q1L2568", "OOIIZSGB")
PASSWORDS = {
    "my old password was Sunset2024!": "Sunset2024",
    "Meadow7Lark9!": "Meadow7Lark9",
    "I think it was Tr0ub4dor&3": "Tr0ub4dor",
}


def canonical(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper()).translate(_LOOKALIKES)


def leaks(secret: str, haystack: str) -> bool:
    return canonical(secret) in canonical(haystack) or secret in haystack


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    with started_product(tmp_path_factory.mktemp("password-leaks")) as running:
        yield running


@pytest.mark.parametrize("message", PASSWORDS)
def test_a_password_typed_for_the_device_id_is_neither_kept_nor_repeated(
    product: Product, message: str
) -> None:
    secret = PASSWORDS[message]
    sender = f"leak-{uuid.uuid4().hex[:10]}"
    assert "Device ID" in product.texts(sender, "I forgot my recorder password")

    reply = product.texts(sender, message)

    assert not leaks(secret, reply), reply
    assert "password" in reply.lower()  # the owner is told not to share it
    tracker = product.tracker(sender)
    assert tracker["slots"]["device_id"] is None
    assert not leaks(secret, json.dumps(tracker["events"])), "the conversation keeps it"
    assert not leaks(secret, product.log()), "the server log has it"


def test_the_nlu_understands_a_message_with_a_lone_surrogate(product: Product) -> None:
    body = b'{"text": "it is nd48-1027-3945-kxq \\ud800"}'
    reply = requests.post(
        f"{product.rasa_url}/model/parse",
        params={"token": product.api_token},
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text[:300]
    entities = {e["entity"]: e["value"] for e in reply.json()["entities"]}
    assert entities.get("device_id") == "ND4810273945KXQ"


def test_a_chat_message_with_a_lone_surrogate_is_not_logged(product: Product) -> None:
    body = b'{"sender": "surrogate-1", "message": "my old pw Sunset2024! \\ud800"}'
    reply = requests.post(
        f"{product.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    # Refused by the channel (400), or answered: either way, never a crash with the text logged.
    assert reply.status_code in (200, 400), reply.text[:300]
    log = product.log()
    assert "rest.message.received.failure" not in log
    assert "Sunset2024" not in log


def test_rasas_failure_log_lines_carry_no_user_text(tmp_path: Path) -> None:
    """Rasa's own logging set-up, as `rasa run` makes it (JSON lines), with the redaction the
    password guard installs: a failure while handling a message logs its event, its error and
    its frames, but neither the message's text nor any frame's local variables."""
    script = textwrap.dedent(
        """
        import structlog
        from rasa.utils.log_utils import configure_structlog
        from bot.privacy.log_redaction import redact_user_text_in_logs

        configure_structlog()
        logger = structlog.get_logger()
        logger.info("before", text="not yet redacted: Sunset2024!")  # a logger in use already
        redact_user_text_in_logs()

        def handle(text):
            raise UnicodeEncodeError("utf-8", text, 0, 1, "surrogates not allowed")

        user_text = "my old password was Sunset2024!"
        try:
            handle(user_text)
        except Exception:
            logger.exception("rest.message.received.failure", text=user_text)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=True,
    )
    lines = [line for line in done.stdout.splitlines() if "rest.message.received.failure" in line]
    assert len(lines) == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "UnicodeEncodeError" in lines[0]
    assert "Sunset2024" not in lines[0]
    logged = json.loads(lines[0])
    frames = [frame for error in logged["exception"] for frame in error["frames"]]
    assert frames and all(not frame.get("locals") for frame in frames)
