"""The running product as the scenarios meet it: an owner's conversation on the REST chat
channel or on a phone call (signed Twilio webhooks), and the agent console's actions."""

from __future__ import annotations

import asyncio
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from argon2 import PasswordHasher
from twilio.request_validator import RequestValidator

from bot.agents.accounts import AgentAccounts, AgentView
from bot.cases.store import CaseStore
from bot.cases.views import CaseView
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.phone.content import load_phone_languages

MAX_REDIRECTS = 8  # <Redirect>s followed in one answer

# --- what came back -----------------------------------------------------------------------------


@dataclass
class Reply:
    texts: list[str]
    payloads: list[dict[str, Any]]  # the custom payloads' ``data`` dicts, in order

    @property
    def turn(self) -> dict[str, Any] | None:
        turns = [p for p in self.payloads if p.get("type") == "turn"]
        return turns[-1] if turns else None

    def render(self) -> list[str]:
        lines = [f"  assistant: {text}" for text in self.texts]
        for payload in self.payloads:
            if payload.get("type") == "turn":
                fields = ("state", "expects", "step", "case", "language")
                shown = {k: payload.get(k) for k in fields}
                kept = " (kept from the last turn)" if payload.get("kept") else ""
                lines.append(f"  [turn {shown}{kept}]")
            else:
                lines.append(f"  [{payload.get('type')} payload]")
        return lines or ["  (nothing)"]


def _custom_data(custom: Any) -> dict[str, Any] | None:
    if not isinstance(custom, dict):
        return None
    data = custom.get("data", custom)
    return data if isinstance(data, dict) else None


def reply_from_rest(messages: list[dict[str, Any]]) -> Reply:
    texts, payloads = [], []
    for message in messages:
        if message.get("text"):
            texts.append(str(message["text"]))
        for button in message.get("buttons") or []:
            texts.append(f"[button: {button.get('title')}]")
        data = _custom_data(message.get("custom"))
        if data is not None:
            payloads.append(data)
    return Reply(texts, payloads)


def reply_from_bot_events(events: list[dict[str, Any]]) -> Reply:
    texts, payloads = [], []
    for event in events:
        if event.get("event") != "bot":
            continue
        if event.get("text"):
            texts.append(str(event["text"]))
        data = _custom_data((event.get("data") or {}).get("custom"))
        if data is not None:
            payloads.append(data)
    return Reply(texts, payloads)


# --- the running product ------------------------------------------------------------------------


@dataclass
class Product:
    rasa_url: str
    api_token: str
    database_url: str
    public_url: str  # the phone channel's PUBLIC_BASE_URL
    twilio_token: str
    _agent: AgentView | None = None

    def tracker_events(self, conversation_id: str) -> list[dict[str, Any]]:
        answer = requests.get(
            f"{self.rasa_url}/conversations/{conversation_id}/tracker",
            params={"token": self.api_token},
            timeout=30,
        )
        answer.raise_for_status()
        events: list[dict[str, Any]] = answer.json().get("events") or []
        return events

    def latest_case(self, conversation_id: str) -> CaseView | None:
        database = Database(self.database_url)
        try:
            return CaseStore(database).latest_for_conversation(conversation_id)
        finally:
            database.dispose()

    def console(self, conversation_id: str, action: str) -> str:
        """Do ``action`` in the console for the conversation's latest case; what the agent sees."""
        verb, _, argument = action.partition(" ")
        argument = argument.strip().strip('"')
        database = Database(self.database_url)
        try:
            desk = SupportDesk(
                database, centre=load_support_centre(), provider=GeneratedPasswords()
            )
            agent = self._agent_account(database)
            case = CaseStore(database).latest_for_conversation(conversation_id)
            if case is None:
                raise AssertionError(f"agent {action}: the conversation has no case")

            async def act() -> str:
                bridge = RasaBridge(self.rasa_url, self.api_token)
                agent_desk = AgentDesk(desk, bridge)
                try:
                    if case.agent_id != agent.id and verb != "say":
                        claimed = await agent_desk.claim(case.code, agent)
                        if verb == "claim":
                            return claimed.done
                    if verb == "claim":
                        return "already ours"
                    if verb == "release":
                        outcome = await agent_desk.release(case.code, agent)
                    elif verb == "reject":
                        outcome = await agent_desk.reject(
                            case.code, agent, argument or "owner_not_verified"
                        )
                    elif verb == "take_over":
                        outcome = await agent_desk.take_over(case.code, agent)
                    elif verb == "say":
                        outcome = await agent_desk.send_message(case.code, agent, argument)
                    else:
                        outcome = await agent_desk.hand_back(case.code, agent)
                    return outcome.done + (
                        f" PROBLEM: {outcome.problem}" if outcome.problem else ""
                    )
                finally:
                    await bridge.close()

            try:
                return asyncio.run(act())
            except AssertionError:
                raise
            except Exception as exc:  # the console refused: the scenario fails saying why
                raise AssertionError(
                    f"agent {action} on case {case.code} ({case.status.value}) failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        finally:
            database.dispose()

    def _agent_account(self, database: Database) -> AgentView:
        if self._agent is None:
            accounts = AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
            self._agent = accounts.create(
                "scenario-agent", "Robin", "correct horse battery staple " + uuid.uuid4().hex
            )
        return self._agent


# --- the two channels ---------------------------------------------------------------------------


class Conversation:
    """One owner's conversation on one channel, by an owner whose client is in ``language``
    (chat: the page's language; phone: the one chosen at the language menu)."""

    conversation_id: str

    def __init__(self, product: Product, language: str | None = None) -> None:
        self.product = product
        self.language = language

    def start(self) -> Reply:
        """What the assistant says before the owner does (a call's greeting)."""
        return Reply([], [])

    def menu_answer(self, reply: Reply) -> str | None:
        """What the owner answers before anything else, when ``reply`` (the start's) is a
        language menu: a user line, or None (no menu)."""
        return None

    def user(self, text: str) -> Reply:
        raise NotImplementedError

    def agent(self, action: str) -> tuple[str, Reply]:
        raise NotImplementedError

    def _events_since(self, count: int) -> Reply:
        return reply_from_bot_events(self.product.tracker_events(self.conversation_id)[count:])

    def _event_count(self) -> int:
        return len(self.product.tracker_events(self.conversation_id))


class ChatConversation(Conversation):
    def __init__(self, product: Product, language: str | None = None) -> None:
        super().__init__(product, language)
        self.conversation_id = f"scn-{uuid.uuid4().hex[:12]}"

    def user(self, text: str) -> Reply:
        body: dict[str, Any] = {"sender": self.conversation_id, "message": text}
        if self.language is not None:  # the page's language, as the widget sends it
            body["metadata"] = {"language": self.language}
        answer = requests.post(
            f"{self.product.rasa_url}/webhooks/rest/webhook", json=body, timeout=60
        )
        if answer.status_code != 200:
            raise AssertionError(f"the REST channel answered {answer.status_code}: {answer.text}")
        return reply_from_rest(answer.json())

    def agent(self, action: str) -> tuple[str, Reply]:
        before = self._event_count()
        done = self.product.console(self.conversation_id, action)
        # A REST client cannot be pushed to: what the assistant said is read from the tracker.
        return done, self._events_since(before)


class PhoneConversation(Conversation):
    def __init__(
        self, product: Product, language: str | None = None, menu: str | None = None
    ) -> None:
        super().__init__(product, language)
        self.menu = menu  # the answer to the language menu, if not the language's key
        self.rang: ET.Element | None = None  # what the call heard when it rang
        self.validator = RequestValidator(product.twilio_token)
        self.http = requests.Session()
        self.next_urls: dict[str, str] = {}
        self.on_hold = False
        self.queue_time = 0
        self.last_turn: dict[str, Any] | None = None
        self.conversation_id = "CA" + uuid.uuid4().hex

    def _post(self, path: str, **params: str) -> ET.Element:
        public = self.product.public_url
        url = self.next_urls.get(path, public + path)
        form = {
            "CallSid": self.conversation_id,
            "From": "+12025550110",
            "To": "+18885550000",
            **params,
        }
        answer = self.http.post(
            self.product.rasa_url + url.removeprefix(public),
            data=form,
            headers={"X-Twilio-Signature": self.validator.compute_signature(url, form)},
            timeout=60,
        )
        if answer.status_code != 200:
            raise AssertionError(
                f"the phone webhook {path} answered {answer.status_code}: {answer.text}"
            )
        twiml = ET.fromstring(answer.text) if answer.text.strip() else ET.Element("Response")
        for named in [
            *(gather.get("action") for gather in twiml.iter("Gather")),
            *(enqueue.get("waitUrl") for enqueue in twiml.iter("Enqueue")),
            *(enqueue.get("action") for enqueue in twiml.iter("Enqueue")),
        ]:
            if named:
                self.next_urls[urlsplit(named).path] = named
        if twiml.find("Enqueue") is not None:
            self.on_hold = True
        return twiml

    def _followed(self, twiml: ET.Element) -> list[str]:
        """What the caller hears from ``twiml``, following ``<Redirect>`` as Twilio does."""
        heard: list[str] = []
        for _ in range(MAX_REDIRECTS):
            heard += [say.text or "" for say in twiml.iter("Say") if (say.text or "").strip()]
            if twiml.find("Enqueue") is not None:
                heard.append("[on hold]")
            if twiml.find("Hangup") is not None:
                heard.append("[hangs up]")
            redirect = twiml.find("Redirect")
            if redirect is None or not redirect.text:
                break
            time.sleep(1)  # the <Pause> before it: the assistant's message is on its way
            path = urlsplit(redirect.text).path
            self.next_urls[path] = redirect.text
            twiml = self._post(path)
        return heard

    def _turn(self, send: Callable[[], ET.Element]) -> Reply:
        before = self._event_count()
        heard = self._followed(send())
        return self._kept(Reply(heard, self._events_since(before).payloads))

    def _kept(self, reply: Reply) -> Reply:
        """A turn the channel answered alone (a read-back, the step held until "ready") keeps
        the call's last turn payload, as the channel does."""
        if reply.turn is not None:
            self.last_turn = reply.turn
        elif self.last_turn is not None:
            reply.payloads.append({**self.last_turn, "kept": True})
        return reply

    def start(self) -> Reply:
        def ring() -> ET.Element:
            self.rang = self._post("/webhooks/phone/voice", CallStatus="ringing")
            return self.rang

        return self._turn(ring)

    def menu_answer(self, reply: Reply) -> str | None:
        """The language menu is the ring's answer that reached no dialogue (no turn) and
        listens while it says lines in more than one language (each language's own line)."""
        gather = None if self.rang is None else self.rang.find("Gather")
        if reply.turn is not None or gather is None:
            return None
        if len({say.get("language") for say in gather.iter("Say")}) < 2:
            return None
        if self.menu is not None:
            return self.menu
        language = (self.language or "en").replace("_", "-").split("-")[0].lower()
        return "press " + load_phone_languages()[language].choice.key

    def user(self, text: str) -> Reply:
        text = text.strip()
        if text.lower().startswith("press "):
            params = {"Digits": text[len("press ") :].replace(" ", "")}
        elif text:
            params = {"SpeechResult": text, "Confidence": "0.9"}
        else:
            params = {}
        if self.on_hold:
            waiting = self._hold_poll()
            if waiting.find("Gather") is None:
                raise AssertionError(
                    "the caller is on hold (Enqueue, no Gather): nothing they say is heard"
                )
        return self._turn(lambda: self._post("/webhooks/phone/voice", **params))

    def _hold_poll(self) -> ET.Element:
        self.queue_time += 20  # each poll differs, as Twilio's do (a repeat is a replay)
        return self._post("/webhooks/phone/wait", QueuePosition="1", QueueTime=str(self.queue_time))

    def agent(self, action: str) -> tuple[str, Reply]:
        before = self._event_count()
        done = self.product.console(self.conversation_id, action)
        if not self.on_hold:
            return done, self._kept(self._events_since(before))
        waiting = self._hold_poll()
        heard = [say.text or "" for say in waiting.iter("Say") if (say.text or "").strip()]
        if waiting.find("Leave") is not None:
            self.on_hold = False
            heard += self._followed(self._post("/webhooks/phone/after-queue", QueueResult="leave"))
        return done, self._kept(Reply(heard, self._events_since(before).payloads))


def conversation_on(
    product: Product, channel: str, language: str | None, menu: str | None
) -> Conversation:
    """A new conversation on ``channel`` by an owner whose client is in ``language``."""
    if channel == "phone":
        return PhoneConversation(product, language, menu)
    return ChatConversation(product, language)
