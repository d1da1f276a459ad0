# mypy: disable-error-code="import-untyped"
"""The web chat on several Rasa instances sharing Redis, and on one without it.

First the contract of :mod:`bot.channels.socket_rooms` (presence, one sender at a time, kept
notices), run on each implementation: ``memory`` (``make run``: one process, one object) and
``redis`` (two instance objects on a real Redis, ``$TEST_REDIS_URL``, each test under its own
key prefix).

Then the real channel: each instance is a Sanic app serving :class:`SocketIOChannel`'s blueprint
on its own port (its own socket.io server, rooms and acknowledgements), with a trivial dialogue
that echoes; the instances share a migrated SQLite database (the outbox, the cases) and, with
``REDIS_URL``, Redis (socket.io's manager, the vault, the rooms). Visitors are python-socketio
clients (:class:`tests.chat_user.ChatUser`), each connected to one instance.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
from playwright.async_api import async_playwright
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from sanic.response import HTTPResponse, html

from bot.bootstrap import rasa_process
from bot.channels.chat_sessions import SessionTokens, conversation_id_of, session_key
from bot.channels.socket_rooms import ChatRooms, MemoryRooms, RedisRooms
from bot.channels.socketio import SocketIOChannel
from bot.db import Database
from bot.handoff.delivery import DeliveryState, Outbox
from bot.settings import settings_from
from tests.chat_user import ChatUser
from tests.conftest import REDIS_URL, WriteCsv
from tests.running_product import free_port
from tests.test_delivery import password_message, released

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
WAIT = 30.0  # seconds anything asynchronous may take on a busy machine before the test fails


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Waits for ``check`` to hold (something another task or instance does)."""
    for _ in range(int(WAIT / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"{what} did not happen within {WAIT} s")


# -- the contract ---------------------------------------------------------------------------------


@dataclass
class Instances:
    """``new()`` is another instance's rooms (memory: the same object: one process)."""

    new: Callable[..., ChatRooms]
    made: list[ChatRooms] = field(default_factory=list)


@asynccontextmanager
async def instances(kind: str, prefix: str) -> AsyncIterator[Instances]:
    shared = MemoryRooms()

    def new(**options: float) -> ChatRooms:
        rooms: ChatRooms
        if kind == "memory":
            rooms = shared
        else:
            rooms = RedisRooms(redis.asyncio.Redis.from_url(REDIS_URL), prefix=prefix, **options)
        made.made.append(rooms)
        return rooms

    made = Instances(new)
    try:
        yield made
    finally:
        for rooms in {id(r): r for r in made.made}.values():
            await rooms.close()


@pytest.fixture(params=["memory", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def nothing(_: str) -> None:
    return None


def test_the_last_socket_to_leave_a_conversation_anywhere_is_told_once(
    kind: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        async with instances(kind, redis_prefix) as made:
            a, b = made.new(), made.new()
            assert not await a.open_anywhere("web-1")
            await a.joined("web-1", "sid-a")
            await b.joined("web-1", "sid-b")
            await b.joined("web-2", "sid-c")
            assert await a.open_anywhere("web-1") and await b.open_anywhere("web-1")
            assert await a.left("web-1", "sid-a") is False  # B's socket is still open
            assert await b.open_anywhere("web-1")
            assert await b.left("web-1", "sid-b") is True
            assert await b.left("web-1", "sid-b") is False  # told once
            assert not await a.open_anywhere("web-1")
            assert await a.open_anywhere("web-2")

    asyncio.run(scenario())


def test_one_sender_at_a_time_per_conversation_whichever_instance(
    kind: str, redis_prefix: str
) -> None:
    async def scenario() -> None:
        async with instances(kind, redis_prefix) as made:
            a, b = made.new(), made.new()
            order: list[str] = []
            inside = asyncio.Event()

            async def first() -> None:
                async with a.one_at_a_time("web-1") as held:
                    order.append("first in")
                    inside.set()
                    await asyncio.sleep(0.5)  # room for a second sender to break in, if it could
                    await held.renew()
                    order.append("first out")

            async def second() -> None:
                await inside.wait()
                async with b.one_at_a_time("web-1"):
                    order.append("second in")

            async def other_conversation() -> None:
                await inside.wait()
                async with b.one_at_a_time("web-2"):
                    order.append("other in")

            await asyncio.gather(first(), second(), other_conversation())
            assert order.index("first out") < order.index("second in")
            assert order.index("other in") < order.index("first out")

    asyncio.run(scenario())


def test_a_kept_message_is_heard_of_by_the_other_instances(kind: str, redis_prefix: str) -> None:
    async def scenario() -> None:
        async with instances(kind, redis_prefix) as made:
            a, b = made.new(), made.new()
            heard: asyncio.Queue[str] = asyncio.Queue()

            async def on_kept(conversation_id: str) -> None:
                heard.put_nowait(conversation_id)

            await b.start(on_kept=on_kept, on_gone=nothing)
            await a.start(on_kept=on_kept, on_gone=nothing)
            await a.announce_kept("web-1")
            assert await asyncio.wait_for(heard.get(), WAIT) == "web-1"

    asyncio.run(scenario())


def test_the_sockets_of_an_instance_that_died_expire_and_the_owner_is_gone_once(
    redis_prefix: str,
) -> None:
    async def scenario() -> None:
        async with instances("redis", redis_prefix) as made:
            dead, live = made.new(socket_ttl=1.0), made.new(socket_ttl=1.0)
            await dead.joined("web-1", "sid-a")  # and never renewed: its instance died
            await live.joined("web-2", "sid-b")
            assert isinstance(live, RedisRooms)
            gone: list[str] = []

            async def expired() -> bool:
                gone.extend(await live.renew())
                return not await live.open_anywhere("web-1")

            await until(expired, "the dead instance's socket expiring")
            gone.extend(await live.renew())
            assert gone == ["web-1"]
            assert await live.open_anywhere("web-2")  # renewed by its live instance

    asyncio.run(scenario())


def test_a_lock_whose_holder_died_is_taken_after_its_ttl(redis_prefix: str) -> None:
    async def scenario() -> None:
        async with instances("redis", redis_prefix) as made:
            dead, live = made.new(lock_ttl=1.0), made.new(lock_ttl=1.0)
            held = dead.one_at_a_time("web-1")
            await held.__aenter__()  # and never left: its instance died
            await asyncio.wait_for(live.one_at_a_time("web-1").__aenter__(), WAIT)

    asyncio.run(scenario())


# -- the channel on two instances ----------------------------------------------------------------


@dataclass
class Instance:
    channel: SocketIOChannel
    app: Sanic
    server: Any
    port: int
    heard: list[UserMessage]

    def visitor(self, token: str | None = None) -> ChatUser:
        return ChatUser(settings_from({"RASA_PORT": str(self.port)}), token)

    async def push(self, conversation_id: str, message: dict[str, Any]) -> None:
        """A message from outside a user's turn (the console's trigger_intent) through this
        instance's output channel."""
        output = self.channel.get_output_channel()
        assert output is not None
        await output.send_response(conversation_id, message)


@asynccontextmanager
async def running_instance(
    prefix: str, hold: asyncio.Event | None = None
) -> AsyncIterator[Instance]:
    """An instance; with ``hold``, the turn of a message saying "hold on" waits for it."""
    channel = SocketIOChannel.from_credentials(
        {"user_message_evt": "user_uttered", "bot_message_evt": "bot_uttered"}
    )
    assert isinstance(channel, SocketIOChannel)
    channel.key_prefix = prefix
    heard: list[UserMessage] = []

    async def echo(message: UserMessage) -> None:
        heard.append(message)
        if hold is not None and message.text == "hold on":
            await hold.wait()
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")

    app = Sanic(f"instance_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(echo), url_prefix="/webhooks/socketio")
    # The widget, and a page embedding it.
    app.static("/webhooks/widget", str(REPO / "widget"))

    @app.get("/page")
    async def page(_: Any) -> HTTPResponse:
        return html('<!doctype html><script src="/webhooks/widget/widget.js" defer></script>')

    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()
    await server.after_start()
    try:
        yield Instance(channel, app, server, port, heard)
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


@pytest.fixture
def shared_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_template: Path
) -> Database:
    """The instances' database (also this test's view of it), and their environment."""
    # Several Sanic apps in one process: Sanic's start-up rewrite of its HTTP code runs once.
    monkeypatch.setattr(Sanic, "test_mode", True)
    path = tmp_path / "lorex.db"
    shutil.copyfile(sqlite_template, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("CHAT_SESSION_SECRET", secrets.token_hex(32))  # the same on each
    monkeypatch.delenv("REDIS_URL", raising=False)
    return Database(f"sqlite:///{path}")


@pytest.fixture
def on_redis(monkeypatch: pytest.MonkeyPatch, redis_prefix: str, shared_database: Database) -> str:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    monkeypatch.setenv("VAULT_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    return redis_prefix


def released_password(
    database: Database, write_devices_csv: WriteCsv, conversation_id: str
) -> tuple[str, str]:
    """A password the agent released for ``conversation_id``, in the instances' vault:
    its reference and value."""
    release = released(database, write_devices_csv, conversation_id)
    rasa_process().vault.deposit(
        release.reference, conversation_id, release.password, release.expires_at
    )
    return release.reference, release.password.value


def passwords_in(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m["temporary_password"]["value"]
        for m in messages
        if isinstance(m.get("temporary_password"), dict) and "value" in m["temporary_password"]
    ]


async def subscribers(prefix: str) -> int:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        [(_, count)] = await client.pubsub_numsub(f"{prefix}socketio")
        return int(count)
    finally:
        await client.close()


def test_a_push_through_one_instance_reaches_the_owner_on_the_other_once(
    on_redis: str, shared_database: Database, write_devices_csv: WriteCsv
) -> None:
    async def scenario() -> None:
        async with running_instance(on_redis) as a, running_instance(on_redis) as b:
            token = SessionTokens(session_key(os.environ["CHAT_SESSION_SECRET"])).issue()
            conversation = conversation_id_of(token)
            reference, value = released_password(shared_database, write_devices_csv, conversation)
            # Kept before the owner connects: once it has been sent and acknowledged, B's
            # session_request has read the keep; what A keeps after can reach B only by A's news.
            Outbox(shared_database).keep(
                conversation, [{"text": "welcome back"}], channel="socketio"
            )
            owner = b.visitor(token)
            await owner.connect()
            await owner.messages_until("welcome back")

            async def acknowledged() -> bool:
                return not Outbox(shared_database).kept(conversation)

            await until(acknowledged, "the owner's acknowledgement reaching the keep")

            await a.push(conversation, password_message(reference))
            await a.push(conversation, {"text": "after the password"})
            received = await owner.messages_until("after the password")

            assert passwords_in(received) == [value]
            await until(acknowledged, "the owner's acknowledgements reaching the keep")
            delivery = Outbox(shared_database).deliveries([reference])[reference]
            assert (delivery.state, delivery.channel) == (DeliveryState.DELIVERED, "socketio")
            assert rasa_process().vault.take(reference, conversation) is None  # given once
            await owner.leave()

    asyncio.run(scenario())


def test_a_reply_reaches_the_conversations_sockets_on_every_instance(on_redis: str) -> None:
    async def scenario() -> None:
        async with running_instance(on_redis) as a, running_instance(on_redis) as b:
            first_tab = a.visitor()
            token = await first_tab.connect()
            second_tab = b.visitor(token)  # the same conversation, signed by A, checked by B
            assert await second_tab.connect() == token

            async def both_subscribed() -> bool:
                return await subscribers(on_redis) == 2

            await until(both_subscribed, "both instances listening to socket.io's channel")
            await first_tab.say("hello", until=("echo: hello",))
            assert [m["text"] for m in await second_tab.messages_until("echo: hello")] == [
                "echo: hello"
            ]
            assert [m.sender_id for m in a.heard] == [first_tab.conversation_id]
            await first_tab.leave()
            await second_tab.leave()

    asyncio.run(scenario())


def test_a_message_kept_while_away_is_delivered_on_coming_back_to_the_other_instance(
    on_redis: str, shared_database: Database, write_devices_csv: WriteCsv
) -> None:
    async def scenario() -> None:
        async with running_instance(on_redis) as a, running_instance(on_redis) as b:
            page = a.visitor()
            token = await page.connect()
            conversation = page.conversation_id
            reference, value = released_password(shared_database, write_devices_csv, conversation)
            await page.leave()

            async def closed() -> bool:
                rooms = a.channel.rooms
                return rooms is not None and not await rooms.open_anywhere(conversation)

            await until(closed, "the page's socket closing")
            await a.push(conversation, password_message(reference))
            assert len(Outbox(shared_database).kept(conversation)) == 1  # nobody to send it to

            back = b.visitor(token)
            assert await back.connect() == token  # the conversation continues on B
            message = await back.payload(lambda m: "temporary_password" in m, "the password")
            assert passwords_in([message]) == [value]

            async def delivered() -> bool:
                return not Outbox(shared_database).kept(conversation)

            await until(delivered, "the kept password leaving the keep")
            state = Outbox(shared_database).deliveries([reference])[reference].state
            assert state is DeliveryState.DELIVERED
            await back.leave()

    asyncio.run(scenario())


def test_the_owner_leaves_when_their_last_socket_anywhere_closes(
    on_redis: str, shared_database: Database, write_devices_csv: WriteCsv
) -> None:
    async def scenario() -> None:
        async with running_instance(on_redis) as a, running_instance(on_redis) as b:
            first_tab = a.visitor()
            token = await first_tab.connect()
            conversation = first_tab.conversation_id
            code = released(shared_database, write_devices_csv, conversation).case.code
            second_tab = b.visitor(token)
            await second_tab.connect()
            cases = rasa_process().conversation_cases

            async def sockets_open() -> int:
                client = redis.asyncio.Redis.from_url(REDIS_URL)
                try:
                    return int(await client.zcard(f"{on_redis}sockets:{conversation}"))
                finally:
                    await client.close()

            await first_tab.leave()

            async def one_left() -> bool:
                return await sockets_open() == 1

            await until(one_left, "the first tab's socket closing")
            assert cases.owner_gone_since(code) is None  # still there, on B

            await second_tab.leave()

            async def gone() -> bool:
                return cases.owner_gone_since(code) is not None

            await until(gone, "the owner noted as gone")

    asyncio.run(scenario())


def test_one_instance_without_redis_pushes_keeps_and_passes_message_ids(
    shared_database: Database, write_devices_csv: WriteCsv
) -> None:
    async def scenario() -> None:
        async with running_instance("unused:") as only:
            page = only.visitor()
            token = await page.connect()
            conversation = page.conversation_id
            reference, value = released_password(shared_database, write_devices_csv, conversation)

            assert await page.client.call(
                "user_uttered", {"message": "hi", "message_id": "Ab3_-x9Z"}, timeout=WAIT
            )
            assert await page.client.call(
                "user_uttered", {"message": "again", "message_id": "no spaces!"}, timeout=WAIT
            )
            await page.messages_until("echo: again")
            assert only.heard[0].message_id == "client:Ab3_-x9Z"
            assert not only.heard[1].message_id.startswith("client:")  # a bad id: Rasa's own

            await page.leave()

            async def closed() -> bool:
                rooms = only.channel.rooms
                return rooms is not None and not await rooms.open_anywhere(conversation)

            await until(closed, "the page's socket closing")
            await only.push(conversation, password_message(reference))
            back = only.visitor(token)
            await back.connect()
            message = await back.payload(lambda m: "temporary_password" in m, "the password")
            assert passwords_in([message]) == [value]
            await back.leave()

    asyncio.run(scenario())


# Keeps the widget's socket where the test can reach it (to drop its connection).
KEEP_THE_SOCKET = """
Object.defineProperty(window, "io", {
  configurable: true,
  get: function () { return window.__io; },
  set: function (io) {
    window.__io = function () {
      window.__widgetSocket = io.apply(this, arguments);
      return window.__widgetSocket;
    };
  },
});
"""


def test_the_widget_sends_a_message_again_with_its_id_when_the_socket_dropped_before_the_answer(
    shared_database: Database,
) -> None:
    """The widget's socket is a WebSocket; a message whose turn was not acknowledged when the
    connection dropped goes again, with the same id, once it is back."""
    if not CHROMIUM.exists():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: `make test` installs it")

    async def scenario() -> None:
        hold = asyncio.Event()
        async with running_instance("unused:", hold) as only, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            page = await browser.new_page()
            await page.add_init_script(KEEP_THE_SOCKET)
            await page.goto(f"http://127.0.0.1:{only.port}/page")
            await page.get_by_role("button", name="Chat: reset my recorder password").click()
            await page.locator(".lw-log").get_by_text("echo: /greet").wait_for()
            sio = only.channel.sio
            assert sio is not None
            assert [sio.eio.transport(sid) for sid in sio.eio.sockets] == ["websocket"]

            # What reaches the channel's handler, as sent (the exactly-once layer behind it
            # answers a copy without running its turn again).
            sent: list[dict[str, Any]] = []
            handler = sio.handlers["/"]["user_uttered"]

            async def recording(sid: str, data: Any) -> Any:
                sent.append(dict(data))
                return await handler(sid, data)

            sio.on("user_uttered", handler=recording)
            await page.get_by_role("textbox", name="Message").fill("hold on")
            await page.keyboard.press("Enter")

            async def held() -> bool:
                return [m.text for m in only.heard].count("hold on") == 1

            await until(held, "the message reaching the dialogue")
            await page.evaluate("window.__widgetSocket.io.engine.close()")  # the network drops

            async def again() -> bool:
                return [m["message"] for m in sent].count("hold on") == 2

            await until(again, "the message sent again after reconnecting")
            first, second = [m["message_id"] for m in sent if m["message"] == "hold on"]
            assert first == second
            # (Whether the copy runs a turn again is bot.channels.turns's call.)
            assert {m.message_id for m in only.heard if m.text == "hold on"} == {f"client:{first}"}
            hold.set()
            await page.locator(".lw-log").get_by_text("echo: hold on").first.wait_for()
            await browser.close()

    asyncio.run(scenario())
