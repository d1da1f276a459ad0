"""The ``phone`` channel: Twilio voice calls to the assistant (registered in credentials.yml).

Twilio's webhooks, all ``POST`` under ``/webhooks/phone/``:

* ``voice``: "a call comes in", and every ``<Gather>`` answer (SpeechResult or Digits);
* ``status``: the call's status callback (hang-up ends the conversation);
* ``wait`` and ``after-queue``: the ``<Enqueue>`` wait URL and action URL while on hold;
* ``whisper`` and ``after-dial``: in dial mode, what the agent hears first, and the ``<Dial>``
  action URL when the agent's leg ends.

Every request's ``X-Twilio-Signature`` is checked with twilio's ``RequestValidator`` against
``PUBLIC_BASE_URL`` + the request's path (and query), with ``TWILIO_AUTH_TOKEN``: both are read
from the environment. Missing or wrong signature, or the channel not configured: 403, and nothing
reaches the dialogue. The token is never logged.

One conversation per call: the sender id is the ``CallSid``. What is said to the caller and how
their answers are read (Device ID by speech and keypad, read-back, reprompts, queue, password)
is :mod:`bot.phone.flow`; this module only adapts it to Rasa and Sanic.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.cases.store import CaseStore
from bot.channels.turns import limit_turns
from bot.db import Database
from bot.devices.formats import load_formats
from bot.devices.registry import DeviceRegistry
from bot.handoff.support_centre import load_support_centre
from bot.phone.calls import Calls
from bot.phone.content import PhoneContent, load_phone_content
from bot.phone.flow import CallFlow
from bot.phone.lookup import RegistryIds
from bot.phone.twiml import Urls

logger = logging.getLogger(__name__)

CHANNEL = "phone"
BASE_URL_VARIABLE = "PUBLIC_BASE_URL"
TOKEN_VARIABLE = "TWILIO_AUTH_TOKEN"


class PhoneReplies(CollectingOutputChannel):
    """Collects the assistant's answers to one Twilio request."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL


class PhonePushOutput(CollectingOutputChannel):
    """For messages pushed from outside a request (the agent released a password, Rasa's
    ``output_channel=latest``): kept in the call's memory and spoken at its next request."""

    def __init__(self, calls: Calls) -> None:
        super().__init__()
        self._calls = calls

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def _persist_message(self, message: dict[str, Any]) -> None:
        recipient = str(message.get("recipient_id", ""))
        if not self._calls.push(recipient, message):
            logger.info("phone: a message for call %s arrived after the call ended", recipient)


def signed_url(base_url: str, request: Request) -> str:
    """The URL Twilio signed: the public base URL, then the path and query it requested."""
    query = f"?{request.query_string}" if request.query_string else ""
    return base_url.rstrip("/") + request.path + query


class PhoneChannel(InputChannel):
    def __init__(
        self,
        database: Database | None = None,
        calls: Calls | None = None,
        content: PhoneContent | None = None,
    ) -> None:
        self._database = database
        self.calls = calls or Calls()
        self._content = content

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def get_output_channel(self) -> PhonePushOutput:
        return PhonePushOutput(self.calls)

    def _flow(self, dialogue: Callable[[str, str], Awaitable[list[dict[str, Any]]]]) -> CallFlow:
        if self._database is None:
            self._database = Database()
        return CallFlow(
            content=self._content or load_phone_content(),
            formats=load_formats(),
            calls=self.calls,
            registry=RegistryIds(DeviceRegistry(self._database)),
            store=CaseStore(self._database),
            centre=load_support_centre(),
            urls=Urls(os.environ.get(BASE_URL_VARIABLE, "")),
            dialogue=dialogue,
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        phone = Blueprint("phone_webhook", __name__)
        on_new_message = limit_turns(on_new_message)

        async def dialogue(call_sid: str, text: str) -> list[dict[str, Any]]:
            replies = PhoneReplies()
            await on_new_message(
                UserMessage(text, replies, call_sid, input_channel=CHANNEL)
            )
            messages: list[dict[str, Any]] = replies.messages
            return messages

        flow: list[CallFlow] = []

        def current_flow() -> CallFlow:
            if not flow:
                flow.append(self._flow(dialogue))
            return flow[0]

        @phone.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def answer(request: Request, step: str) -> HTTPResponse:
            if not _authentic(request):
                return _forbidden()
            flow = current_flow()
            try:
                handler = {
                    "voice": flow.voice,
                    "wait": flow.wait,
                    "after_queue": flow.after_queue,
                    "whisper": flow.whisper,
                    "after_dial": flow.after_dial,
                }[step]
                return _twiml(await handler(_params(request)))
            except Exception:
                # The caller hears an apology and where else to get help, not Twilio's
                # "application error". (The request's fields are not logged: they hold speech.)
                logger.exception("phone: %s failed for a call", step)
                return _twiml(flow.technical_problem())

        @phone.route("/voice", methods=["POST"])
        async def voice(request: Request) -> HTTPResponse:
            return await answer(request, "voice")

        @phone.route("/wait", methods=["POST"])
        async def wait(request: Request) -> HTTPResponse:
            return await answer(request, "wait")

        @phone.route("/after-queue", methods=["POST"])
        async def after_queue(request: Request) -> HTTPResponse:
            return await answer(request, "after_queue")

        @phone.route("/whisper", methods=["POST"])
        async def whisper(request: Request) -> HTTPResponse:
            return await answer(request, "whisper")

        @phone.route("/after-dial", methods=["POST"])
        async def after_dial(request: Request) -> HTTPResponse:
            return await answer(request, "after_dial")

        @phone.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            if not _authentic(request):
                return _forbidden()
            current_flow().status(_params(request))
            return response.empty()

        return phone


def _authentic(request: Request) -> bool:
    base_url = os.environ.get(BASE_URL_VARIABLE, "").strip()
    token = os.environ.get(TOKEN_VARIABLE, "")
    if not base_url or not token:
        logger.warning(
            "phone: %s and %s must be set to accept Twilio's requests",
            BASE_URL_VARIABLE,
            TOKEN_VARIABLE,
        )
        return False
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    valid: bool = RequestValidator(token).validate(
        signed_url(base_url, request), _form(request), signature
    )
    if not valid:
        logger.warning("phone: refused a request to %s with a wrong signature", request.path)
    return valid


def _form(request: Request) -> RequestParameters:
    """The posted fields, blank ones included: Twilio signs every field it sends, and sends some
    empty (``CallerZip=``), which Sanic's ``request.form`` would drop."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        return RequestParameters()
    body = request.body.decode("utf-8", errors="replace")
    return RequestParameters(parse_qs(body, keep_blank_values=True))


def _params(request: Request) -> dict[str, str]:
    """The request's fields (the query's too: signed like the rest), one value each."""
    form = _form(request)
    query = {key: str(request.args.get(key) or "") for key in request.args}
    return {**query, **{key: str(form.get(key) or "") for key in form}}


def _twiml(twiml: Any) -> HTTPResponse:
    return response.text(twiml.to_xml(), content_type="application/xml")


def _forbidden() -> HTTPResponse:
    return response.text("forbidden", status=403)
