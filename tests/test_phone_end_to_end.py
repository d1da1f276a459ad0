"""A whole phone call on the real servers (as `make run` starts them), over SQLite files.

Twilio is played by this test: it signs each request with the auth token for the public URL the
product is told it sits behind (not the local address it is reached at, as behind a tunnel),
posts what Twilio would post, and follows the TwiML. The call: ringing, the Device ID spoken and
confirmed, the owner's details spoken (they match the registry), on hold in the queue, an agent
claims and releases through the console's service layer, the caller leaves the queue and hears
the temporary password spelt out, asks for it again, then the steps, then hangs up. The password
is then searched for in the databases and logs.
"""

from __future__ import annotations

import asyncio
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import requests
from argon2 import PasswordHasher
from twilio.request_validator import RequestValidator

from bot.agents.accounts import AgentAccounts
from bot.cases.store import CaseStore
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.phone.content import load_phone_content
from tests.running_product import running_product

TOKEN = "e2e-twilio-token-" + uuid.uuid4().hex
PUBLIC = "https://lorex-phone.example.test"
CONTENT = load_phone_content()
LETTER_WORDS = {word: letter for letter, word in CONTENT.spelling_words.items()}


class Twilio:
    def __init__(self, rasa_url: str) -> None:
        self.rasa_url = rasa_url
        self.call_sid = "CA" + uuid.uuid4().hex
        self.caller = "+12025550110"
        self.session = requests.Session()
        self.next_urls: dict[str, str] = {}  # path -> the public URL the last TwiML named

    def post(self, path: str, **params: str) -> ET.Element:
        """Post to ``path`` at the URL the last TwiML named for it (with its turn token)."""
        url = self.next_urls.get(path, PUBLIC + path)
        form = {"CallSid": self.call_sid, "From": self.caller, "To": "+18885550000", **params}
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        answer = self.session.post(
            self.rasa_url + url.removeprefix(PUBLIC),
            data=form,
            headers={"X-Twilio-Signature": signature},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        twiml = ET.fromstring(answer.text) if answer.text else ET.Element("Response")
        for named in [
            *(gather.get("action") for gather in twiml.iter("Gather")),
            *(enqueue.get("waitUrl") for enqueue in twiml.iter("Enqueue")),
            *(enqueue.get("action") for enqueue in twiml.iter("Enqueue")),
        ]:
            if named:
                self.next_urls[urlsplit(named).path] = named
        return twiml

    def say(self, speech: str) -> ET.Element:
        return self.post("/webhooks/phone/voice", SpeechResult=speech, Confidence="0.92")

    def press(self, digits: str) -> ET.Element:
        return self.post("/webhooks/phone/voice", Digits=digits)


def spoken(twiml: ET.Element) -> str:
    return " ".join(say.text or "" for say in twiml.iter("Say"))


def heard_password(twiml: ET.Element) -> str:
    """The password as a caller writes it down from the spelt characters."""
    characters = []
    for say in twiml.iter("Say"):
        text = say.text or ""
        if text.startswith(("capital ", "small ")):
            letter = LETTER_WORDS[text.split(" as in ")[1]]
            characters.append(letter if text.startswith("capital") else letter.lower())
        elif text.startswith("the number "):
            characters.append(text.removeprefix("the number "))
    return "".join(characters)


def test_a_whole_call(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / 'lorex.db'}", f"sqlite:///{tmp_path / 'tracker.db'}"]
    env = {"PUBLIC_BASE_URL": PUBLIC, "TWILIO_AUTH_TOKEN": TOKEN}
    with running_product(
        tmp_path, database_url=urls[0], tracker_store_url=urls[1], extra_env=env
    ) as (settings, log_path):
        twilio = Twilio(settings.rasa_url)
        unsigned = requests.post(
            settings.rasa_url + "/webhooks/phone/voice",
            data={"CallSid": "CA" + uuid.uuid4().hex},
            timeout=30,
        )
        assert unsigned.status_code == 403

        menu = twilio.post("/webhooks/phone/voice", CallStatus="ringing")
        assert "For English, press 1." in spoken(menu)  # the language menu first
        greeting = twilio.press("1")
        assert "Device ID" in spoken(greeting)
        assert greeting.find("Gather") is not None

        readback = twilio.say("um it's N as in Nancy, D, four eight, ten twenty seven, 3945, KXQ")
        assert "N D 4 8, 1 0 2 7, 3 9 4 5, K X Q" in spoken(readback)
        confirmed = twilio.press("1")
        assert "N 8 4 1" in spoken(confirmed) or "N841" in spoken(confirmed)
        twilio.say("Zion Juniperfield")
        twilio.say("zion dot juniperfield at example dot com")
        held = twilio.say("two oh two, five five five, oh one one oh")
        enqueue = held.find("Enqueue")
        assert enqueue is not None, spoken(held)

        database = Database(urls[0])
        case = CaseStore(database).latest_for_conversation(twilio.call_sid)
        assert case is not None and case.channel == "phone"
        assert (case.stated_email, case.stated_phone) == (
            "zion.juniperfield@example.com",
            "202 555 0110",
        )
        wait = twilio.post("/webhooks/phone/wait", QueuePosition="1", QueueTime="5")
        assert wait.find("Leave") is None and wait.find("Play") is not None

        desk = SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())
        accounts = AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
        agent = accounts.create("alice", "Alice", "correct horse battery staple")
        card = desk.case_file(case.code).verification
        assert [row.verdict.value for row in card] == ["match", "match", "match"]

        async def release() -> None:
            bridge = RasaBridge(settings.rasa_url, settings.rasa_api_token)
            agent_desk = AgentDesk(desk, bridge)
            await agent_desk.claim(case.code, agent)
            outcome = await agent_desk.release(case.code, agent, releases_seen=0)
            assert outcome.problem is None, outcome.problem
            await bridge.close()

        asyncio.run(release())
        assert twilio.post("/webhooks/phone/wait").find("Leave") is not None
        back = twilio.post("/webhooks/phone/after-queue", QueueResult="leave")
        password = heard_password(back)
        assert len(password) == 10 and desk.verify_secret(case.code, password)
        again = twilio.say("can you say it again")
        assert heard_password(again) == password

        step = twilio.say("ready")
        assert "Step 1 of" in spoken(step)
        for _ in range(12):
            if "Step" not in spoken(step):
                break
            step = twilio.press("1")
        assert "Step" not in spoken(step), spoken(step)

        hung_up = requests.post(
            settings.rasa_url + "/webhooks/phone/status",
            data=(form := {"CallSid": twilio.call_sid, "CallStatus": "completed"}),
            headers={
                "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
                    PUBLIC + "/webhooks/phone/status", form
                )
            },
            timeout=30,
        )
        assert hung_up.status_code == 204
        final = CaseStore(database).get(case.code)
        assert final.status.value in ("guiding", "completed")
        database.dispose()
        logs = log_path.read_text()

    assert password not in logs and TOKEN not in logs
    for name in ("lorex.db", "tracker.db"):
        for file in tmp_path.glob(name + "*"):
            assert password.encode() not in file.read_bytes(), file

