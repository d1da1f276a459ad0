"""The ``phone`` channel: Twilio voice calls to the assistant (registered in credentials.yml).

Twilio's webhooks, all ``POST`` under ``/webhooks/phone/``:

* ``voice``: "a call comes in", and every ``<Gather>`` answer (SpeechResult or Digits);
* ``status``: the call's status callback (hang-up ends the conversation);
* ``wait`` and ``after-queue``: the ``<Enqueue>`` wait URL and action URL while on hold;
* ``whisper`` and ``after-dial``: in dial mode, what the agent hears first, and the ``<Dial>``
  action URL when the agent's leg ends.

Every request is checked, in this order, before anything reaches the dialogue:

1. **Size**: at most :data:`MAX_BODY_BYTES`, judged from ``Content-Length`` and again while the
   body streams in (the routes are streamed, so Sanic does not read a body first); anything
   larger gets 413 before a byte of it is parsed. Twilio's webhooks are one or two kB. At most
   :data:`MAX_FIELDS` fields, counted before they are parsed (413 too).
2. **CallSid**: Twilio's shape (``CA`` + 32 hex digits) or 400, so no other string ever becomes a
   conversation id.
3. **Signature**: ``X-Twilio-Signature`` is checked with twilio's ``RequestValidator`` against
   ``PUBLIC_BASE_URL`` + the request's path (and query), with ``TWILIO_AUTH_TOKEN``, both from
   the Rasa process's settings (:mod:`bot.settings`), in a worker thread (never on the event
   loop). Missing or wrong signature, or the channel not configured: 403. The token is never
   logged.
4. **Once**: a copy of a request already answered gets 409; a request for a call that has ended
   gets a hang-up (see :mod:`bot.phone.once`). A request whose call stays locked by another of
   its requests for longer than it may wait gets 503.

Any instance serves any request of a call: what the call needs between two requests is in the
process's call store (:func:`bot.bootstrap.call_store`: memory, or Redis with ``REDIS_URL``).
Twilio's ``I-Twilio-Idempotency-Token`` (when it has a sane shape) becomes the ``message_id`` of
what the request sends the dialogue (``client:<token>``, numbered after the first), so a turn
that Twilio retries on another instance is the same message to Rasa.

Errors are JSON: ``{"error": ..., "message": ...}``.

One conversation per call: the sender id is the ``CallSid``. What is said to the caller and how
their answers are read (the language menu, Device ID by speech and keypad, read-back, reprompts,
queue, password) is :mod:`bot.phone.flow`; this module only adapts it to Rasa and Sanic. Every
message it sends the dialogue carries the call's language in its metadata
(:data:`bot.channels.client.LANGUAGE_KEY`), so the dialogue answers in it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.bootstrap import ProductServices, RasaServices, build_services, call_store, rasa_process
from bot.channels.chat_input import client_intents, intent_parse_data
from bot.channels.client import LANGUAGE_KEY
from bot.channels.turns import limit_turns
from bot.db import Database
from bot.devices.formats import load_formats
from bot.phone.call_lock import CallBusy
from bot.phone.calls import CallStore, is_call_sid
from bot.phone.content import PhoneContent, load_phone_languages
from bot.phone.flow import CallFlow
from bot.phone.lookup import RegistryIds
from bot.phone.once import OnceOnly, Replayed, SignedRequest
from bot.phone.twiml import TURN_PARAMETER, Urls
from bot.settings import BASE_URL_VARIABLE, TWILIO_TOKEN_VARIABLE, Settings, process_settings

logger = logging.getLogger(__name__)

CHANNEL = "phone"
# Twilio's webhook bodies are one or two kB (the longest field, SpeechResult, is a minute of
# speech at most); 16 kB leaves room for fields Twilio adds, and caps what a stranger makes the
# server parse and hash before the signature is known to be good at a few milliseconds.
MAX_BODY_BYTES = 16 * 1024
# Twilio sends 20 to 50 fields; a cap on the count keeps parsing and the signature check (which
# sorts and joins every field, twice) under a millisecond even for a body of small fields.
MAX_FIELDS = 100
FORM = "application/x-www-form-urlencoded"
# Parsing the form and checking the signature run here, off the event loop, apart from the default
# executor's other work (label photos), so a burst of either does not hold up the other.
_SIGNATURE_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="twilio-signature")
# Twilio's idempotency tokens are short printable ASCII; anything else is not used as a message id.
_IDEMPOTENCY_TOKEN = re.compile(r"[!-~]{1,128}")


class MessageIds:
    """The ``message_id`` of each message one request sends the dialogue: ``client:<token>``,
    then ``client:<token>:2`` ... (a request may send two: a failed turn, then an agent)."""

    def __init__(self, idempotency_token: str) -> None:
        valid = _IDEMPOTENCY_TOKEN.fullmatch(idempotency_token) is not None
        self._token = idempotency_token if valid else None
        self._sent = 0

    def next(self) -> str | None:
        if self._token is None:
            return None
        self._sent += 1
        suffix = "" if self._sent == 1 else f":{self._sent}"
        return f"client:{self._token}{suffix}"


# The request being answered (each Sanic request is a task of its own, with its own context).
_REQUEST_MESSAGE_IDS: ContextVar[MessageIds | None] = ContextVar("phone_message_ids", default=None)


class PhoneReplies(CollectingOutputChannel):
    """Collects the assistant's answers to one Twilio request."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL


class PhonePushOutput(CollectingOutputChannel):
    """For messages pushed from outside a request (the agent released a password, Rasa's
    ``output_channel=latest``): kept with the call in its store and spoken at its next request
    (on whichever instance it reaches)."""

    def __init__(self, calls: CallStore) -> None:
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
    """Rasa builds it from credentials.yml with no arguments: it then works with the Rasa
    process's settings and services (:func:`bot.bootstrap.rasa_process`), in every language (the
    caller chooses). A test may hand it its own database (stores built on it, settings from the
    environment) or services, and the content of one language (no menu) or of several."""

    def __init__(
        self,
        database: Database | None = None,
        calls: CallStore | None = None,
        content: PhoneContent | None = None,
        services: ProductServices | None = None,
        contents: Mapping[str, PhoneContent] | None = None,
    ) -> None:
        self._database = database
        self._services = services
        self._calls = calls
        if content is not None:
            contents = {content.code: content}
        self._contents = dict(contents or load_phone_languages())

    @property
    def calls(self) -> CallStore:
        """The calls in progress: given, or the process's (built on first use)."""
        if self._calls is None:
            self._calls = call_store(self._process().settings)
        return self._calls

    def _process(self) -> ProductServices:
        if self._services is None:
            if self._database is None:
                self._services = rasa_process()
            else:
                self._services = build_services(
                    process_settings(), database=self._database
                )
        return self._services

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def get_output_channel(self) -> PhonePushOutput:
        return PhonePushOutput(self.calls)

    def _flow(
        self, dialogue: Callable[[str, str, str], Awaitable[list[dict[str, Any]]]]
    ) -> CallFlow:
        services = self._process()
        first = next(iter(self._contents.values()))
        return CallFlow(
            content=first,
            contents=self._contents if len(self._contents) > 1 else None,
            formats=load_formats(),
            calls=self.calls,
            registry=RegistryIds(services.registry),
            limiter=services.limiter,
            store=services.cases,
            centre=services.centre,
            urls=Urls(services.settings.public_base_url),
            dialogue=dialogue,
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        phone = Blueprint("phone_webhook", __name__)
        services = self._process()
        settings = services.settings
        # A turn Twilio asks again (its retry, maybe to another instance, after the first died
        # having kept the turn but not the call) is answered with the first one's replies.
        on_new_message = limit_turns(
            on_new_message,
            at_once=settings.rasa_turns_at_once,
            failed_turn="raise",
            # (Tests that give the channel its own database run without records.)
            records=services.turn_records if isinstance(services, RasaServices) else None,
        )

        async def dialogue(call_sid: str, text: str, language: str) -> list[dict[str, Any]]:
            replies = PhoneReplies()
            # A key's intent message is parsed here: Rasa's pipeline would only replace its answer.
            parse_data = intent_parse_data(text, client_intents())
            ids = _REQUEST_MESSAGE_IDS.get()
            await on_new_message(
                UserMessage(
                    text,
                    replies,
                    call_sid,
                    parse_data=parse_data,
                    input_channel=CHANNEL,
                    message_id=None if ids is None else ids.next(),
                    metadata={LANGUAGE_KEY: language},
                )
            )
            messages: list[dict[str, Any]] = replies.messages
            return messages

        guard: list[OnceOnly] = []

        def current_guard() -> OnceOnly:
            if not guard:
                guard.append(OnceOnly(self._flow(dialogue)))
            return guard[0]

        @phone.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        async def answer(request: Request, step: str) -> HTTPResponse:
            checked = await _checked(request, settings)
            if isinstance(checked, HTTPResponse):
                return checked
            params, signed = checked
            once = current_guard()
            _REQUEST_MESSAGE_IDS.set(MessageIds(signed.idempotency_token))
            try:
                if step == "status":
                    await once.status_request(params, signed)
                    return response.empty()
                return _twiml(await once.handle(step, params, signed))
            except Replayed:
                logger.warning("phone: refused a copy of a request already answered (%s)", step)
                return _error(409, "replayed", "This request was already answered.")
            except CallBusy:
                logger.warning("phone: the call stayed busy with another request (%s)", step)
                return _error(503, "busy", "Another request of this call is being answered.")
            except Exception:
                # The caller hears an apology and where else to get help, not Twilio's
                # "application error". (The request's fields are not logged: they hold speech.)
                logger.exception("phone: %s failed for a call", step)
                language = _call_language(self.calls, params.get("CallSid", ""))
                return _twiml(once.flow.technical_problem(language).to_xml())

        @phone.route("/voice", methods=["POST"], stream=True)
        async def voice(request: Request) -> HTTPResponse:
            return await answer(request, "voice")

        @phone.route("/wait", methods=["POST"], stream=True)
        async def wait(request: Request) -> HTTPResponse:
            return await answer(request, "wait")

        @phone.route("/after-queue", methods=["POST"], stream=True)
        async def after_queue(request: Request) -> HTTPResponse:
            return await answer(request, "after_queue")

        @phone.route("/whisper", methods=["POST"], stream=True)
        async def whisper(request: Request) -> HTTPResponse:
            return await answer(request, "whisper")

        @phone.route("/after-dial", methods=["POST"], stream=True)
        async def after_dial(request: Request) -> HTTPResponse:
            return await answer(request, "after_dial")

        @phone.route("/status", methods=["POST"], stream=True)
        async def status(request: Request) -> HTTPResponse:
            return await answer(request, "status")

        return phone


async def _checked(
    request: Request, settings: Settings
) -> tuple[dict[str, str], SignedRequest] | HTTPResponse:
    """The request's fields and identity once it passed every check, or the refusal."""
    body = await _bounded_body(request)
    if body is None:
        return _error(
            413, "too_large", f"A Twilio request body is at most {MAX_BODY_BYTES} bytes."
        )
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        form = parse_qs(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,  # counted before anything is parsed
        ) if content_type == FORM else {}
    except ValueError:
        return _error(
            413, "too_many_fields", f"A Twilio request has at most {MAX_FIELDS} fields."
        )
    params = _params(request, form)
    if not is_call_sid(params.get("CallSid", "")):
        return _error(400, "bad_call_sid", "CallSid must be Twilio's: CA and 32 hex digits.")
    signature = request.headers.get("X-Twilio-Signature", "")
    url = signed_url(settings.public_base_url, request)
    authentic = await asyncio.get_running_loop().run_in_executor(
        _SIGNATURE_CHECKS, _authentic, url, form, signature, request.path, settings
    )
    if not authentic:
        return _error(403, "forbidden", "The request is not signed by Twilio for this URL.")
    turn = request.args.get(TURN_PARAMETER)
    idempotency_token = request.headers.get("I-Twilio-Idempotency-Token", "")
    return params, SignedRequest(signature, idempotency_token, turn)


async def _bounded_body(request: Request) -> bytes | None:
    """The body, or None once it is over :data:`MAX_BODY_BYTES` (declared or streamed).

    The rest of an oversized body is never kept: Sanic reads and drops it after the answer, so
    the client gets the 413 rather than a reset connection.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    assert request.stream is not None  # the routes are streamed
    while (chunk := await request.stream.read()) is not None:
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _authentic(
    url: str, form: dict[str, list[str]], signature: str, path: str, settings: Settings
) -> bool:
    token = settings.twilio_auth_token
    if not settings.public_base_url or not token:
        logger.warning(
            "phone: %s and %s must be set to accept Twilio's requests",
            BASE_URL_VARIABLE,
            TWILIO_TOKEN_VARIABLE,
        )
        return False
    if not signature:
        return False
    # Twilio signs every field it sends, blank ones included (``CallerZip=``).
    valid: bool = RequestValidator(token).validate(url, RequestParameters(form), signature)
    if not valid:
        logger.warning("phone: refused a request to %s with a wrong signature", path)
    return valid


def _params(request: Request, form: dict[str, list[str]]) -> dict[str, str]:
    """The request's fields (the query's too: signed like the rest), one value each."""
    query = {key: str(request.args.get(key) or "") for key in request.args}
    return {**query, **{key: values[0] if values else "" for key, values in form.items()}}


def _call_language(calls: CallStore, sid: str) -> str | None:
    """The call's language for an apology, if the store can still tell (it may be what failed)."""
    try:
        call = calls.get(sid)
    except Exception:  # the apology is said in English then
        return None
    return None if call is None else call.language


def _twiml(twiml: str) -> HTTPResponse:
    return response.text(twiml, content_type="application/xml")


def _error(status: int, error: str, message: str) -> HTTPResponse:
    return response.json({"error": error, "message": message}, status=status)
