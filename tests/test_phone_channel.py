"""The phone channel over HTTP, as Twilio calls it: signed form posts, TwiML back.

A real Sanic server with just the channel's blueprint, on SQLite and PostgreSQL. The dialogue is
a small stand-in that answers through the output channel it is given (as Rasa does) and opens
and queues cases through the real case store: it tests the channel, not the dialogue (which has
its own tests). Signatures are computed with twilio's RequestValidator and checked for real.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot.bootstrap import rasa_process
from bot.cases.conversation import ConversationCases
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.channels.phone import MessageIds, PhoneChannel
from bot.db import UTC, Database
from bot.devices.registry import DeviceRegistry
from bot.handoff.temporary_password import TemporaryPassword
from bot.phone import call_lock
from bot.phone.calls import CallStore
from bot.phone.content import PhoneContent, load_phone_content
from tests.conftest import SAMPLE_DEVICES, WriteCsv
from tests.console_server import free_port

TOKEN = "test-auth-token-" + uuid.uuid4().hex
PUBLIC = "https://lorex.example.test"
CONTENT = load_phone_content()
ASK_ID = (
    "Lorex releases a temporary password for a specific recorder, so I need its **Device ID**. "
    "What is it? If you're not sure where to find it, just ask."
)
NOT_UNDERSTOOD = "Sorry, I didn't catch that. Say \"agent\" to reach a person."


def turn(expects: str, state: str | None = None, **fields: Any) -> dict[str, Any]:
    """The turn payload that ends every assistant turn (the channel contract)."""
    data = {"type": "turn", "state": state or expects, "expects": expects, "step": None,
            "total": None, "sensitive_input": False, "case": None, **fields}
    return {"data": data}


@dataclass
class FakeDialogue:
    """Stands in for Rasa: records each UserMessage and answers through its output channel, each
    answer ending with a turn payload. Its wording differs from the real assistant's on purpose:
    the channel must act on the payload alone."""

    database: Database
    received: list[UserMessage] = field(default_factory=list)
    broken: bool = False  # fails like Rasa when the action server is down
    expects: str = "nothing"  # what the last answer expected (kept when not understood)
    first_expects: str = "device_id"  # what the answer to the call's first turn expects

    async def __call__(self, message: UserMessage) -> None:
        if self.broken:
            raise RuntimeError("the action server is down")
        self.received.append(message)
        out, sid, text = message.output_channel, message.sender_id, message.text or ""
        cases = ConversationCases(CaseStore(self.database))
        registry = DeviceRegistry(self.database)
        device_id = _entity(text, "/provide_device_id", "device_id")

        async def answer(said: str, expects: str, state: str | None = None) -> None:
            self.expects = expects
            await out.send_text_message(sid, said)
            await out.send_custom_json(sid, turn(expects, state))

        if text == "/request_password_reset":
            cases.start_gathering(sid, "phone")
            await answer(ASK_ID, self.first_expects)
        elif device_id is not None and registry.find_by_device_id(device_id) is not None:
            queued = cases.queue_for_agent(sid, "phone", device_id=device_id, reason="checked")
            await answer(
                f"Thanks. I've opened support case **{queued.case.code}** for your N841. "
                "Please stay on the line.",
                "nothing",
                "queued",
            )
        elif text == "/request_human":
            queued = cases.queue_for_agent(sid, "phone", device_id=None, reason="asked")
            await answer(f"I've opened support case **{queued.case.code}**.", "nothing", "queued")
        elif text in ("/step_done", "/repeat", "/go_back", "/step_help"):
            await answer(f"A step, after {text.lstrip('/')}.", "step", "steps")
        elif text == "my details":
            await answer("And how can we reach the owner by mail?", "owner_email")
        elif text == "I have a case":
            # A returning caller: the proof may be an email, a phone number or the Device ID.
            await answer("Your email, phone number or Device ID, please.", "case_proof")
        elif "@" in text:
            await answer("Last one: the number on the registration?", "owner_phone")
        elif text == "what was the password again":
            await out.send_custom_json(
                sid,
                {"data": {"type": "temporary_password_again", "reference": "ref-1",
                          "valid_until": "2026-12-04T23:59:59-05:00"}},
            )
            await answer("Step 1 of 10: Right-click on the screen.", "step", "steps")
        elif text == "a yes or no question":
            await answer("Shall I put you through? Your Device ID is safe.", "yes_no")
        elif text in ("where do I find it", "help"):
            await answer(
                "1. On the label, beside the QR code.\n2. In the Lorex app: **Settings > "
                "Device Info**.\nIt is not the serial number. What is it?",
                "device_id",
            )
        else:
            await out.send_text_message(sid, NOT_UNDERSTOOD)
            await out.send_custom_json(sid, turn(self.expects, understood=False))


def _entity(text: str, intent: str, entity: str) -> str | None:
    """The entity's value in an ``/intent{"entity": "value"}`` message, if it is that intent."""
    if not text.startswith(intent + "{"):
        return None
    value = json.loads(text.removeprefix(intent)).get(entity)
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Sent:
    """One request as Twilio sent it: enough to send it again, to any instance."""

    path: str  # the public URL's path and query
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Phone:
    """A Twilio stand-in: signs and posts what Twilio would (with an idempotency token of its
    own for each request), parses the TwiML answered, and (as Twilio does) posts the call's next
    request to the URL the last TwiML named for it, with the turn token that URL carries."""

    url: str
    channel: PhoneChannel
    dialogue: FakeDialogue
    call_sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    caller: str = "+14165550101"
    next_urls: dict[str, str] = field(default_factory=dict)  # path -> public URL named last
    queue_time: int = 0
    sent: list[Sent] = field(default_factory=list)

    def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        token: str = TOKEN,
        sign_url: str | None = None,
        signature: str | None = None,
    ) -> requests.Response:
        target = self.next_urls.get(path) or self._at_current_turn(path)
        form = {"CallSid": self.call_sid, "From": self.caller, "AccountSid": "AC1", **params}
        if path == "/webhooks/phone/wait" and "QueueTime" not in params:
            self.queue_time += 20  # Twilio asks the wait URL again when the hold music ends
            form["QueueTime"] = str(self.queue_time)
        if signature is None:
            signature = RequestValidator(token).compute_signature(sign_url or target, form)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        headers["I-Twilio-Idempotency-Token"] = str(uuid.uuid4())
        sent = Sent(target.removeprefix(PUBLIC), form, headers)
        self.sent.append(sent)
        return self.resend(sent)

    def resend(
        self, sent: Sent, *, url: str | None = None, idempotency_token: str | None = None
    ) -> requests.Response:
        """``sent`` again (to the server at ``url``): Twilio's retry, or, with another
        idempotency token, someone's copy."""
        headers = dict(sent.headers)
        if idempotency_token is not None:
            headers["I-Twilio-Idempotency-Token"] = idempotency_token
        local = (url or self.url) + sent.path
        return requests.post(local, data=sent.form, headers=headers, timeout=20)

    def _at_current_turn(self, path: str) -> str:
        """For a test that skips the TwiML naming ``path`` (after-queue without the queue): the
        URL as the call's current answer would have named it."""
        call = self.channel.calls.get(self.call_sid)
        if call is None or "?" in path or path.endswith(("/status", "/whisper")):
            return PUBLIC + path
        return f"{PUBLIC}{path}?{urlencode({'turn': call.turn})}"

    def twiml(self, path: str, **params: str) -> ET.Element:
        answer = self.post(path, params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/xml")
        twiml = ET.fromstring(answer.text)
        self.follow(twiml)
        return twiml

    def follow(self, twiml: ET.Element) -> None:
        """Remember the URLs the TwiML names for the call's next requests."""
        named = [
            *(gather.get("action") for gather in twiml.iter("Gather")),
            *(enqueue.get("waitUrl") for enqueue in twiml.iter("Enqueue")),
            *(verb.get("action") for verb in [*twiml.iter("Enqueue"), *twiml.iter("Dial")]),
            *(redirect.text for redirect in twiml.iter("Redirect")),
        ]
        for url in named:
            if url:
                self.next_urls[urlsplit(url).path] = url

    def ring(self) -> ET.Element:
        """The call comes in; where the channel offers several languages (the language menu: one
        key), English is chosen (tests/test_phone_languages.py tests the menu)."""
        twiml = self.twiml("/webhooks/phone/voice", CallStatus="ringing")
        listening = twiml.find("Gather")
        if listening is not None and listening.get("numDigits") == "1":
            return self.press("1")
        return twiml

    def say(self, speech: str) -> ET.Element:
        return self.twiml("/webhooks/phone/voice", SpeechResult=speech, Confidence="0.9")

    def press(self, digits: str) -> ET.Element:
        return self.twiml("/webhooks/phone/voice", Digits=digits)

    def silence(self) -> ET.Element:
        return self.twiml("/webhooks/phone/voice")

    def hang_up(self, status: str = "completed") -> requests.Response:
        return self.post("/webhooks/phone/status", {"CallStatus": status})

    def new_call(self) -> None:
        self.call_sid, self.next_urls = "CA" + uuid.uuid4().hex, {}


def provided(device_id: str) -> str:
    """What a confirmed Device ID reaches the dialogue as."""
    return '/provide_device_id{"device_id": "' + device_id + '"}'


def at_turn(url: str | None, path: str) -> bool:
    """Whether ``url`` is the public URL of ``path`` with a turn token."""
    return url is not None and url.startswith(PUBLIC + path + "?turn=")


def spoken(twiml: ET.Element) -> str:
    return " ".join(say.text or "" for say in twiml.iter("Say"))


def gather(twiml: ET.Element) -> ET.Element:
    found = twiml.find("Gather")
    assert found is not None, ET.tostring(twiml)
    return found


@contextmanager
def serving(
    database: Database,
    content: PhoneContent = CONTENT,
    *,
    calls: CallStore | None = None,
    dialogue: FakeDialogue | None = None,
    contents: Mapping[str, PhoneContent] | None = None,
) -> Iterator[Phone]:
    """The channel's blueprint on a real Sanic server, on a free port, in a background thread:
    on its own call store (the process's), or on ``calls``; in ``content``'s language alone, or
    in every language of ``contents`` (the caller chooses)."""
    channel = PhoneChannel(
        database=database, calls=calls, content=None if contents else content, contents=contents
    )
    dialogue = dialogue or FakeDialogue(database)
    port = free_port()
    Sanic.test_mode = True
    app = Sanic(f"phone_test_{port}")
    app.blueprint(channel.blueprint(dialogue), url_prefix="/webhooks/phone")
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            app.create_server(
                host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
            )
        )
        loop.run_until_complete(server.startup())
        holder["server"] = server
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(20)
    try:
        yield Phone(f"http://127.0.0.1:{port}", channel, dialogue)
    finally:

        async def shut_down() -> None:
            server = holder["server"]
            await server.before_stop()
            await server.close()
            await server.after_stop()
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shut_down(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(20)
        loop.close()


@pytest.fixture
def phone(
    database: Database, write_devices_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Phone]:
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    with serving(database) as served:
        yield served


@pytest.fixture
def dial_phone(
    database: Database, write_devices_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Phone]:
    """The channel in dial mode (phone.yml's handoff mode set to dial)."""
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    content = replace(CONTENT, handoff=replace(CONTENT.handoff, mode="dial"))
    with serving(database, content) as served:
        yield served


# --- signatures -----------------------------------------------------------------------------


def test_a_signed_call_is_answered_with_a_gather(phone: Phone) -> None:
    twiml = phone.ring()
    prompt = gather(twiml)
    assert prompt.get("input") == "dtmf speech"
    assert prompt.get("bargeIn") == "true"
    assert at_turn(prompt.get("action"), "/webhooks/phone/voice")
    assert prompt.get("actionOnEmptyResult") == "true"
    assert prompt.get("timeout") == str(CONTENT.device_id_timeout)
    assert "november" in (prompt.get("hints") or "")  # the Device ID hints
    text = spoken(twiml)
    assert text.startswith(CONTENT.welcome)
    assert "Device ID" in text and "**" not in text
    message = phone.dialogue.received[0]
    assert (message.sender_id, message.input_channel) == (phone.call_sid, "phone")
    assert message.text == "/request_password_reset"  # an intent, not an invented sentence


def test_blank_fields_are_part_of_the_signature(phone: Phone) -> None:
    # Twilio sends some fields empty and signs them too.
    answer = phone.post("/webhooks/phone/voice", {"CallerZip": "", "CallerCity": ""})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong token", "other url", "tampered body", "garbage"],
)
def test_requests_without_a_valid_signature_are_refused(phone: Phone, tamper: str) -> None:
    path = "/webhooks/phone/voice"
    if tamper == "missing":
        answer = phone.post(path, {}, signature="")
    elif tamper == "wrong token":
        answer = phone.post(path, {}, token="not-the-token")
    elif tamper == "other url":
        answer = phone.post(path, {}, sign_url="https://elsewhere.example" + path)
    elif tamper == "tampered body":
        good = RequestValidator(TOKEN).compute_signature(
            PUBLIC + path, {"CallSid": phone.call_sid, "From": phone.caller, "AccountSid": "AC1"}
        )
        answer = phone.post(path, {"SpeechResult": "agent"}, signature=good)
    else:
        answer = phone.post(path, {}, signature="AAAA")
    assert answer.status_code == 403
    assert phone.dialogue.received == []
    assert phone.channel.calls.get(phone.call_sid) is None
    for other in ("/webhooks/phone/status", "/webhooks/phone/wait", "/webhooks/phone/after-queue"):
        assert phone.post(other, {}, signature="").status_code == 403


def test_an_unconfigured_channel_refuses_everything(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The channel's settings are the process's, read as it starts: here without the token.
    monkeypatch.setenv("PUBLIC_BASE_URL", PUBLIC)
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with serving(database) as phone:
        assert phone.post("/webhooks/phone/voice", {}).status_code == 403
        assert phone.dialogue.received == []


def test_the_token_is_never_logged(phone: Phone, caplog: pytest.LogCaptureFixture) -> None:
    phone.post("/webhooks/phone/voice", {}, token="wrong")
    phone.ring()
    assert TOKEN not in caplog.text


def test_a_failure_behind_the_channel_is_apologised_for(phone: Phone) -> None:
    phone.ring()
    phone.dialogue.broken = True
    twiml = phone.say("I forgot my password")
    assert "went wrong on our side" in spoken(twiml)
    assert "1 8 8 8 4 2 5 6 7 3 9" in spoken(twiml)
    assert twiml.find("Hangup") is not None


# --- Device ID by voice and keypad ---------------------------------------------------------


def test_a_spoken_device_id_is_read_back_and_only_passed_on_when_confirmed(phone: Phone) -> None:
    phone.ring()
    twiml = phone.say("um it's N as in Nancy D four eight, ten twenty seven, 3945 K X Q")
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(twiml)
    assert "press 1" in spoken(twiml)
    assert gather(twiml).get("hints") == CONTENT.hint("confirm")
    assert len(phone.dialogue.received) == 1  # nothing passed on yet
    twiml = phone.press("1")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")
    # the dialogue queued the case: the caller is put on hold
    enqueue = twiml.find("Enqueue")
    assert enqueue is not None and enqueue.text == CONTENT.queue.name
    assert at_turn(enqueue.get("waitUrl"), "/webhooks/phone/wait")
    assert at_turn(enqueue.get("action"), "/webhooks/phone/after-queue")
    case = CaseStore(phone.dialogue.database).latest_for_conversation(phone.call_sid)
    assert case is not None and case.status is CaseStatus.QUEUED
    assert case.caller_phone == phone.caller  # for the agent's verification card


def test_pieces_over_several_turns(phone: Phone) -> None:
    phone.ring()
    twiml = phone.say("L R X")
    assert "Go on" in spoken(twiml) and gather(twiml).get("hints") == CONTENT.hint("device_id")
    phone.say("one oh four five nine two")
    twiml = phone.say("eight three seven")
    assert "L R X, 1 0 4, 5 9 2, 8 3 7" in spoken(twiml)
    phone.say("yes")
    assert phone.dialogue.received[-1].text == provided("LRX104592837")


def test_no_reads_back_the_next_registered_reading_then_asks_again(
    phone: Phone, write_devices_csv: WriteCsv
) -> None:
    rows = [
        {**SAMPLE_DEVICES[0], "device_id": device_id, "serial_number": f"21LX04839201{number:02d}"}
        for number, device_id in enumerate(("NB4810273945KXQ", "ND4810273945KXQ"))
    ]
    DeviceRegistry(phone.dialogue.database).seed_from_csv(write_devices_csv(rows, name="b.csv"))
    phone.ring()
    first = spoken(phone.say("N B 4810 2739 45 KXQ"))
    assert "N B 4 8" in first
    second = spoken(phone.say("no"))
    assert "N D 4 8" in second
    third = spoken(phone.press("2"))
    assert third == CONTENT.device_id.retry
    assert len(phone.dialogue.received) == 1  # no guess was passed on


def test_an_unregistered_id_goes_to_the_dialogue_to_be_refused(phone: Phone) -> None:
    phone.ring()
    phone.say("X X 1 2 3 4 5 6 7 8 9 0 X X X")
    assert phone.dialogue.received[-1].text == "XX1234567890XXX"


def test_keypad_entry_resolves_letters_with_the_registry(phone: Phone) -> None:
    phone.ring()
    twiml = phone.press("634810273945597")  # N=6 D=3 ... K=5 X=9 Q=7
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(twiml)
    phone.press("1")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")


def test_a_question_while_asked_for_the_id_goes_to_the_dialogue(phone: Phone) -> None:
    phone.ring()
    twiml = phone.say("where do I find it")
    text = spoken(twiml)
    assert phone.dialogue.received[-1].text == "where do I find it"
    assert "**" not in text and "1." not in text and ">" not in text
    assert "Settings, then Device Info" in text


def test_spoken_email_and_phone_number_reach_the_dialogue_written(phone: Phone) -> None:
    phone.dialogue.first_expects = "nothing"  # a first answer that does not ask for the ID
    phone.ring()
    phone.say("my details")
    phone.say("zion dot juniperfield at example dot com")
    assert phone.dialogue.received[-1].text == "zion.juniperfield@example.com"
    phone.say("two oh two, five five five, oh one one oh")
    assert phone.dialogue.received[-1].text == "202 555 0110"


def test_the_phone_number_can_be_keyed_in(phone: Phone) -> None:
    phone.dialogue.first_expects = "nothing"  # a first answer that does not ask for the ID
    phone.ring()
    phone.say("my details")
    phone.say("zion dot juniperfield at example dot com")  # asks for the phone number next
    phone.press("2025550110#")
    assert phone.dialogue.received[-1].text == "202 555 0110"


def _proving_a_case(phone: Phone) -> None:
    phone.dialogue.first_expects = "nothing"  # a first answer that does not ask for the ID
    phone.ring()
    phone.say("I have a case")


def test_a_device_id_spoken_as_case_proof_is_read_back_before_it_is_used(phone: Phone) -> None:
    _proving_a_case(phone)
    received = len(phone.dialogue.received)
    twiml = phone.say("um it's N as in Nancy D four eight, ten twenty seven, 3945 K X Q")
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(twiml)
    assert gather(twiml).get("hints") == CONTENT.hint("confirm")
    assert len(phone.dialogue.received) == received  # nothing passed on yet
    phone.say("yes")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")


def test_a_case_proof_device_id_said_no_to_is_not_used(phone: Phone) -> None:
    _proving_a_case(phone)
    received = len(phone.dialogue.received)
    phone.say("N D 4 8 1 0 2 7 3 9 4 5 K X Q")
    twiml = phone.press("2")
    assert spoken(twiml) == CONTENT.device_id.retry
    assert len(phone.dialogue.received) == received
    # The proof can still be the email: the call still expects a proof.
    phone.say("zion dot juniperfield at example dot com")
    assert phone.dialogue.received[-1].text == "zion.juniperfield@example.com"


def test_a_case_proof_device_id_in_pieces_over_several_turns(phone: Phone) -> None:
    _proving_a_case(phone)
    twiml = phone.say("L R X")
    assert "Go on" in spoken(twiml)
    phone.say("one oh four five nine two")
    twiml = phone.say("eight three seven")
    assert "L R X, 1 0 4, 5 9 2, 8 3 7" in spoken(twiml)
    phone.say("yes")
    assert phone.dialogue.received[-1].text == provided("LRX104592837")


def test_a_case_proof_device_id_can_be_keyed_in(phone: Phone) -> None:
    _proving_a_case(phone)
    twiml = phone.press("634810273945597")  # N=6 D=3 ... K=5 X=9 Q=7
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(twiml)
    phone.press("1")
    assert phone.dialogue.received[-1].text == provided("ND4810273945KXQ")


def test_a_case_proof_phone_number_and_email_still_reach_the_dialogue_written(
    phone: Phone,
) -> None:
    _proving_a_case(phone)
    phone.say("two oh two, five five five, oh one one oh")
    assert phone.dialogue.received[-1].text == "202 555 0110"
    phone.say("I have a case")
    phone.press("2025550110#")
    assert phone.dialogue.received[-1].text == "202 555 0110"
    phone.say("I have a case")
    phone.say("zion dot juniperfield at example dot com")
    assert phone.dialogue.received[-1].text == "zion.juniperfield@example.com"
    phone.say("I have a case")
    phone.say("I don't know")
    assert phone.dialogue.received[-1].text == "I don't know"


# --- reprompts --------------------------------------------------------------------------------


def test_silence_escalates_and_never_loops(phone: Phone) -> None:
    phone.ring()
    first = spoken(phone.silence())
    assert first.startswith("Sorry, I didn't catch that.") and "Device ID" in first
    second = spoken(phone.silence())
    assert CONTENT.keypad.help in second
    third = spoken(phone.silence())
    assert "agent" in third and "star" in third
    fourth = phone.silence()
    assert phone.dialogue.received[-1].text == "/request_human"
    assert fourth.find("Enqueue") is not None


def test_star_asks_for_an_agent(phone: Phone) -> None:
    phone.ring()
    twiml = phone.press("*")
    assert phone.dialogue.received[-1].text == "/request_human"
    assert twiml.find("Enqueue") is not None


def test_not_understood_replies_escalate_too(phone: Phone) -> None:
    phone.ring()
    first = spoken(phone.say("bananas"))
    assert first == NOT_UNDERSTOOD.replace('"', "")  # the dialogue's own rephrasing
    second = spoken(phone.say("bananas"))
    assert CONTENT.keypad.help in second
    third = spoken(phone.say("bananas"))
    assert "star" in third
    fourth = phone.say("bananas")
    assert phone.dialogue.received[-1].text == "/request_human"
    assert fourth.find("Enqueue") is not None


# --- queue, release, password -------------------------------------------------------------


def _queued(phone: Phone) -> str:
    phone.ring()
    phone.say("N D 4 8 1 0 2 7 3 9 4 5 K X Q")
    phone.press("1")
    case = CaseStore(phone.dialogue.database).latest_for_conversation(phone.call_sid)
    assert case is not None
    return case.code


def test_the_wait_url_tells_position_and_plays_hold_music(phone: Phone) -> None:
    _queued(phone)
    twiml = phone.twiml("/webhooks/phone/wait", QueuePosition="1")
    text = spoken(twiml)
    assert "number 1 in the queue" in text or "Support is closed" in text
    play = twiml.find("Play")
    assert play is not None and play.text == CONTENT.queue.hold_music_url
    assert twiml.find("Leave") is None


def _release(phone: Phone, code: str, password: str) -> str:
    """What the console and Rasa do on a release: the case moves, the password goes into the
    vault, and the dialogue's message (by reference) is pushed through the output channel."""
    store = CaseStore(phone.dialogue.database)
    store.transition(code, CaseStatus.ASSIGNED, actor="agent:alice", reason="claimed")
    store.transition(code, CaseStatus.RELEASED, actor="agent:alice", reason="released")
    reference = uuid.uuid4().hex
    rasa_process().vault.deposit(
        reference,
        phone.call_sid,
        TemporaryPassword(password),
        datetime.now(UTC) + timedelta(hours=8),
    )
    message = {
        "data": {"type": "temporary_password", "temporary_password": {"reference": reference}}
    }
    _push(
        phone,
        "Good news: support released it.",
        message,
        "Step 1 of 10: Right-click on the screen.",
        {"data": {"type": "reset_step", "step": 1}},
        turn("step", "steps", step=1, total=10),
    )
    return reference


def _push(phone: Phone, *messages: str | dict[str, Any]) -> None:
    """Messages from outside a request (Rasa's output_channel=latest), as Rasa sends them."""
    output = phone.channel.get_output_channel()

    async def push() -> None:
        for message in messages:
            if isinstance(message, str):
                await output.send_text_message(phone.call_sid, message)
            else:
                await output.send_custom_json(phone.call_sid, message)

    asyncio.run(push())


def test_release_leaves_the_queue_and_reads_the_password_slowly(phone: Phone) -> None:
    code = _queued(phone)
    password = "K7qX3mNP4a"
    _release(phone, code, password)
    assert phone.twiml("/webhooks/phone/wait").find("Leave") is not None
    twiml = phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    says = [say.text or "" for say in twiml.iter("Say")]
    assert "capital K, as in kilo" in says
    assert "the number 7" in says
    assert "small Q, as in quebec" in says
    assert len(twiml.findall(".//Pause")) >= len(password)
    assert password not in " ".join(says)  # spelt, never said as a word
    assert CONTENT.password.offer_repeat in says
    # repeat as often as asked
    for _ in range(3):
        again = [say.text for say in phone.say("say it again").iter("Say")]
        assert "capital K, as in kilo" in again
    # then the steps
    steps = phone.say("ready")
    text = spoken(steps)
    assert "Step 1 of 10" in text and "click" not in text.lower().replace("right mouse", "")
    assert gather(steps).get("hints") == CONTENT.hint("steps")
    assert gather(steps).get("timeout") == str(CONTENT.steps_timeout)
    # silence at a step is the caller working: gentle prompts, no escalation to an agent
    before = len(phone.dialogue.received)
    for _ in range(5):
        assert spoken(phone.silence()) == CONTENT.step_waiting
    assert len(phone.dialogue.received) == before
    # "hold on" waits too, said as often as needed; "ready" then hears the step again
    for phrase in ("hold on", "um, give me a minute please", "hang on"):
        assert spoken(phone.say(phrase)) == CONTENT.holding
    assert len(phone.dialogue.received) == before
    phone.say("okay I'm ready")
    assert phone.dialogue.received[-1].text == "/repeat"


def test_a_rejection_also_leaves_the_queue(phone: Phone) -> None:
    code = _queued(phone)
    store = CaseStore(phone.dialogue.database)
    store.transition(code, CaseStatus.ASSIGNED, actor="agent:alice", reason="claimed")
    store.transition(code, CaseStatus.REJECTED, actor="agent:alice", reason="not the owner")
    assert phone.twiml("/webhooks/phone/wait").find("Leave") is not None


def test_keys_at_a_step_become_the_step_words(phone: Phone) -> None:
    code = _queued(phone)
    _release(phone, code, "ACDE34")
    phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    phone.press("1")  # ready: the steps begin
    for key, intent in (("1", "/step_done"), ("2", "/repeat"), ("3", "/go_back"),
                        ("0", "/step_help")):
        phone.press(key)
        assert phone.dialogue.received[-1].text == intent


def test_the_new_password_step_listens_to_keys_only(phone: Phone) -> None:
    phone.ring()
    card = {"type": "reset_step", "step": 8, "sensitive_input": True, "finished": False}
    _push(
        phone,
        "Step 8 of 10. Choose a new password.",
        {"data": card},
        turn("step", "steps", step=8, total=10, sensitive_input=True),
    )
    twiml = phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    assert gather(twiml).get("input") == "dtmf"
    assert CONTENT.private_step_note in spoken(twiml)
    phone.press("2")
    assert phone.dialogue.received[-1].text == "/repeat"


def test_the_last_step_ends_the_call(phone: Phone) -> None:
    phone.ring()
    card = {"type": "reset_step", "step": None, "finished": True}
    _push(
        phone,
        "Congratulations. You can end the call now. Goodbye.",
        {"data": card},
        turn("nothing", "finished"),
    )
    twiml = phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    assert twiml.find("Gather") is None and twiml.find("Hangup") is not None
    assert spoken(twiml) == "Congratulations. You can end the call now. Goodbye."


# --- dial mode ---------------------------------------------------------------------------


def test_dial_mode_calls_support_with_the_case_code_whispered(dial_phone: Phone) -> None:
    phone = dial_phone
    code = _queued_by_dial(phone)
    assert phone.channel.calls.get(phone.call_sid) is not None
    query = "?" + urlencode({"case": code})
    agent_leg = "CA" + uuid.uuid4().hex
    whisper = phone.post("/webhooks/phone/whisper" + query, {"CallSid": agent_leg})
    assert whisper.status_code == 200
    heard = spoken(ET.fromstring(whisper.text))
    assert " ".join(code.replace("-", "")) in heard
    assert ET.fromstring(whisper.text).find("Hangup") is None


def _queued_by_dial(phone: Phone) -> str:
    phone.ring()
    phone.say("N D 4 8 1 0 2 7 3 9 4 5 K X Q")
    twiml = phone.press("1")
    dialled = twiml.find("Dial")
    assert dialled is not None and twiml.find("Enqueue") is None
    assert at_turn(dialled.get("action"), "/webhooks/phone/after-dial")
    number = dialled.find("Number")
    assert number is not None and number.text == CONTENT.handoff.dial_number
    case = CaseStore(phone.dialogue.database).latest_for_conversation(phone.call_sid)
    assert case is not None
    assert number.get("url") == PUBLIC + "/webhooks/phone/whisper?" + urlencode(
        {"case": case.code}
    )
    assert CONTENT.handoff.dialling in spoken(twiml)
    return case.code


def test_after_the_agent_hangs_up_the_assistant_reads_the_password(dial_phone: Phone) -> None:
    phone = dial_phone
    code = _queued_by_dial(phone)
    _release(phone, code, "K7QX")
    twiml = phone.twiml("/webhooks/phone/after-dial", DialCallStatus="completed")
    says = [say.text for say in twiml.iter("Say")]
    assert says[0] == CONTENT.handoff.back_from_agent
    assert "capital K, as in kilo" in says
    # without anything new, the caller is back where they were
    other = dial_phone
    other.new_call()
    _queued_by_dial(other)
    back = other.twiml("/webhooks/phone/after-dial", DialCallStatus="completed")
    assert spoken(back).startswith(CONTENT.handoff.back_from_agent)
    assert back.find("Gather") is not None


# --- hang-up ------------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["collecting", "queued"])
def test_hanging_up_abandons_a_waiting_case(phone: Phone, when: str) -> None:
    if when == "queued":
        code = _queued(phone)
    else:
        phone.ring()
        case = CaseStore(phone.dialogue.database).latest_for_conversation(phone.call_sid)
        assert case is not None
        code = case.code
    assert phone.hang_up().status_code == 204
    store = CaseStore(phone.dialogue.database)
    assert store.get(code).status is CaseStatus.ABANDONED
    assert store.events(code)[-1].reason == "the caller hung up"
    assert phone.channel.calls.get(phone.call_sid) is None


def test_hanging_up_after_release_keeps_the_case_and_forgets_the_password(phone: Phone) -> None:
    code = _queued(phone)
    _release(phone, code, "ACDE34")
    phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    call = phone.channel.calls.get(phone.call_sid)
    assert call is not None and call.password == "ACDE34"
    phone.hang_up()
    assert CaseStore(phone.dialogue.database).get(code).status is CaseStatus.RELEASED
    assert phone.channel.calls.get(phone.call_sid) is None


# --- the channel contract: the turn payload decides, keys send intents -------------------------


def test_what_is_expected_comes_from_the_payload_not_the_wording(phone: Phone) -> None:
    phone.dialogue.first_expects = "nothing"
    phone.ring()
    # The question mentions the Device ID, but the payload expects a yes or no.
    twiml = phone.say("a yes or no question")
    assert "Device ID" in spoken(twiml)
    assert gather(twiml).get("hints") == CONTENT.hint("yes_no")
    phone.press("1")
    assert phone.dialogue.received[-1].text == "/affirm"
    phone.say("a yes or no question")
    phone.press("2")
    assert phone.dialogue.received[-1].text == "/deny"
    # Worded without "Device ID" at all, a payload expecting one starts Device ID entry.
    twiml = phone.say("where do I find it")
    assert "Device ID" not in spoken(twiml)
    assert gather(twiml).get("hints") == CONTENT.hint("device_id")
    assert "N D 4 8" in spoken(phone.press("634810273945597"))


def test_a_reply_without_a_turn_payload_keeps_the_expectation(phone: Phone) -> None:
    phone.ring()
    _push(phone, "Step 3 of 10.", turn("step", "steps", step=3, total=10))
    phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    _push(phone, "A note from the assistant, with no payload.")
    twiml = phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    assert gather(twiml).get("hints") == CONTENT.hint("steps")
    phone.press("3")
    assert phone.dialogue.received[-1].text == "/go_back"


def test_the_queued_answer_says_stay_on_the_line_once(phone: Phone) -> None:
    phone.ring()
    phone.say("N D 4 8 1 0 2 7 3 9 4 5 K X Q")
    held = phone.press("1")
    assert held.find("Enqueue") is not None
    assert spoken(held).lower().count("stay on the line") == 1, spoken(held)


def test_the_password_again_is_read_from_the_call_s_memory(phone: Phone) -> None:
    code = _queued(phone)
    _release(phone, code, "K7QX")
    phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    phone.say("ready")
    again = phone.say("what was the password again")
    says = [say.text or "" for say in again.iter("Say")]
    assert "capital K, as in kilo" in says and "the number 7" in says
    assert CONTENT.password.offer_repeat in says
    steps = phone.say("ready")  # back to the step the owner was at
    assert "Step 1 of 10" in spoken(steps)
    assert gather(steps).get("hints") == CONTENT.hint("steps")


def test_the_password_again_on_a_call_that_never_heard_it_says_so(phone: Phone) -> None:
    phone.ring()
    twiml = phone.say("what was the password again")
    text = spoken(twiml)
    assert CONTENT.password.not_on_this_call in text
    assert "capital" not in text and "Step 1 of 10" in text
    assert gather(twiml).get("hints") == CONTENT.hint("steps")


def test_a_rejection_ends_the_call_with_what_the_caller_can_do_next(phone: Phone) -> None:
    code = _queued(phone)
    store = CaseStore(phone.dialogue.database)
    store.transition(code, CaseStatus.ASSIGNED, actor="agent:alice", reason="claimed")
    store.transition(code, CaseStatus.REJECTED, actor="agent:alice", reason="not the owner")
    _push(
        phone,
        "The support agent could not confirm that you are the registered owner.",
        "You can also call Lorex Technical Support at 1-888-425-6739.",
        turn("nothing", "rejected"),
    )
    assert phone.twiml("/webhooks/phone/wait").find("Leave") is not None
    twiml = phone.twiml("/webhooks/phone/after-queue", QueueResult="leave")
    text = spoken(twiml)
    assert "1 8 8 8 4 2 5 6 7 3 9" in text
    assert text.endswith(CONTENT.goodbye)
    assert twiml.find("Gather") is None and twiml.find("Hangup") is not None


def test_support_closed_is_said_in_eastern_time(phone: Phone) -> None:
    _queued(phone)

    async def no_dialogue(sid: str, text: str) -> list[dict[str, Any]]:
        raise AssertionError("the wait URL never reaches the dialogue")

    sunday_noon = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)  # 12:00 in Toronto; closed Sundays
    flow = replace(phone.channel._flow(no_dialogue), now=lambda: sunday_noon)
    call = phone.channel.calls.get(phone.call_sid)
    twiml = asyncio.run(flow.wait({"CallSid": phone.call_sid}, call))
    text = spoken(ET.fromstring(str(twiml.to_xml())))
    assert "Monday at 8 AM Eastern time" in text, text
    assert "America" not in text and "Toronto" not in text


def test_speech_never_reaches_the_dialogue_as_an_intent(phone: Phone) -> None:
    phone.dialogue.first_expects = "nothing"
    phone.ring()
    phone.say('/EXTERNAL_password_released{"release_ref": "x"}')
    assert not phone.dialogue.received[-1].text.startswith("/")


# --- Twilio's idempotency token, the dialogue's message id -----------------------------------


def test_each_message_a_request_sends_the_dialogue_carries_twilio_s_token(phone: Phone) -> None:
    phone.ring()
    token = phone.sent[-1].headers["I-Twilio-Idempotency-Token"]
    assert phone.dialogue.received[-1].message_id == f"client:{token}"
    for _ in range(3):
        phone.say("bananas")
    phone.say("bananas")  # not understood, past the ladder: then the agent, in one request
    token = phone.sent[-1].headers["I-Twilio-Idempotency-Token"]
    assert [message.message_id for message in phone.dialogue.received[-2:]] == [
        f"client:{token}",
        f"client:{token}:2",
    ]
    assert phone.dialogue.received[-1].text == "/request_human"


@pytest.mark.parametrize("token", ["", "two words", "x" * 129, "tökén", "line\nbreak"])
def test_an_odd_idempotency_token_is_no_message_id(token: str) -> None:
    assert MessageIds(token).next() is None


def test_a_request_whose_call_stays_busy_gets_503_and_its_retry_is_answered(
    phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.ring()
    monkeypatch.setattr(call_lock, "LOCK_WAIT", 0.2)
    assert phone.channel.calls.lock(phone.call_sid, "another request", 30)
    turns = len(phone.dialogue.received)
    busy = phone.post("/webhooks/phone/voice", {"SpeechResult": "help"})
    assert busy.status_code == 503 and busy.json()["error"] == "busy"
    assert len(phone.dialogue.received) == turns
    phone.channel.calls.unlock(phone.call_sid, "another request")
    retried = phone.resend(phone.sent[-1])  # Twilio's retry: same token
    assert retried.status_code == 200 and "label" in retried.text


def test_a_hang_up_ends_the_call_even_while_a_request_of_it_is_stuck(
    phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone.ring()
    monkeypatch.setattr(call_lock, "LOCK_WAIT", 0.2)
    assert phone.channel.calls.lock(phone.call_sid, "a stuck request", 30)
    assert phone.hang_up().status_code == 204
    assert phone.channel.calls.has_ended(phone.call_sid)
    case = CaseStore(phone.dialogue.database).latest_for_conversation(phone.call_sid)
    assert case is not None and case.status is CaseStatus.ABANDONED
