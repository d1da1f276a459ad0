"""What the web chat's sessions withstand: the session token is a secret the server issues.

The widget asks for a session (``session_request``) and keeps the token the server confirms; the
token opens one conversation, whose id (``web-`` and the token's random half) the console, the
databases and Rasa's API show. On the running product (started as `make run` starts it) and over
real socket.io, as the widget talks to it, a visitor (the victim) chats while another client (the
hijacker) tries to join or write into the victim's conversation:

- asking for the victim's conversation id gets a fresh, different session and none of the
  victim's messages; so does any id the server cannot have issued (short, guessed, malformed,
  forged, an old widget's own);
- naming the victim's id, even its token, in a ``user_uttered`` message does not reach the
  victim's conversation: each socket writes only into the conversation it was confirmed into;
  nor can the REST channel name a web chat conversation;
- a temporary password an agent releases reaches the victim's socket only;
- the victim reconnecting with its own token (a reload) continues its conversation;
- no session token is written to the server log;
- every message carries the client's address as the server sees it, whatever the client claims.
"""

from __future__ import annotations

import asyncio
import re
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher

from bot.agents.accounts import AgentAccounts
from bot.channels.chat_sessions import SessionTokens, session_key
from bot.channels.client import CLIENT_ADDRESS_KEY, LANGUAGE_KEY
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.serve import Settings
from bot.settings import CHAT_SECRET_VARIABLE, settings_from
from tests.chat_user import ChatUser
from tests.running_product import AssistantClient, running_product

SUPPORTED_ID = "ND4810273945KXQ"
OWNER = ("zion juniperfield", "Zion.Juniperfield@example.com", "(202) 555-0110")
QUIET_SECONDS = 3.0  # how long a socket that should hear nothing is listened to


@dataclass
class Product(AssistantClient):
    settings: Settings
    log_path: Path
    database_url: str
    tokens: set[str] = field(default_factory=set)  # every token confirmed, for the log check

    def user_events(self, conversation_id: str) -> list[dict[str, Any]]:
        events = self.tracker(conversation_id)["events"]
        return [event for event in events if event["event"] == "user"]

    async def visitor(self, token: Any = None) -> ChatUser:
        user = ChatUser(self.settings, token)
        self.tokens.add(await user.connect())
        return user


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    folder = tmp_path_factory.mktemp("chat-sessions")
    database_url = f"sqlite:///{folder / 'lorex.db'}"
    with running_product(
        folder, database_url=database_url, tracker_store_url=f"sqlite:///{folder / 'tracker.db'}"
    ) as (settings, log_path):
        yield Product(settings.rasa_url, settings.rasa_api_token, settings, log_path, database_url)


async def heard(user: ChatUser, seconds: float = QUIET_SECONDS) -> list[dict[str, Any]]:
    """What ``user`` received in the next ``seconds``, besides what it had received already."""
    await asyncio.sleep(seconds)
    return user.drain()


def test_asking_for_a_victims_conversation_gets_a_fresh_one_and_none_of_its_messages(
    product: Product,
) -> None:
    async def attack() -> tuple[ChatUser, ChatUser, list[dict[str, Any]]]:
        victim = await product.visitor()
        await victim.say("I forgot my recorder password", until=("Device ID",))
        hijacker = await product.visitor(victim.conversation_id)
        await victim.say("where can I find it?", until=("QR code",))
        overheard = await heard(hijacker)
        for user in (victim, hijacker):
            await user.leave()
        return victim, hijacker, overheard

    victim, hijacker, overheard = asyncio.run(attack())
    assert hijacker.token != victim.token
    assert hijacker.conversation_id != victim.conversation_id
    assert overheard == []


def test_a_message_naming_the_victims_token_stays_in_the_senders_own_conversation(
    product: Product,
) -> None:
    marker = f"zebra{uuid.uuid4().hex[:6]}"

    async def attack() -> tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]:
        victim = await product.visitor()
        await victim.say("hello", until=("Lorex recorder assistant",))
        await victim.payload(lambda m: m.get("type") == "turn", "the turn's end")
        hijacker = await product.visitor()
        await hijacker.client.emit(
            "user_uttered", {"message": f"hello {marker}", "session_id": victim.token}
        )
        try:  # the hijacker's own conversation answers it
            answers = [await asyncio.wait_for(hijacker.received.get(), 60)]
        except asyncio.TimeoutError:
            answers = []
        victim_heard = await heard(victim)
        for user in (victim, hijacker):
            await user.leave()
        return victim.conversation_id, hijacker.conversation_id, answers, victim_heard

    victim_id, hijacker_id, answers, victim_heard = asyncio.run(attack())
    assert not any(marker in (event.get("text") or "") for event in product.user_events(victim_id))
    assert any(marker in (event.get("text") or "") for event in product.user_events(hijacker_id))
    assert answers, "the hijacker's message was not answered in its own conversation"
    assert victim_heard == []


@pytest.mark.parametrize(
    "requested",
    [
        "1",
        "victim",
        uuid.uuid4().hex,  # what the widget made up before the server issued tokens
        "web-" + uuid.uuid4().hex,  # a conversation id
        "0" * 64,
        "a" * 10_000,
        "../conversations/x",
        42,
        {"session_id": "x"},
    ],
    ids=["one-char", "word", "uuid-hex", "conversation", "zeros", "huge", "path", "number", "obj"],
)
def test_an_id_the_server_did_not_issue_gets_a_fresh_session(
    product: Product, requested: Any
) -> None:
    async def ask() -> tuple[str, str]:
        first = await product.visitor(requested)
        second = await product.visitor(requested)
        for user in (first, second):
            await user.leave()
        return first.token, second.token

    first, second = asyncio.run(ask())
    assert first != requested and second != requested
    assert first != second


def test_a_forged_id_gets_a_fresh_session(product: Product) -> None:
    """A token shaped like the server's, with the last character changed (a forged MAC)."""

    async def forge() -> tuple[str, str]:
        genuine = await product.visitor()
        issued = genuine.token
        forged_id = issued[:-1] + ("0" if issued[-1] != "0" else "1")
        forger = await product.visitor(forged_id)
        for user in (genuine, forger):
            await user.leave()
        return forged_id, forger.token

    forged_id, confirmed = asyncio.run(forge())
    assert confirmed != forged_id


def test_a_released_password_reaches_the_victims_socket_only(product: Product) -> None:
    database = Database(product.database_url)
    desk = SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())
    accounts = AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    agent = accounts.create("alice", "Alice", "correct horse battery staple")
    bridge = RasaBridge(product.settings.rasa_url, product.settings.rasa_api_token)

    async def visit() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        victim = await product.visitor()
        await victim.say("I forgot my recorder password", until=("Device ID",))
        await victim.say(SUPPORTED_ID, until=("What name",))
        await victim.say(OWNER[0], until=("email",))
        await victim.say(OWNER[1], until=("phone",))
        queued = await victim.say(OWNER[2], until=("support case",))
        code = next(
            m["text"] for m in queued if "support case" in (m.get("text") or "")
        ).split("**")[1]
        # Two hijackers: one asks for the victim's conversation, one names its token.
        asking = await product.visitor(victim.conversation_id)
        naming = await product.visitor()
        await naming.client.emit("user_uttered", {"message": "hi", "session_id": victim.token})
        agent_desk = AgentDesk(desk, bridge)
        await agent_desk.claim(code, agent)
        outcome = await agent_desk.release(code, agent, releases_seen=0)
        assert outcome.problem is None, outcome.problem
        password = await victim.payload(lambda m: "temporary_password" in m, "the password")
        await victim.messages_until("Step 1 of")
        overheard = await heard(asking) + await heard(naming, 0)
        await bridge.close()
        for user in (victim, asking, naming):
            await user.leave()
        return password, overheard

    password, overheard = asyncio.run(visit())
    value = password["temporary_password"]["value"]
    assert re.fullmatch(r"[A-Z0-9]{10}", value)
    assert not any("temporary_password" in message for message in overheard)
    assert value not in repr(overheard)


def test_the_victim_reconnecting_with_its_own_id_continues_its_conversation(
    product: Product,
) -> None:
    async def reload() -> tuple[ChatUser, ChatUser, list[dict[str, Any]]]:
        before = await product.visitor()
        await before.say("I forgot my recorder password", until=("Device ID",))
        await before.leave()
        after = await product.visitor(before.token)
        # The form asked for the Device ID before the reload: the answer continues it.
        answer = await after.say(SUPPORTED_ID, until=("What name",))
        await after.leave()
        return before, after, answer

    before, after, answer = asyncio.run(reload())
    assert after.token == before.token
    assert after.conversation_id == before.conversation_id
    assert any("registered N841" in (message.get("text") or "") for message in answer)


def test_a_message_before_any_session_is_refused_with_an_error_event(product: Product) -> None:
    async def hasty() -> dict[str, Any]:
        user = ChatUser(product.settings)
        await user.client.connect(
            product.settings.rasa_url, socketio_path="/socket.io", transports=["polling"]
        )
        await user.client.emit("user_uttered", {"message": "hello", "session_id": "anything"})
        error = await asyncio.wait_for(user.errors.get(), 30)
        await user.leave()
        return error

    error = asyncio.run(hasty())
    assert error["error"] == "no_session"
    assert "session_request" in error["message"]


def test_every_message_carries_the_client_address_the_server_sees(product: Product) -> None:
    claimed = {CLIENT_ADDRESS_KEY: "203.0.113.9", "page": "demo"}

    async def chat() -> str:
        user = await product.visitor()
        await user.client.emit(
            "user_uttered",
            {"message": "hello", "metadata": claimed},
        )
        await user.messages_until("Lorex recorder assistant")
        await user.leave()
        return user.conversation_id

    socket_conversation = asyncio.run(chat())
    rest_conversation = f"rest-{uuid.uuid4().hex[:8]}"
    reply = requests.post(
        f"{product.settings.rasa_url}/webhooks/rest/webhook",
        json={"sender": rest_conversation, "message": "hello", "metadata": claimed},
        timeout=60,
    )
    assert reply.status_code == 200
    for conversation in (socket_conversation, rest_conversation):
        [event] = product.user_events(conversation)
        assert event["metadata"][CLIENT_ADDRESS_KEY] == "127.0.0.1", conversation
        assert event["metadata"]["page"] == "demo"


def test_the_clients_language_reaches_the_dialogue_only_when_the_assistant_speaks_it(
    product: Product,
) -> None:
    """The widget says which language its page is in; a language the assistant does not speak,
    or anything else under that key, is dropped, never an error."""
    # What the client sends under "language", and what the dialogue gets (None: nothing).
    sent: list[tuple[object, str | None]] = [
        ("es", "es"), ("fr-CA", "fr"), ("EN", "en"), ("de", None), ("x" * 500, None),
        (7, None), (["fr"], None),
    ]

    async def chat(language: object) -> str:
        user = await product.visitor()
        await user.client.emit(
            "user_uttered", {"message": "hello", "metadata": {LANGUAGE_KEY: language}}
        )
        await user.payload(lambda m: m.get("type") == "turn", "the end of the turn")
        await user.leave()
        return user.conversation_id

    for language, expected in sent:
        socket_conversation = asyncio.run(chat(language))
        rest_conversation = f"rest-{uuid.uuid4().hex[:8]}"
        reply = requests.post(
            f"{product.settings.rasa_url}/webhooks/rest/webhook",
            json={"sender": rest_conversation, "message": "hello",
                  "metadata": {LANGUAGE_KEY: language}},
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        for conversation in (socket_conversation, rest_conversation):
            [event] = product.user_events(conversation)
            assert event["metadata"].get(LANGUAGE_KEY) == expected, (conversation, language)
            assert event["metadata"][CLIENT_ADDRESS_KEY] == "127.0.0.1"


def test_the_rest_channel_cannot_name_a_web_chat_conversation(product: Product) -> None:
    async def chat() -> str:
        victim = await product.visitor()
        await victim.say("hello", until=("Lorex recorder assistant",))
        await victim.leave()
        return victim.conversation_id

    conversation_id = asyncio.run(chat())
    reply = requests.post(
        f"{product.settings.rasa_url}/webhooks/rest/webhook",
        json={"sender": conversation_id, "message": "I forgot my recorder password"},
        timeout=60,
    )
    assert reply.status_code == 400
    assert "web chat" in reply.json()["error"]
    assert len(product.user_events(conversation_id)) == 1


def test_no_session_token_is_written_to_the_server_log(product: Product) -> None:
    """Runs last in this module: every token the tests above were given is looked for."""
    log = product.log_path.read_text()
    assert len(product.tokens) > 10
    leaked = [token for token in product.tokens if token in log]
    assert leaked == []


# The key that makes ids unforgeable: from the environment, else made once and kept private.


def test_the_kept_key_is_made_once_private_and_survives_a_restart(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "chat-session.key"
    first = session_key("", key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert session_key("", key_file) == first  # a restart keeps every visitor's session
    issued = SessionTokens(first).issue()
    assert SessionTokens(session_key("", key_file)).is_issued(issued)
    assert not SessionTokens(session_key("", tmp_path / "other.key")).is_issued(issued)


def test_the_environments_secret_wins_and_a_short_one_is_refused(tmp_path: Path) -> None:
    secret = "s" * 40
    settings = settings_from({CHAT_SECRET_VARIABLE: secret})
    assert session_key(settings.chat_session_secret, tmp_path / "unused.key") == secret.encode()
    assert not (tmp_path / "unused.key").exists()
    with pytest.raises(ValueError, match=CHAT_SECRET_VARIABLE):
        settings_from({CHAT_SECRET_VARIABLE: "short"})
