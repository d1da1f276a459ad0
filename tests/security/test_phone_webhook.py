"""What the phone webhook (Twilio voice, ``/webhooks/phone/...``) withstands, and how it is shown.

Everything here runs against the whole product as ``make run`` starts it (real Rasa model,
action server, SQLite files), told it sits behind a public URL with a Twilio auth token. This
test plays Twilio (and the attacker): it signs requests with twilio's ``RequestValidator``,
follows the TwiML's action URLs, and keeps every request it sent so it can send them again.

* **A huge body does not freeze the server.** A 20 MB form post with a made-up signature gets a
  413 at once, from its declared size, before anything is parsed; a chat turn sent meanwhile
  answers as quickly as ever. (Before: the body was parsed on the server's event loop before the
  signature was checked, and every chat turn waited for it, 15 to 18 seconds here.) A body sent
  without a declared size is cut off while it streams in; one of a great many small fields is
  refused before they are parsed; the signature is checked in a worker thread.
* **A captured request cannot be played again.** Each answer's action URLs carry a fresh turn
  token (signed by Twilio as part of the URL), so a real call never repeats a signature: a
  signature seen before is a replay, refused with 409 and no dialogue turn. Twilio's own retry
  (same ``I-Twilio-Idempotency-Token``) gets the answer already given, with no new turn.
* **An ended call stays ended.** After the status callback says ``completed``, every request of
  that call, replayed, gets a hang-up: no dialogue turn, no new case, the case stays abandoned.
* **Only Twilio-shaped CallSids** (``CA`` + 32 hex digits) become conversations; anything else
  is refused with 400 before anything else happens.
* **An honest call still works**: two silences in a row, the Device ID, the queue, hang-up.

The last tests run the channel alone on a real Sanic server (as tests/test_phone_channel.py
does, with its stand-in dialogue) where the product cannot be steered: a retry of the answer
that spelt the temporary password gets only the offer to hear it again, a retry that arrives
while the first attempt is still being answered waits for that answer (one dialogue turn), and
what the channel remembers against replays is bounded and expires.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from twilio.request_validator import RequestValidator

from bot.phone.calls import Calls, Seen
from bot.serve import Settings
from tests import test_phone_channel
from tests.running_product import running_product
from tests.test_phone_channel import Phone, _queued, _release, phone  # noqa: F401

TOKEN = "security-twilio-token-" + uuid.uuid4().hex
PUBLIC = "https://lorex-phone.example.test"
VOICE = "/webhooks/phone/voice"
STATUS = "/webhooks/phone/status"
DEVICE_ID_SPOKEN = "N as in Nancy, D, four eight, ten twenty seven, 3945, KXQ"
JUNK_BYTES = 20 * 1024 * 1024
CHAT_TURN_BOUND = 2.0  # seconds: generous; a turn answers in well under a second when idle


@dataclass(frozen=True)
class Product:
    settings: Settings
    database: Path
    log: Path


@contextmanager
def running_phone_product(folder: Path) -> Iterator[Product]:
    """The product on SQLite files in ``folder``, answering signed Twilio requests for PUBLIC."""
    database = folder / "lorex.db"
    with running_product(
        folder,
        database_url=f"sqlite:///{database}",
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        extra_env={"PUBLIC_BASE_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN},
    ) as (settings, log):
        yield Product(settings, database, log)


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    with running_phone_product(tmp_path_factory.mktemp("phone-webhook")) as product:
        yield product


@dataclass(frozen=True)
class Sent:
    """One request as Twilio sent it: enough to send it again, byte for byte."""

    public_url: str
    form: dict[str, str]
    signature: str
    idempotency_token: str


@dataclass
class Twilio:
    """Plays Twilio for one call: signs each request for the public URL, follows the TwiML."""

    rasa_url: str
    call_sid: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    sent: list[Sent] = field(default_factory=list)
    action: str = PUBLIC + VOICE  # where the next answer goes (the last Gather's action)
    wait_url: str | None = None
    queue_time: int = 0

    def send(
        self, public_url: str, params: dict[str, str], *, record: bool = True
    ) -> requests.Response:
        form = {
            "CallSid": self.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": "+12025550110",
            "To": "+18885550000",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **params,
        }
        sent = Sent(
            public_url,
            form,
            RequestValidator(TOKEN).compute_signature(public_url, form),
            str(uuid.uuid4()),
        )
        if record:
            self.sent.append(sent)
        return self.resend(sent)

    def resend(self, sent: Sent, *, idempotency_token: str | None = None) -> requests.Response:
        headers = {
            "X-Twilio-Signature": sent.signature,
            "I-Twilio-Idempotency-Token": idempotency_token or sent.idempotency_token,
        }
        local = self.rasa_url + sent.public_url.removeprefix(PUBLIC)
        return requests.post(local, data=sent.form, headers=headers, timeout=60)

    def twiml(self, public_url: str, **params: str) -> ET.Element:
        answer = self.send(public_url, params)
        assert answer.status_code == 200, (answer.status_code, answer.text)
        twiml = ET.fromstring(answer.text)
        self.follow(twiml)
        return twiml

    def follow(self, twiml: ET.Element) -> None:
        gather, enqueue = twiml.find("Gather"), twiml.find("Enqueue")
        if gather is not None:
            self.action = gather.get("action", "")
        if enqueue is not None:
            self.action, self.wait_url = enqueue.get("action", ""), enqueue.get("waitUrl")

    def ring(self) -> ET.Element:
        """The call comes in, and English is chosen at the language menu (one key)."""
        twiml = self.twiml(PUBLIC + VOICE, CallStatus="ringing")
        listening = twiml.find("Gather")
        if listening is not None and listening.get("numDigits") == "1":
            return self.press("1")
        return twiml

    def say(self, speech: str) -> ET.Element:
        return self.twiml(self.action, CallStatus="in-progress", SpeechResult=speech)

    def press(self, digits: str) -> ET.Element:
        return self.twiml(self.action, CallStatus="in-progress", Digits=digits)

    def silence(self) -> ET.Element:
        return self.twiml(self.action, CallStatus="in-progress")

    def wait(self) -> ET.Element:
        assert self.wait_url is not None
        self.queue_time += 20  # Twilio asks again when the hold music ends
        return self.twiml(self.wait_url, QueuePosition="1", QueueTime=str(self.queue_time))

    def hang_up(self) -> requests.Response:
        return self.send(PUBLIC + STATUS, {"CallStatus": "completed", "CallDuration": "42"})


def spoken(twiml: ET.Element) -> str:
    return " ".join(say.text or "" for say in twiml.iter("Say"))


def user_turns(product: Product, conversation: str) -> int:
    url = (
        f"{product.settings.rasa_url}/conversations/{quote(conversation, safe='')}/tracker"
        f"?token={product.settings.rasa_api_token}"
    )
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200, answer.text
    return sum(1 for event in answer.json()["events"] if event["event"] == "user")


def cases_of(product: Product, conversation: str) -> list[tuple[str, str, int]]:
    """(code, status, audit events) of every case the conversation has, from the database."""
    with sqlite3.connect(product.database) as db:
        rows = db.execute(
            "SELECT c.code, c.status, (SELECT COUNT(*) FROM case_events e "
            "WHERE e.case_id = c.id) FROM support_cases c WHERE c.conversation_id = ? "
            "ORDER BY c.id",
            (conversation,),
        ).fetchall()
    return [(str(code), str(status), int(events)) for code, status, events in rows]


def queued_call(product: Product) -> Twilio:
    """An honest call up to the support queue: ring, Device ID spoken and confirmed, details."""
    twilio = Twilio(product.settings.rasa_url)
    assert "Device ID" in spoken(twilio.ring())
    assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(twilio.say(DEVICE_ID_SPOKEN))
    twilio.press("1")
    twilio.say("Zion Juniperfield")
    twilio.say("zion dot juniperfield at example dot com")
    held = twilio.say("two oh two, five five five, oh one one oh")
    assert held.find("Enqueue") is not None, spoken(held)
    return twilio


def chat_turn(product: Product, sender: str, message: str) -> float:
    """Seconds a REST chat turn takes to answer."""
    started = time.monotonic()
    answer = requests.post(
        product.settings.rasa_url + "/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        timeout=120,
    )
    took = time.monotonic() - started
    assert answer.status_code == 200 and answer.json(), answer.text
    return took


# --- finding 1: a huge body ------------------------------------------------------------------


def junk_form(size: int) -> bytes:
    """A form body of ``size`` bytes of many small distinct fields, the costliest kind to parse
    and to sign-check (each field is a key and a value to decode, sort and hash)."""
    body = b"&".join(b"k%d=v%d" % (i, i) for i in range(size // 10))
    return body[:size]


def test_a_20_mb_junk_post_is_refused_at_once_and_a_chat_turn_meanwhile_is_not_held_up(
    product: Product,
) -> None:
    sender = "junk-witness-" + uuid.uuid4().hex
    chat_turn(product, sender, "hello")  # warm: the first turn of a conversation does more
    outcome: dict[str, Any] = {}
    junk_body = junk_form(JUNK_BYTES)

    def post_junk() -> None:
        started = time.monotonic()
        try:
            answer = requests.post(
                product.settings.rasa_url + VOICE,
                data=junk_body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": "bm90LWEtcmVhbC1zaWduYXR1cmU=",
                },
                timeout=120,
            )
            outcome["status"] = answer.status_code
            outcome["body"] = answer.text[:200]
        except requests.RequestException as error:
            outcome["error"] = repr(error)
        outcome["seconds"] = time.monotonic() - started

    junk = threading.Thread(target=post_junk)
    junk.start()
    # Chat turns while the junk is in flight (at least two), each timed.
    waits = []
    while junk.is_alive() or len(waits) < 2:
        waits.append(chat_turn(product, sender, "I forgot my recorder password"))
    junk.join()
    print(f"chat turns during the 20 MB junk post: {[round(w, 2) for w in waits]} s; "
          f"junk answered {outcome}")
    assert outcome.get("status") == 413, outcome
    assert outcome["seconds"] < CHAT_TURN_BOUND, outcome
    assert max(waits) < CHAT_TURN_BOUND, waits


def test_a_body_sent_without_a_declared_size_is_cut_off_at_the_limit(product: Product) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"Junk=" + b"x" * 16 * 1024 + b"&"

    started = time.monotonic()
    answer = requests.post(
        product.settings.rasa_url + VOICE,
        data=chunks(),  # chunked transfer: no Content-Length to judge by
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "bm90LWEtcmVhbC1zaWduYXR1cmU=",
        },
        timeout=60,
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "too_large"
    assert time.monotonic() - started < CHAT_TURN_BOUND


def test_a_small_body_of_very_many_fields_is_refused_before_it_is_parsed(
    product: Product,
) -> None:
    body = junk_form(15 * 1024)  # under the size limit, about 1,500 fields
    answer = requests.post(
        product.settings.rasa_url + VOICE,
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": "bm90LWEtcmVhbC1zaWduYXR1cmU=",
        },
        timeout=60,
    )
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"] == "too_many_fields"


# --- finding 8: replays -----------------------------------------------------------------------


def test_a_signed_request_replayed_after_hang_up_does_not_revive_the_call(
    product: Product,
) -> None:
    twilio = queued_call(product)
    answered = len(twilio.sent)
    assert twilio.hang_up().status_code == 204
    [(code, status, events)] = cases_of(product, twilio.call_sid)
    assert status == "abandoned"
    turns = user_turns(product, twilio.call_sid)

    for sent in twilio.sent[:answered]:  # the whole call, as captured, played again
        for token in (None, str(uuid.uuid4())):
            again = twilio.resend(sent, idempotency_token=token)
            assert again.status_code == 200, again.text
            twiml = ET.fromstring(again.text)
            assert twiml.find("Hangup") is not None, again.text
            assert twiml.find("Gather") is None and twiml.find("Enqueue") is None

    assert user_turns(product, twilio.call_sid) == turns
    assert cases_of(product, twilio.call_sid) == [(code, "abandoned", events)]


def test_a_replay_during_the_call_is_refused_and_a_twilio_retry_gets_the_same_answer(
    product: Product,
) -> None:
    twilio = Twilio(product.settings.rasa_url)
    twilio.ring()
    asked = twilio.say(DEVICE_ID_SPOKEN)
    turns = user_turns(product, twilio.call_sid)
    ring, read_back = twilio.sent[0], twilio.sent[-1]

    # An attacker's copy (any other idempotency token, or none): refused, no dialogue turn.
    for sent in (read_back, ring):
        replayed = twilio.resend(sent, idempotency_token=str(uuid.uuid4()))
        assert replayed.status_code == 409, replayed.text
        assert replayed.json()["error"] == "replayed"
    assert user_turns(product, twilio.call_sid) == turns

    # Twilio's own retry (it got no answer): the same answer, and still no new turn.
    retried = twilio.resend(read_back)
    assert retried.status_code == 200
    assert spoken(ET.fromstring(retried.text)) == spoken(asked)
    assert user_turns(product, twilio.call_sid) == turns

    # The call goes on as if nothing happened.
    confirmed = twilio.press("1")
    assert "N 8 4 1" in spoken(confirmed) or "N841" in spoken(confirmed)
    twilio.hang_up()


# --- finding 7 (phone half): CallSid shape -----------------------------------------------------


@pytest.mark.parametrize(
    "call_sid",
    [
        "x/tracker/events?",
        "CA" + "g" * 32,
        "CA" + "0" * 31,
        "CA" + "0" * 200,
        "ca" + "0" * 32,
        "",
    ],
)
def test_a_call_sid_not_shaped_like_twilio_s_is_refused(product: Product, call_sid: str) -> None:
    twilio = Twilio(product.settings.rasa_url, call_sid=call_sid)
    for path in (VOICE, STATUS, "/webhooks/phone/wait", "/webhooks/phone/after-queue"):
        answer = twilio.send(PUBLIC + path, {"CallStatus": "ringing"})
        assert answer.status_code == 400, (path, answer.status_code, answer.text)
        assert answer.json()["error"] == "bad_call_sid"
    if call_sid:
        assert cases_of(product, call_sid) == []
        assert user_turns(product, call_sid) == 0


# --- an honest call ---------------------------------------------------------------------------


def test_an_honest_call_with_two_silences_in_a_row_still_works(product: Product) -> None:
    twilio = Twilio(product.settings.rasa_url)
    assert "Device ID" in spoken(twilio.ring())
    first, second = twilio.silence(), twilio.silence()  # the same request from Twilio, twice
    assert first.find("Gather") is not None and second.find("Gather") is not None
    assert spoken(first) != spoken(second)  # the second reprompt offers the keypad
    assert "N D 4 8" in spoken(twilio.say(DEVICE_ID_SPOKEN))
    twilio.press("1")
    twilio.say("Zion Juniperfield")
    twilio.say("zion dot juniperfield at example dot com")
    held = twilio.say("two oh two, five five five, oh one one oh")
    assert held.find("Enqueue") is not None, spoken(held)
    for _ in range(2):
        assert twilio.wait().find("Leave") is None
    [(_, status, _)] = cases_of(product, twilio.call_sid)
    assert status == "queued"
    assert twilio.hang_up().status_code == 204
    [(_, status, _)] = cases_of(product, twilio.call_sid)
    assert status == "abandoned"


# --- the channel alone --------------------------------------------------------------------------


def signed_post(
    call: Phone, public_url: str, params: dict[str, str], idempotency_token: str
) -> requests.Response:
    """A request of ``call``, signed for ``public_url``, with Twilio's idempotency token."""
    form = {"CallSid": call.call_sid, "From": call.caller, "AccountSid": "AC1", **params}
    headers = {
        "X-Twilio-Signature": RequestValidator(test_phone_channel.TOKEN).compute_signature(
            public_url, form
        ),
        "I-Twilio-Idempotency-Token": idempotency_token,
    }
    local = call.url + public_url.removeprefix(test_phone_channel.PUBLIC)
    return requests.post(local, data=form, headers=headers, timeout=20)


def test_a_retry_of_the_answer_that_spelt_the_password_does_not_spell_it(
    phone: Phone,  # noqa: F811
) -> None:
    code = _queued(phone)
    _release(phone, code, "K7QX3MNP4A")
    assert phone.twiml("/webhooks/phone/wait").find("Leave") is not None
    back = phone.next_urls["/webhooks/phone/after-queue"]
    token = str(uuid.uuid4())
    first = signed_post(phone, back, {"QueueResult": "leave"}, token)
    assert "capital K, as in kilo" in first.text

    retried = signed_post(phone, back, {"QueueResult": "leave"}, token)
    assert retried.status_code == 200
    assert "as in" not in retried.text and "the number" not in retried.text
    offer = test_phone_channel.CONTENT.password.offer_repeat
    assert spoken(ET.fromstring(retried.text)) == offer
    replayed = signed_post(phone, back, {"QueueResult": "leave"}, str(uuid.uuid4()))
    assert replayed.status_code == 409 and "kilo" not in replayed.text

    # The caller, who asked again, still hears it (the retry's own Gather leads there).
    phone.follow(ET.fromstring(retried.text))
    assert "capital K, as in kilo" in spoken(phone.say("repeat"))


def test_a_retry_while_the_first_attempt_is_answered_waits_for_that_answer(
    phone: Phone, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    phone.ring()
    answering = type(phone.dialogue).__call__

    async def slow(self: Any, message: Any) -> None:
        await asyncio.sleep(1.0)  # Twilio's timeout passes while the dialogue works
        await answering(self, message)

    monkeypatch.setattr(type(phone.dialogue), "__call__", slow)
    url = phone.next_urls["/webhooks/phone/voice"]
    token = str(uuid.uuid4())
    before = len(phone.dialogue.received)
    answers: list[requests.Response] = []
    first = threading.Thread(
        target=lambda: answers.append(signed_post(phone, url, {"SpeechResult": "help"}, token))
    )
    first.start()
    time.sleep(0.3)
    retried = signed_post(phone, url, {"SpeechResult": "help"}, token)
    first.join()
    assert retried.status_code == 200 and answers[0].status_code == 200
    assert retried.text == answers[0].text and "label" in retried.text
    assert len(phone.dialogue.received) == before + 1  # one dialogue turn for both


def test_what_is_remembered_against_replays_is_bounded_and_expires() -> None:
    now = [0.0]
    calls = Calls(
        clock=lambda: now[0],
        requests_remembered=60,
        ended_remembered=600,
        max_requests=3,
        max_ended=2,
    )
    assert calls.seen("sig-1", "token-1") is Seen.FIRST
    assert calls.seen("sig-1", "token-1") is Seen.RETRY
    assert calls.seen("sig-1", "other") is Seen.REPLAY
    assert calls.seen("sig-1", "") is Seen.REPLAY
    for n in (2, 3, 4):
        calls.seen(f"sig-{n}", "")
    assert calls.seen("sig-1", "token-1") is Seen.FIRST  # the oldest went first (bound of 3)
    now[0] = 61.0
    assert calls.seen("sig-4", "") is Seen.FIRST  # expired after a minute

    sids = ["CA" + uuid.uuid4().hex for _ in range(3)]
    for sid in sids:
        calls.start(sid, None)
        calls.end(sid)
    assert not calls.has_ended(sids[0]) and calls.has_ended(sids[2])  # bound of 2
    with pytest.raises(ValueError):
        calls.start(sids[2], None)  # an ended call never starts again
    now[0] = 61.0 + 601
    assert not calls.has_ended(sids[2])
