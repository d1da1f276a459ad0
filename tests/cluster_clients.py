"""The owners and callers of the cluster tests, each behaving as its real client does when the
instance it reached dies: every message carries a key and is sent again, with the same key,
until it is answered.

- :class:`RestOwner`: a REST client with ``Idempotency-Key``.
- :class:`SocketOwner`: the web chat as the widget behaves (engine.io's long-polling here: the
  Python client cannot open WebSockets with the aiohttp Rasa pins): a message id per message,
  the session asked for again after each reconnection, and an unacknowledged message sent again.
- :class:`Caller`: Twilio, signing each request for the public URL, with its idempotency token,
  following the TwiML's URLs, and sending a request again when it got no answer.

Each ``say`` blocks (the tests run each participant in a thread) and gives what was answered.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import socketio  # type: ignore[import-untyped]
from twilio.request_validator import RequestValidator

GIVE_UP_AFTER = 90.0  # seconds a client keeps sending a message again
RESEND_AFTER = 0.5  # seconds between two tries
ANSWER_SECONDS = 30.0  # how long the web chat waits for a turn's answer on an open connection


def _keep_trying(what: str, attempt: Any) -> Any:
    deadline = time.monotonic() + GIVE_UP_AFTER
    while True:
        outcome, problem = attempt()
        if problem is None:
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer to {what!r} in {GIVE_UP_AFTER} s: {problem}")
        time.sleep(RESEND_AFTER)


@dataclass
class RestOwner:
    base_url: str
    sender: str = field(default_factory=lambda: f"rest-{uuid.uuid4().hex[:10]}")
    answers: list[list[dict[str, Any]]] = field(default_factory=list)

    @property
    def conversation_id(self) -> str:
        return self.sender

    def say(self, text: str) -> list[dict[str, Any]]:
        key = str(uuid.uuid4())

        def attempt() -> tuple[Any, str | None]:
            try:
                reply = requests.post(
                    f"{self.base_url}/webhooks/rest/webhook",
                    json={"sender": self.sender, "message": text},
                    headers={"Idempotency-Key": key},
                    timeout=30,
                )
            except requests.RequestException as error:
                return None, repr(error)
            if reply.status_code != 200:
                return None, f"HTTP {reply.status_code}: {reply.text[:200]}"
            return reply.json(), None

        answer: list[dict[str, Any]] = _keep_trying(text, attempt)
        self.answers.append(answer)
        return answer


class SocketOwner:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token: str | None = None
        self.confirmed = threading.Event()
        self.received: list[dict[str, Any]] = []
        self.client = socketio.Client(
            reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0
        )
        self.client.on("connect", self._ask_for_session)
        self.client.on("session_confirm", self._confirmed)
        self.client.on("disconnect", self.confirmed.clear)
        self.client.on("bot_uttered", self.received.append)

    @property
    def conversation_id(self) -> str:
        from bot.channels.chat_sessions import conversation_id_of

        assert self.token is not None
        return conversation_id_of(self.token)

    def connect(self) -> None:
        self.client.connect(self.base_url, socketio_path="/socket.io", transports=["polling"])
        assert self.confirmed.wait(30), "no session confirmed"

    def _ask_for_session(self) -> None:
        self.client.emit("session_request", {"session_id": self.token})

    def _confirmed(self, token: str) -> None:
        self.token = token
        self.confirmed.set()

    def say(self, text: str) -> None:
        message_id = secrets.token_urlsafe(12)

        def attempt() -> tuple[Any, str | None]:
            if not self.confirmed.wait(5):
                return None, "no session (reconnecting)"
            answered = threading.Event()
            try:
                self.client.emit(
                    "user_uttered",
                    {"message": text, "message_id": message_id},
                    callback=lambda *_: answered.set(),
                )
            except socketio.exceptions.BadNamespaceError as error:
                return None, repr(error)
            # As the widget: answered, or sent again once the session is confirmed again.
            deadline = time.monotonic() + ANSWER_SECONDS
            while not answered.wait(0.1):
                if not self.confirmed.is_set():
                    return None, "the connection dropped before the answer"
                if time.monotonic() > deadline:
                    return None, f"no answer in {ANSWER_SECONDS} s"
            return None, None

        _keep_trying(text, attempt)

    def close(self) -> None:
        # At once: a plain disconnect waits for the pending long-poll to come back.
        self.client.eio.disconnect(abort=True)


PUBLIC = "https://lorex-phone.example.test"


@dataclass
class Caller:
    """Twilio, for one call, against the product at ``base_url`` that believes it sits at
    :data:`PUBLIC`."""

    base_url: str
    auth_token: str
    call_sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    caller: str = "+12025550110"
    next_urls: dict[str, str] = field(default_factory=dict)
    answers: list[ET.Element] = field(default_factory=list)

    @property
    def conversation_id(self) -> str:
        return self.call_sid

    def post(self, path: str, **params: str) -> ET.Element:
        url = self.next_urls.get(path, PUBLIC + path)
        form = {"CallSid": self.call_sid, "From": self.caller, "To": "+18885550000", **params}
        headers = {
            "X-Twilio-Signature": RequestValidator(self.auth_token).compute_signature(url, form),
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }

        def attempt() -> tuple[Any, str | None]:
            try:
                answer = requests.post(
                    self.base_url + url.removeprefix(PUBLIC), data=form, headers=headers, timeout=30
                )
            except requests.RequestException as error:
                return None, repr(error)
            if answer.status_code != 200:
                return None, f"HTTP {answer.status_code}: {answer.text[:200]}"
            return answer.text, None

        text = _keep_trying(f"{path} {params}", attempt)
        twiml = ET.fromstring(text) if text else ET.Element("Response")
        for named in [
            *(gather.get("action") for gather in twiml.iter("Gather")),
            *(enqueue.get("waitUrl") for enqueue in twiml.iter("Enqueue")),
            *(enqueue.get("action") for enqueue in twiml.iter("Enqueue")),
            *(redirect.text for redirect in twiml.iter("Redirect")),
        ]:
            if named:
                self.next_urls[urlsplit(named).path] = named
        self.answers.append(twiml)
        return twiml

    def say(self, step: str) -> ET.Element:
        """A step of the call: ``ring``, ``press:<digits>`` or words spoken."""
        if step == "ring":
            answer = self.post("/webhooks/phone/voice", CallStatus="ringing")
            # The language menu (one key): English, as a caller pressing 1; the ring's answer is
            # then the menu's.
            menu = answer.find(".//Gather")
            if menu is not None and menu.get("numDigits") == "1":
                self.answers.pop()
                return self.post("/webhooks/phone/voice", Digits="1")
            return answer
        if step.startswith("press:"):
            return self.post("/webhooks/phone/voice", Digits=step.removeprefix("press:"))
        return self.post("/webhooks/phone/voice", SpeechResult=step, Confidence="0.92")


def spoken(twiml: ET.Element) -> str:
    return " ".join(say.text or "" for say in twiml.iter("Say"))
