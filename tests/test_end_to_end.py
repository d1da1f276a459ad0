"""Whole conversations against the real servers, started the way `make run` starts them.

One product instance (action server, Rasa server and console, as `make run` supervises them) runs
for the module, on free ports and with its own SQLite files; the tests talk to it over the REST
and socket.io channels and read slots back through Rasa's HTTP API with the token.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio  # type: ignore[import-untyped]
from sqlalchemy import create_engine, text

from bot.agents.accounts import AgentAccounts
from bot.channels.chat_sessions import conversation_id_of
from bot.db import Database
from bot.guide.procedure import load_procedure
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.delivery import DeliveryState, Outbox
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.serve import Settings
from bot.settings import PING_VARIABLE, ping_seconds
from tests.chat_user import REPLY_SECONDS, ChatUser
from tests.console_server import CHEAP_HASHER
from tests.running_product import AssistantClient, running_product

SUPPORTED_ID = "ND4810273945KXQ"  # an N841 in data/devices.csv
# Its registered owner in data/devices.csv, as a user might give them.
OWNER = ("zion juniperfield", "Zion.Juniperfield@example.com", "(202) 555-0110")
PASSWORD = "Sunset2024!Orchid"
PING_SECONDS = 5


@dataclass
class Product(AssistantClient):
    settings: Settings
    log_path: Path
    tracker_db: Path
    product_db: Path

    def slots(self, sender: str) -> dict[str, Any]:
        slots: dict[str, Any] = self.tracker(sender)["slots"]
        return slots

    def case_status(self, code: str) -> str:
        engine = create_engine(f"sqlite:///{self.product_db}")
        with engine.connect() as connection:
            status: str = connection.execute(
                text("SELECT status FROM support_cases WHERE code = :code"), {"code": code}
            ).scalar_one()
        engine.dispose()
        return status


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    folder = tmp_path_factory.mktemp("product")
    product_db, tracker_db = folder / "lorex.db", folder / "tracker.db"
    with running_product(
        folder,
        database_url=f"sqlite:///{product_db}",
        tracker_store_url=f"sqlite:///{tracker_db}",
        # engine.io's ping window decides when a page that died unnoticed gave up its password:
        # 5 s pings keep the tests below at seconds where engine.io's 25 s would take minutes.
        extra_env={PING_VARIABLE: str(PING_SECONDS)},
    ) as (settings, log_path):
        yield Product(
            settings.rasa_url, settings.rasa_api_token, settings, log_path, tracker_db, product_db
        )


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def test_the_ready_process_prints_where_everything_is(product: Product) -> None:
    # The `ready` process polls the servers too; give it a moment to notice.
    deadline = time.monotonic() + 15
    while "is ready" not in product.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = product.log_path.read_text()
    assert "The Lorex reset assistant is ready." in log
    assert f"{product.settings.rasa_url}/webhooks/rest/webhook" in log


def test_a_supported_recorder_is_checked_the_owner_asked_and_the_case_queued(
    product: Product,
) -> None:
    sender = new_sender()
    assert "Lorex recorder assistant" in product.texts(sender, "hi")
    assert "Device ID" in product.texts(sender, "I forgot my recorder's password")
    location = product.texts(sender, "where can I find it?")
    assert "QR code" in location and "Device Info" in location and "not the serial" in location

    reply = product.texts(sender, "nd48-1027-3945-kxq")
    assert "ND48 1027 3945 KXQ is a registered N841" in reply
    assert "What name is it registered under?" in reply
    assert "didn't catch a name" in product.texts(sender, "12345")
    assert "email address" in product.texts(sender, "Dana Whitfield")
    assert "phone number" in product.texts(sender, "skip")
    reply = product.texts(sender, "+1 416 555 0101")
    code = re.search(r"case \*\*(LX-[A-Z0-9]{6})\*\*", reply)
    assert code, reply
    assert "in the queue" in reply or "support team is away" in reply

    tracker = product.tracker(sender)
    # The assistant stays available while the owner waits; only a live agent pauses it.
    assert tracker["paused"] is False
    assert tracker["slots"]["device_id"] == SUPPORTED_ID
    assert tracker["slots"]["device_model"] == "N841"
    assert tracker["slots"]["case_id"] == code.group(1)
    assert product.case_status(code.group(1)) == "queued"
    assert "QR code" in product.texts(sender, "where is the device id?")


def test_a_serial_number_and_unknown_ids_get_their_own_answers(product: Product) -> None:
    sender = new_sender()
    product.texts(sender, "I need to reset my NVR password")
    assert "serial number" in product.texts(sender, "21LX0483920175")
    assert "only 6 characters" in product.texts(sender, "ND4810")
    slots = product.slots(sender)
    assert slots["device_id"] is None
    offer = product.texts(sender, "ND9999999999ZZZ")
    assert "couldn't find ND99 9999 9999 ZZZ" in offer
    assert "support agent" in offer  # third failed attempt: a person is offered
    queued = product.texts(sender, "yes please")
    code = re.search(r"case \*\*(LX-[A-Z0-9]{6})\*\*", queued)
    assert code, queued
    assert product.case_status(code.group(1)) == "queued"


def test_other_recovery_routes_are_explained(product: Product) -> None:
    sender = new_sender()
    reply = product.texts(sender, "my device id is NC3307815562RTA")
    assert "N831" in reply and "security questions" in reply and "Lorex Connect" in reply
    sender = new_sender()
    reply = product.texts(sender, "LHAP 2048 1937 5502")
    assert "Lorex Home" in reply and "Forgot device password" in reply


def test_every_reset_step_is_guided_and_the_case_completed(product: Product) -> None:
    sender = new_sender()
    first = product.texts(sender, "support already gave me a temporary password")
    total = int(re.search(r"Step 1 of (\d+)", first).group(1))  # type: ignore[union-attr]
    assert "monitor" in first and "mouse" in first
    assert product.slots(sender)["reset_step"] == 1

    assert "Step 2 of" in product.texts(sender, "done")
    assert "Step 1 of" in product.texts(sender, "go back")
    assert "Step 1 of" in product.texts(sender, "can you repeat that")
    stuck = product.texts(sender, "I'm stuck")
    assert "Step 1 of" in stuck
    for number in range(2, total + 1):
        reply = product.texts(sender, "done")
        assert f"Step {number} of {total}" in reply, reply
        assert product.slots(sender)["reset_step"] == number
    case_id = product.slots(sender)["case_id"]
    assert product.case_status(case_id) == "guiding"

    finished = product.texts(sender, "done")
    slots = product.slots(sender)
    assert slots["guiding"] is False and slots["reset_step"] is None
    assert product.case_status(case_id) == "completed"
    assert finished


def test_a_password_typed_into_the_chat_is_refused_and_never_stored(product: Product) -> None:
    sender = new_sender()
    product.texts(sender, "I have the temporary password")
    warning = product.texts(sender, f"my new password will be {PASSWORD}")
    assert load_procedure().message("password_warning", "chat") in warning
    events = product.tracker(sender)["events"]
    user_texts = [event["text"] for event in events if event["event"] == "user"]
    assert PASSWORD not in " ".join(user_texts)
    assert any("hidden" in (user_text or "") for user_text in user_texts)
    assert PASSWORD.encode() not in product.tracker_db.read_bytes()
    assert PASSWORD not in product.log_path.read_text()


@pytest.mark.parametrize(
    "message",
    ["", "   ", "😀🎉👍", "¿Cómo restablezco la contraseña?", "blah " * 2000, "x" * 10_000],
)
def test_odd_messages_get_a_sensible_answer(product: Product, message: str) -> None:
    sender = new_sender()
    replies = product.say(sender, message)
    # Something to read, then the turn's contract (the JSON-only message that ends every turn).
    *said, turn = replies
    assert said and all(reply.get("text") for reply in said)
    assert turn["custom"]["data"]["type"] == "turn"
    # ... and the conversation carries on.
    assert "Device ID" in product.texts(sender, "I forgot my recorder password")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "parsing body as json"),
        ('["a list"]', "JSON object"),
        ('{"message": "hi"}', "'sender' is required"),
        ('{"sender": "x"}', "'message' is required"),
        ('{"sender": "x", "message": 42}', "'message' is required"),
        ('{"sender": "x", "message": "hi", "metadata": 3}', "'metadata' must be"),
    ],
)
def test_malformed_requests_get_a_json_error(product: Product, body: str, error: str) -> None:
    reply = requests.post(
        f"{product.settings.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 400
    assert error.lower() in reply.json()["error"].lower()


def test_the_http_api_needs_the_token(product: Product) -> None:
    base = product.settings.rasa_url
    assert requests.get(f"{base}/status", timeout=10).status_code == 401
    assert requests.get(f"{base}/status", params={"token": "wrong"}, timeout=10).status_code == 401
    ok = requests.get(
        f"{base}/status", params={"token": product.settings.rasa_api_token}, timeout=10
    )
    assert ok.status_code == 200


def test_socketio_replies_and_pushes_reach_the_browser_session(product: Product) -> None:
    """The web chat's channel: replies arrive, and so do pushes from the HTTP API (the agent
    console's path), which needs the session room that Rasa 3.6 fails to join."""

    async def converse() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        client = socketio.AsyncClient()
        received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        client.on("bot_uttered", lambda data: received.put_nowait(data))
        client.on("session_confirm", lambda sid: confirmed.done() or confirmed.set_result(sid))
        # Long-polling: the engineio client cannot open websockets with the aiohttp Rasa pins.
        await client.connect(
            product.settings.rasa_url, socketio_path="/socket.io", transports=["polling"]
        )
        await client.emit("session_request", {})  # the server issues the session token
        token = await asyncio.wait_for(confirmed, 10)
        assert client.eio.ping_interval == PING_SECONDS  # as the server's handshake set it

        async def one_turn() -> list[dict[str, Any]]:
            """What the assistant says in one turn, up to the contract payload that ends it."""
            said = [await asyncio.wait_for(received.get(), 30)]
            while said[-1].get("type") != "turn":
                said.append(await asyncio.wait_for(received.get(), 30))
            return said

        await client.emit("user_uttered", {"message": "hello", "session_id": token})
        replies = await one_turn()
        # A guided step: its text, then its step card (a custom payload).
        await client.emit(
            "user_uttered", {"message": "I have a temporary password", "session_id": token}
        )
        replies += await one_turn()

        pushed = await asyncio.to_thread(
            requests.post,
            f"{product.settings.rasa_url}/conversations/{conversation_id_of(token)}/trigger_intent",
            params={"token": product.settings.rasa_api_token, "output_channel": "socketio"},
            json={"name": "ask_device_id_location"},
            timeout=30,
        )
        pushed.raise_for_status()
        pushes = await one_turn()
        await client.disconnect()
        return replies, pushes

    replies, pushes = asyncio.run(converse())
    assert "Lorex recorder assistant" in replies[0]["text"]
    assert any("Step 1 of" in reply.get("text", "") for reply in replies)
    card = next(reply for reply in replies if reply.get("type") == "reset_step")
    assert card["step"] == 1 and card["total"] >= 9 and card["finished"] is False
    assert "QR code" in pushes[0]["text"]
    assert {"type": "pictures", "pictures": ["label", "info-screen"]} in pushes
    assert (pushes[-1]["state"], pushes[-1]["expects"], pushes[-1]["step"]) == ("steps", "step", 1)


# --- a released password reaches the owner once, whatever the connection does -----------------


class Support:
    """An agent at the support desk of the running product (what the console does)."""

    def __init__(self, product: Product) -> None:
        self.database = Database(f"sqlite:///{product.product_db}")
        self.desk = SupportDesk(
            self.database, centre=load_support_centre(), provider=GeneratedPasswords()
        )
        self.agent = AgentAccounts(self.database, hasher=CHEAP_HASHER).create(
            f"agent-{uuid.uuid4().hex[:8]}", "Alice", "correct horse battery staple"
        )
        self.bridge = RasaBridge(product.settings.rasa_url, product.settings.rasa_api_token)

    async def claim_and_release(self, code: str) -> str:
        """The release's reference."""
        agent_desk = AgentDesk(self.desk, self.bridge)
        await agent_desk.claim(code, self.agent)
        outcome = await agent_desk.release(code, self.agent, releases_seen=0)
        assert outcome.problem is None, outcome.problem
        await self.bridge.close()
        return str(self.desk.case_file(code).releases[-1].reference)

    def delivery(self, reference: str) -> DeliveryState | None:
        known = Outbox(self.database).deliveries([reference]).get(reference)
        return known.state if known else None


def case_code(text: str) -> str:
    found = re.search(r"case \*\*(LX-[A-Z0-9]{6})\*\*", text)
    assert found, text
    return found.group(1)


async def queued_chat_owner(product: Product) -> tuple[ChatUser, str]:
    """An owner on the web chat (still connected) whose case is queued, and the case's code."""
    owner = ChatUser(product.settings)
    await owner.connect()
    await owner.say("I forgot my recorder password", until=("Device ID",))
    await owner.say(SUPPORTED_ID, until=("What name",))
    await owner.say(OWNER[0], until=("email",))
    await owner.say(OWNER[1], until=("phone",))
    queued = await owner.say(OWNER[2], until=("**LX-",))
    return owner, case_code("\n".join(m.get("text") or "" for m in queued))


def payload_of(message: dict[str, Any]) -> dict[str, Any]:
    data = (message.get("custom") or {}).get("data")
    return data if isinstance(data, dict) else {}


def stream(product: Product, sender: str, message: str) -> list[dict[str, Any]]:
    """One message over the REST channel's streaming mode (``?stream=true``): the answer is a
    stream of JSON lines."""
    reply = requests.post(
        f"{product.settings.rasa_url}/webhooks/rest/webhook",
        params={"stream": "true"},
        json={"sender": sender, "message": message},
        timeout=60,
    )
    reply.raise_for_status()
    return [json.loads(line) for line in reply.text.splitlines() if line.strip()]


def test_a_streaming_rest_client_gets_a_release_with_its_next_message_once(
    product: Product,
) -> None:
    sender = new_sender()
    stream(product, sender, "I forgot my recorder password")
    stream(product, sender, SUPPORTED_ID)
    for detail in OWNER:
        queued = "\n".join(m.get("text", "") for m in stream(product, sender, detail))
    code = case_code(queued)
    support = Support(product)
    reference = asyncio.run(support.claim_and_release(code))
    assert support.delivery(reference) is DeliveryState.WAITING

    # Any message brings what was kept: the release (the password, once), then the answer.
    answer = stream(product, sender, "any update?")
    kinds = [payload_of(m).get("type") for m in answer]
    assert "temporary_password" in kinds, answer
    given = kinds.index("temporary_password")
    password = payload_of(answer[given])["temporary_password"]
    assert support.desk.verify_secret(code, password["value"])
    assert any("Step 1 of" in (m.get("text") or "") for m in answer[given:])
    assert kinds[-1] == "turn"  # the answer to "any update?" comes last
    assert support.delivery(reference) is DeliveryState.DELIVERED

    assert password["value"] not in json.dumps(stream(product, sender, "any update?"))
    assert password["value"] not in json.dumps(product.say(sender, "any update?"))


def test_kept_messages_survive_a_socket_that_drops_while_they_are_sent(product: Product) -> None:
    """The owner's page comes back and its socket drops as the kept messages (the released
    password among them) are being sent: they stay kept, and the next socket gets them, once."""
    support = Support(product)

    async def visit() -> dict[str, Any]:
        owner, code = await queued_chat_owner(product)
        token = owner.token
        await owner.leave()
        await wait_for(lambda: support.desk.case_file(code).owner_gone_since, "owner left")
        reference = await support.claim_and_release(code)
        assert support.delivery(reference) is DeliveryState.WAITING

        # Back, and gone again as the first kept message arrives, before it could be shown.
        dropping = ChatUser(product.settings, token)
        first: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        gone = asyncio.Event()

        async def drop_unread(data: dict[str, Any]) -> None:
            if not first.done():
                first.set_result(data)
            await gone.wait()  # the page died: it never answers for what it was sent

        dropping.client.on("bot_uttered", drop_unread)
        await dropping.connect()
        await asyncio.wait_for(first, REPLY_SECONDS)
        await dropping.leave()
        gone.set()
        assert support.delivery(reference) is not DeliveryState.DELIVERED

        back = ChatUser(product.settings, token)
        await back.connect()
        password = await back.payload(lambda m: "temporary_password" in m, "the password")
        step_one = await back.messages_until("Step 1 of")
        await wait_for(lambda: support.delivery(reference) is DeliveryState.DELIVERED, "delivered")
        await back.leave()

        # It was delivered: the next socket is given nothing of it again.
        later = await what_a_new_page_gets(product, token)
        return {"code": code, "password": password, "step_one": step_one, "later": later}

    seen = asyncio.run(visit())
    value = seen["password"]["temporary_password"]["value"]
    assert support.desk.verify_secret(seen["code"], value)
    assert seen["step_one"]
    assert value not in json.dumps(seen["later"])
    assert not any("temporary_password" in m for m in seen["later"]), seen["later"]


def test_a_password_sent_to_a_page_that_dies_before_showing_it_waits_for_the_next(
    product: Product,
) -> None:
    """The owner's page is open when the password is released, and dies as it arrives, before
    it could show it (the server has not noticed yet): the password is not counted as
    delivered, and the owner's next page gets it, once."""
    support = Support(product)

    async def visit() -> dict[str, Any]:
        owner, code = await queued_chat_owner(product)
        token = owner.token

        arrived: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        gone = asyncio.Event()

        async def dies_on_the_password(data: dict[str, Any]) -> None:
            if "temporary_password" not in data:
                owner.received.put_nowait(data)
                return
            if not arrived.done():
                arrived.set_result(data)
            await gone.wait()  # the page died: it never answers for it

        owner.client.on("bot_uttered", dies_on_the_password)
        reference = await support.claim_and_release(code)
        await asyncio.wait_for(arrived, REPLY_SECONDS)
        await owner.leave()
        gone.set()
        assert support.delivery(reference) is not DeliveryState.DELIVERED

        back = ChatUser(product.settings, token)
        await back.connect()
        password = await back.payload(lambda m: "temporary_password" in m, "the password")
        await wait_for(lambda: support.delivery(reference) is DeliveryState.DELIVERED, "delivered")
        await back.leave()

        later = await what_a_new_page_gets(product, token)
        return {"code": code, "password": password, "later": later}

    seen = asyncio.run(visit())
    value = seen["password"]["temporary_password"]["value"]
    assert support.desk.verify_secret(seen["code"], value)
    assert value not in json.dumps(seen["later"])


def test_a_page_that_never_acknowledges_but_stays_connected_has_read_the_password(
    product: Product,
) -> None:
    """A page that does not acknowledge (a widget from before acknowledgements) but whose
    socket stays open: once the socket has answered the server's pings past the message, it has
    read it, so the password counts as delivered then, and is not sent again."""
    support = Support(product)

    async def visit() -> dict[str, Any]:
        owner, code = await queued_chat_owner(product)
        token = owner.token

        shown: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        done = asyncio.Event()

        async def never_acknowledges(data: dict[str, Any]) -> None:
            if "temporary_password" in data and not shown.done():
                shown.set_result(data)
            await done.wait()  # shown, but no acknowledgement goes back

        owner.client.on("bot_uttered", never_acknowledges)
        reference = await support.claim_and_release(code)
        password = await asyncio.wait_for(shown, REPLY_SECONDS)
        await asyncio.sleep(5)
        assert support.delivery(reference) is DeliveryState.WAITING or (
            support.delivery(reference) is None
        )
        # engine.io's ping window (5 s + 2 x 5 s, and a margin): the socket still answers pings.
        await wait_for(
            lambda: support.delivery(reference) is DeliveryState.DELIVERED, "delivered", 60
        )
        done.set()
        await owner.leave()

        later = await what_a_new_page_gets(product, token)
        return {"code": code, "password": password, "later": later}

    seen = asyncio.run(visit())
    value = seen["password"]["temporary_password"]["value"]
    assert support.desk.verify_secret(seen["code"], value)
    assert not any("temporary_password" in m for m in seen["later"]), seen["later"]


async def what_a_new_page_gets(product: Product, token: str) -> list[dict[str, Any]]:
    """What a new page of the conversation is sent on its own within a few seconds."""
    page = ChatUser(product.settings, token)
    await page.connect()
    await asyncio.sleep(3)
    sent = page.drain()
    await page.leave()
    return sent


async def wait_for(condition: Any, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.5)


def test_the_chat_ping_interval_defaults_to_engine_io_s_and_refuses_nonsense() -> None:
    assert ping_seconds({}) is None  # engine.io's own: pings every 25 s, 20 s to answer
    assert ping_seconds({PING_VARIABLE: "5"}) == (5, 5)
    assert ping_seconds({PING_VARIABLE: "60"}) == (60, 20)
    for nonsense in ("0", "-3", "five", "1.5"):
        with pytest.raises(ValueError, match=PING_VARIABLE):
            ping_seconds({PING_VARIABLE: nonsense})
