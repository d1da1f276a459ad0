# mypy: disable-error-code="import-untyped"
"""The web chat widget in a real browser (Playwright driving Debian's headless Chromium) on the
demo page, against the whole product started the way `make run` starts it.

A whole visit on a 360 px wide screen, mostly by keyboard: open the chat (the assistant greets
with its quick replies), ask where the Device ID is, give it and the owner's details, wait in the
queue; an agent (this test process, through the support desk) releases a temporary password; the
password box and the step cards follow (their buttons send intents); a reload half-way keeps the
conversation (but not the password, which is then not shown again on request); the steps go on
to the end. Then the label photo (a generated QR code, an unreadable photo, a file too large),
the channel contract's payloads (a turn taken over by an agent, pictures), the files the channel
serves, and an axe-core accessibility check. Screenshots go to test-artifacts/widget/.
"""

from __future__ import annotations

import asyncio
import functools
import html
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import pytest_asyncio
import qrcode
import requests
from argon2 import PasswordHasher
from PIL import Image
from playwright.async_api import Browser, Locator, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError

from bot.agents.accounts import AgentAccounts
from bot.cases.conversation import ConversationCases
from bot.cases.store import CaseStore
from bot.channels.chat_sessions import conversation_id_of
from bot.channels.client import LANGUAGE_KEY
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.delivery import DeliveryState, Outbox
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.serve import Settings, announcement, settings_from
from bot.web.pictures import SVG
from tests.console_server import Browser as ConsoleBrowser
from tests.running_product import AssistantClient, free_port, running_product

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "widget"
BROWSER_TOOLS = REPO / "tests" / "browser-tools"
AXE = BROWSER_TOOLS / "node_modules" / "axe-core" / "axe.min.js"
SUPPORTED_ID = "ND4810273945KXQ"  # an N841 registered to Zion Juniperfield in data/devices.csv
REPLY_MS = 120_000  # Rasa on a busy two-core machine
PHONE = {"width": 360, "height": 740}

ASYNC = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Database]]:
    if not CHROMIUM.exists():
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: `make test` installs it")
    folder = tmp_path_factory.mktemp("widget-product")
    database_url = f"sqlite:///{folder / 'lorex.db'}"
    with running_product(
        folder,
        database_url=database_url,
        tracker_store_url=f"sqlite:///{folder / 'tracker.db'}",
        extra_env={"LOREX_DATA_DIR": str(support_always_open(folder / "data"))},
    ) as (settings, _log):
        yield settings, Database(database_url)


def support_always_open(data: Path) -> Path:
    """A copy of the product's content whose support centre is open around the clock, so the
    visit is queued with a position whatever the hour the test runs."""
    shutil.copytree(REPO / "data" / "content", data / "content")
    shutil.copy(REPO / "data" / "devices.csv", data / "devices.csv")
    support = data / "content" / "support.yml"
    text = support.read_text()
    hours_key = re.search(r"^hours:", text, re.MULTILINE)
    assert hours_key, "support.yml has no hours"
    hours = text[hours_key.start() : text.index("\nrejection_reasons:") + 1]
    every_day = "hours:\n" + "".join(
        f'  {day}: "00:00-23:59"\n'
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
    support.write_text(text.replace(hours, every_day + "\n"))
    return data


@pytest.fixture(scope="module")
def axe_script() -> str:
    if not AXE.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: the accessibility check installs axe-core with "
                        "`npm ci` in tests/browser-tools (apt-get install npm)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_TOOLS, check=True)
    return AXE.read_text()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        await browser.close()


def demo_url(settings: Settings) -> str:
    return f"{settings.rasa_url}/webhooks/widget/demo"


async def snap(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def say(page: Page, text: str) -> None:
    chat_input = page.get_by_role("textbox", name="Message")
    await expect(chat_input).to_be_focused()
    await page.keyboard.type(text)
    await page.keyboard.press("Enter")


async def bot_says(page: Page, text: str) -> Locator:
    message = page.locator(".lw-log > *").filter(has_text=text).last
    await expect(message).to_be_visible(timeout=REPLY_MS)
    return message


async def stored_session_id(page: Page) -> str:
    """The session id the widget keeps in localStorage (as JSON, under its ``session`` key)."""
    raw = await page.evaluate(
        "Object.keys(localStorage).filter(k => k.endsWith(':session'))"
        ".map(k => localStorage.getItem(k))[0] || null"
    )
    assert isinstance(raw, str), raw
    session_id = json.loads(raw)
    assert isinstance(session_id, str)
    return session_id


async def conversation_id(page: Page) -> str:
    return conversation_id_of(await stored_session_id(page))


def push(
    settings: Settings, conversation: str, data: dict[str, Any], text: str | None = None
) -> None:
    """The assistant sends the widget a contract payload (design section 2), after ``text`` if
    given: appended through Rasa's API and delivered by the socket.io channel, as the dialogue's
    own messages are."""
    event: dict[str, Any] = {"event": "bot", "data": {"custom": {"data": data}}}
    if text is not None:
        event["text"] = text
    append_events(settings, conversation, [event])


def append_events(settings: Settings, conversation: str, events: list[dict[str, Any]]) -> None:
    answer = requests.post(
        f"{settings.rasa_url}/conversations/{conversation}/tracker/events",
        params={"token": settings.rasa_api_token, "output_channel": "socketio",
                "execute_side_effects": "true"},
        json=events,
        timeout=30,
    )
    answer.raise_for_status()


def user_events(settings: Settings, conversation: str) -> list[dict[str, Any]]:
    tracker = AssistantClient(settings.rasa_url, settings.rasa_api_token).tracker(conversation)
    return [e for e in tracker["events"] if e["event"] == "user"]


def user_texts(settings: Settings, conversation: str) -> list[str]:
    return [e["text"] for e in user_events(settings, conversation)]


async def check_accessibility(page: Page, axe: str, stage: str) -> None:
    await page.add_script_tag(content=axe)
    result: dict[str, Any] = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{stage}: " + "\n".join(bad)


class Agent:
    """What an agent does in the console, through the same support desk the console uses."""

    def __init__(self, settings: Settings, database: Database) -> None:
        centre = load_support_centre()
        self.database = database
        self.desk = SupportDesk(database, centre=centre, provider=GeneratedPasswords())
        accounts = AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
        self.me = accounts.create("alice", "Alice", "correct horse battery staple")
        self.bridge = RasaBridge(settings.rasa_url, settings.rasa_api_token)
        self.agent_desk = AgentDesk(self.desk, self.bridge)

    async def claim_the_only_case(self) -> str:
        [entry] = self.desk.queue()
        code = str(entry.case.code)
        outcome = await self.agent_desk.claim(code, self.me)
        assert outcome.problem is None, outcome.problem
        return code

    async def write(self, code: str, text: str) -> None:
        outcome = await self.agent_desk.send_message(code, self.me, text)
        assert outcome.problem is None, outcome.problem

    async def release(self, code: str) -> None:
        outcome = await self.agent_desk.release(code, self.me, releases_seen=0)
        assert outcome.problem is None, outcome.problem

    def queue_entry(self) -> Any:
        [entry] = self.desk.queue()
        return entry

    def delivery(self, reference: str) -> DeliveryState | None:
        known = Outbox(self.database).deliveries([reference]).get(reference)
        return known.state if known else None

    async def wait_for(self, condition: Any, what: str, seconds: float = 90) -> None:
        """``condition`` (what the console shows) holds within ``seconds``."""
        deadline = time.monotonic() + seconds
        while not await asyncio.to_thread(condition):
            assert time.monotonic() < deadline, f"never: {what}"
            await asyncio.sleep(0.5)


@ASYNC
async def test_a_whole_visit_from_the_demo_page(
    product: tuple[Settings, Database], browser: Browser, axe_script: str
) -> None:
    settings, database = product
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(demo_url(settings))
    await snap(page, "01-demo-page-360px")

    # Keyboard only: the launcher is the first stop, Enter opens the chat with the input focused.
    await page.keyboard.press("Tab")
    launcher = page.get_by_role("button", name="Chat: reset my recorder password")
    await expect(launcher).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("dialog", name="Recorder password help")).to_be_visible()
    # Never an empty panel: the assistant greets, with its quick replies; nothing on our side.
    greeting = await bot_says(page, "Lorex recorder assistant")
    forgot = greeting.get_by_role("button", name="I forgot my recorder's password")
    await expect(forgot).to_be_visible()
    await expect(page.locator(".lw-user")).to_have_count(0)
    await snap(page, "01-greeting")
    await check_accessibility(page, axe_script, "the open chat")

    await say(page, "I forgot my recorder password")
    await bot_says(page, "I need its Device ID")
    # The quick reply is the last button in the conversation: one Shift+Tab past the photo button.
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    where = page.get_by_role("button", name="Where do I find it?")
    await expect(where).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(where).to_be_disabled()
    location = await bot_says(page, "three places")
    await expect(location.get_by_role("img", name="Recorder label")).to_be_visible()
    info_screen = location.get_by_role("img", name="Device Info screen")
    await expect(info_screen).to_be_visible()
    await location.get_by_role("img", name="Recorder label").scroll_into_view_if_needed()
    await snap(page, "02-where-is-the-device-id")

    await say(page, SUPPORTED_ID)
    await bot_says(page, "What name")
    await say(page, "Zion Juniperfield")
    await bot_says(page, "email address")
    await say(page, "zion.juniperfield@example.com")
    await bot_says(page, "phone number")
    await say(page, "+1 202-555-0110")
    waiting = page.get_by_role("status").filter(has_text="waiting for an agent")
    await expect(waiting).to_have_text(
        "You are waiting for an agent (position 1). Please keep this window open.",
        timeout=REPLY_MS,
    )
    await snap(page, "03-waiting-for-an-agent")

    await check_accessibility(page, axe_script, "waiting for an agent")

    # The owner closes the page: the console's queue shows they left; back, it no longer does.
    agent = Agent(settings, database)
    await page.close()
    await agent.wait_for(lambda: agent.queue_entry().owner_gone_since is not None, "owner left")
    page = await context.new_page()
    await page.goto(demo_url(settings))
    waiting = page.get_by_role("status").filter(has_text="waiting for an agent")
    await expect(waiting).to_be_visible(timeout=REPLY_MS)
    await agent.wait_for(lambda: agent.queue_entry().owner_gone_since is None, "owner returned")

    code = await agent.claim_the_only_case()
    await agent.write(code, "Hi, I'm Alice from support. Your details match; one moment.")
    said = page.locator(".lw-agent").last
    await expect(said).to_contain_text("Your details match", timeout=REPLY_MS)
    await expect(said).to_contain_text("Alice")
    await expect(said).to_contain_text("Support agent")
    await expect(waiting).to_be_hidden()
    await snap(page, "04-agent-message")
    await check_accessibility(page, axe_script, "an agent's message")

    # Released while the page is closed: the password waits, and is delivered once it is back.
    await page.close()
    await agent.wait_for(lambda: agent.desk.case_file(code).owner_gone_since, "owner left again")
    await agent.release(code)
    await agent.bridge.close()
    reference = agent.desk.case_file(code).releases[-1].reference
    await asyncio.sleep(2)
    assert agent.delivery(reference) is DeliveryState.WAITING
    page = await context.new_page()
    await page.goto(demo_url(settings))
    waiting = page.get_by_role("status").filter(has_text="waiting for an agent")
    box = page.locator(".lw-password")
    await expect(box).to_be_visible(timeout=REPLY_MS)
    await expect(box).to_have_count(1)
    await agent.wait_for(lambda: agent.delivery(reference) is DeliveryState.DELIVERED, "delivered")
    await expect(waiting).to_be_hidden()
    value_node = box.locator(".lw-password-value")
    await expect(value_node).to_have_text("•" * 10)  # hidden until asked for
    await box.get_by_role("button", name="Show").click()
    password = (await value_node.text_content() or "").strip()
    assert len(password) == 10 and "•" not in password
    await expect(box.get_by_role("button", name="Hide")).to_have_attribute("aria-pressed", "true")
    await box.scroll_into_view_if_needed()
    await snap(page, "05-password-box")
    # Asked for again while the page still holds it: the same box again.
    conversation = await conversation_id(page)
    push(settings, conversation, {"type": "temporary_password_again", "reference": reference,
                                  "valid_until": "2030-01-01T04:59:00+00:00"})
    await expect(page.locator(".lw-password")).to_have_count(2, timeout=REPLY_MS)
    again = page.locator(".lw-password").last
    await expect(again.locator(".lw-password-value")).to_have_text("•" * 10)
    await again.get_by_role("button", name="Show").click()
    await expect(again.locator(".lw-password-value")).to_have_text(password)

    card = page.locator(".lw-card").last
    await expect(card).to_contain_text("Step 1 of 10", timeout=REPLY_MS)
    await expect(card.get_by_role("heading")).to_have_text("Get ready at the recorder")
    await expect(card.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "1")
    await expect(card.get_by_role("img")).to_have_attribute("alt", "A recorder with a monitor "
        "connected by an HDMI or VGA cable and a USB mouse plugged into the recorder's USB port.")
    await card.scroll_into_view_if_needed()
    await snap(page, "05-step-1")
    await check_accessibility(page, axe_script, "password box and step card")

    # Done, by keyboard; each next card takes the focus, so Enter goes on.
    await card.get_by_role("button", name="Done").focus()
    for step in (2, 3, 4):
        await page.keyboard.press("Enter")
        card = page.locator(".lw-card").last
        await expect(card).to_contain_text(f"Step {step} of 10", timeout=REPLY_MS)
        await expect(card.get_by_role("button", name="Done")).to_be_focused()
    src = await card.get_by_role("img").get_attribute("src") or ""
    assert src.endswith("pictures/main-menu.svg?lang=en")
    await snap(page, "06-step-4")

    # A reload: the conversation is intact, the password is not shown again nor stored.
    before = await page.locator(".lw-log > *").count()
    session_before = await stored_session_id(page)
    assert re.fullmatch(r"[0-9a-f]{64}", session_before)  # the id the server issued
    await page.reload()
    await expect(page.get_by_role("dialog", name="Recorder password help")).to_be_visible()
    await expect(page.locator(".lw-log > *")).to_have_count(before)
    await expect(page.locator(".lw-password")).to_have_count(0)
    gone = page.locator(".lw-password-gone").first
    await expect(gone).to_contain_text("ask the agent for a new one")
    await page.locator(".lw-password-gone").last.scroll_into_view_if_needed()
    await snap(page, "07-after-reload-no-password")
    await expect(page.locator(".lw-card").last).to_contain_text("Step 4 of 10")
    push(settings, conversation, {"type": "temporary_password_again", "reference": reference,
                                  "valid_until": "2030-01-01T04:59:00+00:00"})
    not_kept = await bot_says(page, "not shown again once this page has been reloaded")
    await expect(not_kept.get_by_role("button", name="Ask for a new one")).to_be_visible()
    await expect(page.locator(".lw-password")).to_have_count(0)
    stored = await page.evaluate("JSON.stringify(Object.assign({}, localStorage, sessionStorage))")
    assert password not in stored and password not in await page.content()
    await page.locator(".lw-card").last.scroll_into_view_if_needed()
    await snap(page, "07-after-reload")

    # Back and repeat work; then Done to the end. The buttons send intents, never sentences.
    card = page.locator(".lw-card").last
    await card.get_by_role("button", name="Back").click()
    await expect(page.locator(".lw-card").last).to_contain_text("Step 3 of 10", timeout=REPLY_MS)
    assert await stored_session_id(page) == session_before  # the server confirmed it again
    await page.locator(".lw-card").last.get_by_role("button", name="Repeat").click()
    await expect(page.locator(".lw-card")).to_have_count(6, timeout=REPLY_MS)
    await expect(page.locator(".lw-card").last).to_contain_text("Step 3 of 10")
    await page.locator(".lw-card").last.get_by_role("button", name="I'm stuck").click()
    await expect(page.locator(".lw-card")).to_have_count(7, timeout=REPLY_MS)
    await expect(page.locator(".lw-card").last).to_contain_text("case-sensitive")
    for step in range(4, 11):
        await page.locator(".lw-card").last.get_by_role("button", name="Done").click()
        card = page.locator(".lw-card").last
        await expect(card).to_contain_text(f"Step {step} of 10", timeout=REPLY_MS)
        if step == 8:
            await expect(card.locator(".lw-sensitive")).to_be_visible()
            await card.scroll_into_view_if_needed()
            await snap(page, "08-step-8-new-password")
    await card.get_by_role("button", name="Done").click()
    finished = page.locator(".lw-card-finished")
    await expect(finished).to_contain_text("All 10 steps done", timeout=REPLY_MS)
    await expect(finished.get_by_role("heading")).to_have_text("Your password is reset")
    await expect(finished).to_contain_text("Congratulations")
    await expect(finished.get_by_role("heading")).to_be_focused()
    sent = user_texts(settings, await conversation_id(page))
    assert sent[0] == "/greet"
    assert {"/step_done", "/go_back", "/repeat", "/step_help"} <= set(sent)
    assert not {"done", "back", "repeat", "I'm stuck"} & set(sent)
    await expect(page.locator(".lw-user").filter(has_text="I'm stuck")).to_have_count(1)
    await snap(page, "09-finished")
    await check_accessibility(page, axe_script, "the last card")

    await page.set_viewport_size({"width": 1280, "height": 800})
    await snap(page, "10-finished-desktop")
    await context.close()


def label_photo_png(text: str) -> bytes:
    photo = Image.new("RGB", (800, 600), (190, 184, 176))
    photo.paste(qrcode.make(text, box_size=8).get_image().convert("RGB"), (60, 60))
    out = io.BytesIO()
    photo.save(out, "PNG")
    return out.getvalue()


@ASYNC
async def test_the_label_photo_offers_the_device_id_it_reads(
    product: tuple[Settings, Database], browser: Browser, tmp_path: Path
) -> None:
    settings, _ = product
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(demo_url(settings))
    await page.get_by_role("button", name="Chat: reset my recorder password").click()
    photo_button = page.get_by_role("button", name="Read the Device ID from a photo of the label")

    unreadable = tmp_path / "blurry.jpg"
    Image.new("RGB", (640, 480), (120, 130, 140)).save(unreadable, "JPEG")
    async with page.expect_file_chooser() as chooser:
        await photo_button.click()
    await (await chooser.value).set_files(str(unreadable))
    await bot_says(page, "couldn't read a QR code in that photo")

    too_large = tmp_path / "huge.jpg"
    too_large.write_bytes(b"\xff\xd8\xff" + bytes(20 * 1024 * 1024))
    async with page.expect_file_chooser() as chooser:
        await photo_button.click()
    await (await chooser.value).set_files(str(too_large))
    await bot_says(page, "That file is too large")

    label = tmp_path / "label.png"
    label.write_bytes(label_photo_png(SUPPORTED_ID))
    async with page.expect_file_chooser() as chooser:
        await photo_button.click()
    await (await chooser.value).set_files(str(label))
    offer = await bot_says(page, "from your photo")
    await expect(offer).to_contain_text("ND48 1027 3945 KXQ")
    use_it = offer.get_by_role("button", name="Yes, use it")
    await expect(use_it).to_be_focused()
    await snap(page, "11-label-photo-offer")
    await page.keyboard.press("Enter")
    await bot_says(page, "is a registered N841")
    await snap(page, "12-label-photo-confirmed")
    # The visitor sees the ID; the assistant gets the intent with it, not a sentence to parse.
    await expect(page.locator(".lw-user").last).to_contain_text("ND48 1027 3945 KXQ")
    # (Its text and entities are stored masked: the privacy store takes the ID-bearing intent
    # message for a password-shaped one.)
    confirmed = user_events(settings, await conversation_id(page))[-1]["parse_data"]
    assert confirmed["intent"]["name"] == "provide_device_id"
    await context.close()


TURN = {"step": None, "total": None, "sensitive_input": False, "case": None}


@ASYNC
async def test_the_widget_follows_the_turn_and_pictures_payloads(
    product: tuple[Settings, Database], browser: Browser
) -> None:
    settings, _ = product
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(demo_url(settings))
    await page.get_by_role("button", name="Chat: reset my recorder password").click()
    await bot_says(page, "Lorex recorder assistant")
    conversation = await conversation_id(page)

    # No answer comes (the conversation is paused, as a take-over pauses it): the typing dots
    # still go after 15 s.
    append_events(settings, conversation, [{"event": "pause"}])
    typing = page.locator(".lw-typing")
    await say(page, "Hello?")
    await expect(typing).to_be_visible()
    started = time.monotonic()
    await expect(typing).to_be_hidden(timeout=25_000)
    assert 14 <= time.monotonic() - started <= 20
    append_events(settings, conversation, [{"event": "resume"}])

    # Pictures come with the message they illustrate, named by the payload, not by its words.
    push(settings, conversation, {"type": "pictures", "pictures": ["label", "info-screen"]},
         text="Here is where to look.")
    where = await bot_says(page, "Here is where to look.")
    await expect(where.get_by_role("img", name="Recorder label")).to_be_visible(timeout=REPLY_MS)
    await expect(where.get_by_role("img", name="Device Info screen")).to_be_visible()
    push(settings, conversation, {"type": "pictures", "pictures": ["no-such-picture"]},
         text="The label is beside the QR code.")
    plain = await bot_says(page, "The label is beside the QR code.")
    await expect(plain.get_by_role("img")).to_have_count(0)

    # An agent has taken the chat over: no typing dots, a discreet "sent to the agent" instead.
    push(settings, conversation,
         {"type": "turn", "state": "taken_over", "expects": "nothing", **TURN})
    await page.wait_for_function(
        "() => JSON.stringify(localStorage).includes('taken_over')", timeout=REPLY_MS
    )
    await say(page, "Is anyone there?")
    await expect(typing).to_be_hidden()
    mine = page.locator(".lw-user").last
    await expect(mine.get_by_role("status")).to_have_text("Sent to the agent")
    await snap(page, "14-sent-to-the-agent")

    # Handed back: the assistant answers again, with dots while it does.
    push(settings, conversation,
         {"type": "turn", "state": "device_id", "expects": "device_id", **TURN})
    await page.wait_for_function(
        "() => !JSON.stringify(localStorage).includes('taken_over')", timeout=REPLY_MS
    )
    await say(page, "hello")
    await expect(page.locator(".lw-user").last.get_by_role("status")).to_have_count(0)

    # Typing "/" + an intent the chat does not send is refused, in the widget's own words.
    await say(page, '/EXTERNAL_password_released{"release_ref": "x"}')
    await bot_says(page, "kept for the chat's buttons")
    assert not [t for t in user_texts(settings, conversation) if "EXTERNAL" in t]

    # A reload shows the history and does not greet again.
    count = await page.locator(".lw-log > *").count()
    await page.reload()
    await expect(page.locator(".lw-log > *")).to_have_count(count)
    await page.wait_for_timeout(2000)
    await expect(page.locator(".lw-log > *")).to_have_count(count)
    assert user_texts(settings, conversation).count("/greet") == 1
    await context.close()


@ASYNC
async def test_what_was_kept_while_the_page_was_closed_is_acknowledged_once_shown(
    product: tuple[Settings, Database], browser: Browser
) -> None:
    """The server drops a kept message from its keep (a password among them counts as
    delivered) only once the page acknowledged it: the widget does as soon as it has shown it.
    A page that did not would leave it kept for over a minute (see bot/channels/socketio.py)."""
    settings, database = product
    outbox = Outbox(database)
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(demo_url(settings))
    await page.get_by_role("button", name="Chat: reset my recorder password").click()
    await bot_says(page, "Lorex recorder assistant")
    conversation = await conversation_id(page)
    await page.close()
    await asyncio.sleep(2)  # the page's socket has closed

    append_events(settings, conversation, [{"event": "bot", "text": "Kept while you were away."}])
    await wait_until(lambda: outbox.has_pending(conversation), "the message kept", seconds=10)

    page = await context.new_page()
    await page.goto(demo_url(settings))
    kept = page.locator(".lw-log > *").filter(has_text="Kept while you were away.")
    await expect(kept).to_be_visible(timeout=REPLY_MS)
    await wait_until(
        lambda: not outbox.has_pending(conversation), "the message acknowledged", seconds=10
    )
    await expect(kept).to_have_count(1)
    await context.close()


async def wait_until(condition: Any, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.25)


@ASYNC
async def test_the_step_card_and_the_place_in_line_come_from_the_payloads_not_the_words(
    product: tuple[Settings, Database], browser: Browser
) -> None:
    """Other wording (here, another language) changes nothing the widget does: it draws the card
    from the reset_step payload's title and parts and the banner from the turn's position."""
    settings, _ = product
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    await page.goto(demo_url(settings))
    await page.get_by_role("button", name="Chat: reset my recorder password").click()
    await bot_says(page, "Lorex recorder assistant")
    conversation = await conversation_id(page)

    waiting = page.get_by_role("status").filter(has_text="waiting for an agent")
    push(settings, conversation, {"type": "turn", "state": "queued", "expects": "nothing",
                                  **TURN, "position": 3},
         text="Vous êtes le numéro 1 dans la file.")
    await expect(waiting).to_have_text(
        "You are waiting for an agent (position 3). Please keep this window open.",
        timeout=REPLY_MS,
    )
    push(settings, conversation, {"type": "turn", "state": "queued", "expects": "nothing",
                                  **TURN, "position": 0})
    await expect(waiting).to_have_text(
        "You are waiting for an agent. Please keep this window open.", timeout=REPLY_MS
    )

    card_payload = {
        "type": "reset_step", "step": 2, "total": 10, "finished": False,
        "picture": "right-click-menu", "sensitive_input": False, "title": "Ouvrez le menu",
        "parts": {"notice": "Nous y revoilà.", "body": "Faites un **clic droit** sur l'image.",
                  "tip": "Astuce : double-cliquez d'abord.", "hint": "Répondez « fait »."},
    }
    push(settings, conversation, card_payload,
         text="Nous y revoilà.\n\nÉtape 2 sur 10 : Ouvrez le menu\n\nFaites un **clic droit** "
              "sur l'image.\n\nAstuce : double-cliquez d'abord.\n\nRépondez « fait ».")
    card = page.locator(".lw-card").last
    await expect(card).to_contain_text("Step 2 of 10", timeout=REPLY_MS)
    await expect(waiting).to_be_hidden()

    async def drawn_from_the_payload() -> None:
        card = page.locator(".lw-card").last
        await expect(card.get_by_role("heading")).to_have_text("Ouvrez le menu")
        await expect(card).to_contain_text("Nous y revoilà.")
        await expect(card.locator("strong")).to_have_text("clic droit")
        await expect(card).to_contain_text("Astuce : double-cliquez d'abord.")
        await expect(card).not_to_contain_text("Répondez")  # the buttons say how to answer
        await expect(card).not_to_contain_text("Étape")
        await expect(card.get_by_role("button", name="Done")).to_be_enabled()
        await expect(card.get_by_role("img")).to_have_attribute("src", re.compile("right-click"))
        # None of the step's text messages is shown besides the card.
        await expect(page.locator(".lw-bot").filter(has_text="Étape")).to_have_count(0)
        await expect(page.locator(".lw-bot").filter(has_text="Répondez")).to_have_count(0)

    await drawn_from_the_payload()
    await snap(page, "15-card-from-the-payload")
    await page.reload()
    await expect(page.locator(".lw-card")).to_have_count(1)
    await drawn_from_the_payload()
    await context.close()


@ASYNC
async def test_one_script_tag_embeds_it_on_another_site(
    product: tuple[Settings, Database], browser: Browser, tmp_path: Path
) -> None:
    """A shop's own page on another origin: the tag's options apply, the chat answers, and the
    label photo goes through (cross-origin)."""
    settings, _ = product
    (tmp_path / "index.html").write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Acme Security</title>"
        "</head><body><main><h1>Acme Security support</h1></main>"
        f'<script src="{settings.rasa_url}/webhooks/widget/widget.js" defer '
        'data-title="Acme recorder help" data-color="#5b21b6"></script></body></html>'
    )
    (tmp_path / "label.png").write_bytes(label_photo_png(SUPPORTED_ID))
    port = free_port()
    site = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        context = await browser.new_context(viewport={"width": 1024, "height": 760})
        page = await context.new_page()
        for _ in range(50):
            try:
                await page.goto(f"http://127.0.0.1:{port}/")
                break
            except PlaywrightError:
                await asyncio.sleep(0.2)
        await page.get_by_role("button", name="Chat: reset my recorder password").click()
        await expect(page.get_by_role("dialog", name="Acme recorder help")).to_be_visible()
        header = page.locator(".lw-header")
        await expect(header).to_have_css("background-color", "rgb(91, 33, 182)")
        await say(page, "I forgot my recorder password")
        await bot_says(page, "I need its Device ID")
        async with page.expect_file_chooser() as chooser:
            await page.get_by_role("button", name="Read the Device ID from a photo").click()
        await (await chooser.value).set_files(str(tmp_path / "label.png"))
        await bot_says(page, "ND48 1027 3945 KXQ")
        await snap(page, "13-another-site")
        await context.close()
    finally:
        site.terminate()
        site.wait(timeout=10)


def test_the_label_photo_endpoint_answers_every_bad_file_in_json(
    product: tuple[Settings, Database],
) -> None:
    settings, _ = product
    url = f"{settings.rasa_url}/webhooks/widget/label-photo"
    cases = [
        (b"%PDF-1.7\n", 415, "not_an_image"),
        (b"", 400, "empty"),
        (b"\xff\xd8\xff" + bytes(20 * 1024 * 1024), 413, "too_large"),
        (label_photo_png("not a device id"), 422, "no_device_id"),
    ]
    for body, status, error in cases:
        answer = requests.post(url, data=body, timeout=60)
        assert (answer.status_code, answer.json()["error"]) == (status, error)
        assert answer.json()["message"]
    good = requests.post(url, data=label_photo_png(SUPPORTED_ID), timeout=60)
    assert good.json() == {
        "device_id": SUPPORTED_ID, "grouped": "ND48 1027 3945 KXQ", "outcome": "ok", "ok": True
    }
    # The server still chats after all that.
    chat = requests.post(
        f"{settings.rasa_url}/webhooks/rest/webhook",
        json={"sender": "after-photos", "message": "hi"},
        timeout=60,
    )
    assert chat.status_code == 200


def test_the_widget_files_are_served_and_nothing_else(product: tuple[Settings, Database]) -> None:
    settings, _ = product
    base = f"{settings.rasa_url}/webhooks/widget"
    expected = {
        "widget.js": "text/javascript",
        "widget.css": "text/css",
        "vendor/socket.io.min.js": "text/javascript",
        "pictures/label.svg": "image/svg+xml",
        "demo": "text/html",
    }
    for path, content_type in expected.items():
        answer = requests.get(f"{base}/{path}", timeout=30)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(content_type), path
    for path in ("demo.html", "nothing.js", "..%2f..%2fcredentials.yml", "vendor/x.js"):
        assert requests.get(f"{base}/{path}", timeout=30).status_code == 404, path


# What the recorder's screen and its printed label show: English whatever the owner's language.
RECORDER_WORDS = {
    "label": ["Device ID", SUPPORTED_ID, "S/N: 21LX0483920175", "Model: N841"],
    "login": ["Login", "User Name", "Password", "admin", "OK", "Cancel"],
    "user-list": ["Account › User", "No.", "User Name", "Group", "Modify", "admin", "guest"],
}
# Some of each language's annotations (data/content/<language>/pictures.yml).
ANNOTATIONS = {
    "en": {"connect-monitor-mouse": ["Recorder", "USB mouse"], "label": ["QR code"],
           "login": ["temporary password"]},
    "es": {"connect-monitor-mouse": ["Grabadora", "Mouse USB"], "label": ["Código QR"],
           "login": ["contraseña temporal"]},
    "fr": {"connect-monitor-mouse": ["Enregistreur", "Souris USB"], "label": ["Code QR"],
           "login": ["mot de passe temporaire"]},
}  # fmt: skip


def served_picture(base: str, name: str, **params: str) -> tuple[requests.Response, list[str]]:
    """A picture as the widget gets it, and its texts (it must be well-formed XML)."""
    answer = requests.get(f"{base}/pictures/{name}.svg", params=params, timeout=30)
    assert answer.status_code == 200, (name, params)
    assert answer.headers["content-type"] == "image/svg+xml"
    root = ElementTree.fromstring(answer.content)
    return answer, ["".join(node.itertext()) for node in root.iter(f"{{{SVG}}}text")]


@pytest.mark.parametrize("language", ["es", "fr"])
def test_the_pictures_are_served_with_their_annotations_in_the_language_asked(
    product: tuple[Settings, Database], language: str
) -> None:
    settings, _ = product
    base = f"{settings.rasa_url}/webhooks/widget"
    for name, words in ANNOTATIONS[language].items():
        answer, texts = served_picture(base, name, lang=language)
        assert answer.headers["content-language"] == language
        _, english = served_picture(base, name)
        assert set(words) <= set(texts) and not set(ANNOTATIONS["en"][name]) & set(texts), name
        assert set(ANNOTATIONS["en"][name]) <= set(english), name
        assert set(RECORDER_WORDS.get(name, [])) <= set(texts) & set(english), name
    # A language it does not speak, or none: English, the file as drawn.
    for params in ({"lang": "de"}, {"lang": "<x>"}, {}):
        answer, _ = served_picture(base, "login", **params)
        assert answer.content == (REPO / "widget" / "pictures" / "login.svg").read_bytes()
        assert answer.headers.get("content-language", "en") == "en"
    regional, _ = served_picture(base, "login", lang=f"{language}-CA")
    assert regional.content == served_picture(base, "login", lang=language)[0].content


def test_the_ready_announcement_gives_the_demo_page() -> None:
    text = announcement(settings_from({"RASA_PORT": "5105", "RASA_API_TOKEN": "t"}))
    assert "Web chat demo:    http://127.0.0.1:5105/webhooks/widget/demo" in text


# ---- the widget in the page's language ----------------------------------------------------------

LEAD_SHOTS = Path("/tmp/widget-shots")  # a copy of the language screenshots, to look at
AGENT_PASSWORD = "correct horse battery staple"

# Some of each language's own strings (STRINGS in widget/widget.js), as a person reads them.
WORDS = {
    "en": {
        "no_qr_code": "I couldn't read a QR code in that photo",
        "launcher": "Chat: reset my recorder password",
        "title": "Recorder password help",
        "message": "Message",
        "placeholder": "Type your message",
        "send": "Send",
        "close": "Close chat",
        "photo": "Read the Device ID from a photo of the label",
        "waiting": "You are waiting for an agent (position 2). Please keep this window open.",
        "step": "Step 2 of 10",
        "done": "Done",
        "stuck": "I'm stuck",
        "picture": "The camera view with the right-click menu open; Main Menu is the first item.",
    },
    "es": {
        "no_qr_code": "No pude leer ningún código QR en esa foto",
        "launcher": "Chat: restablecer la contraseña de mi grabadora",
        "title": "Ayuda con la contraseña de su grabadora",
        "message": "Mensaje",
        "placeholder": "Escriba su mensaje",
        "send": "Enviar",
        "close": "Cerrar el chat",
        "photo": "Leer el ID del dispositivo en una foto de la etiqueta",
        "waiting": "Está esperando a un agente (lugar 2 en la fila). No cierre esta ventana, "
        "por favor.",
        "step": "Paso 2 de 10",
        "done": "Listo",
        "stuck": "No puedo avanzar",
        "picture": "La vista de las cámaras con el menú del clic derecho abierto; la primera "
        "opción es el Menú principal (Main Menu).",
    },
    "fr": {
        "no_qr_code": "Je n'ai pas pu lire de code QR sur cette photo",
        "launcher": "Clavardage : réinitialiser le mot de passe de mon enregistreur",
        "title": "Aide pour le mot de passe de votre enregistreur",
        "message": "Message",
        "placeholder": "Votre message",
        "send": "Envoyer",
        "close": "Fermer le clavardage",
        "photo": "Lire l'ID de l'appareil sur une photo de l'étiquette",
        "waiting": "Vous êtes en attente d'un agent (n° 2 dans la file). Veuillez laisser cette "
        "fenêtre ouverte.",
        "step": "Étape 2 sur 10",
        "done": "C'est fait",
        "stuck": "Je bloque",
        "picture": "La vue des caméras avec le menu du clic droit ouvert; le premier choix est "
        "le menu principal (Main Menu).",
    },
}
# A message's time as people write it where the page's language is spoken: 14:05 in Spanish
# and French, 14 h 05 in Canadian French, where en-US reads 02:05 PM.
TWENTY_FOUR_HOURS = re.compile(r"^\d{2}:\d{2}$")
QUEBEC_TIME = re.compile(r"^\d{2} h \d{2}$")


async def language_shot(page: Page, folder: Path, name: str) -> None:
    """A screenshot in the test's own folder, copied to test-artifacts/widget/ and /tmp for the
    team to look at."""
    path = folder / f"{name}.png"
    await page.screenshot(path=str(path))
    for copies in (ARTIFACTS, LEAD_SHOTS):
        copies.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copies / path.name)


async def picture_shot(node: Locator, folder: Path, name: str) -> None:
    """A screenshot of one part of the widget, copied like :func:`language_shot`'s."""
    path = folder / f"{name}.png"
    await node.scroll_into_view_if_needed()
    await node.screenshot(path=str(path))
    for copies in (ARTIFACTS, LEAD_SHOTS):
        copies.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copies / path.name)


@pytest.fixture(scope="module")
def site_pages(
    product: tuple[Settings, Database], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A site's support pages, one per language, each embedding the widget with that
    ``data-lang`` (``/<language>.html``), served from another local address; the address."""
    settings, _ = product
    folder = tmp_path_factory.mktemp("site")
    for language in WORDS:
        (folder / f"{language}.html").write_text(
            f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>Lorex</title></head><body><main><h1>Lorex</h1></main>"
            f'<script src="{settings.rasa_url}/webhooks/widget/widget.js" defer '
            f'data-lang="{language}"></script></body></html>',
            encoding="utf-8",
        )
    handler = functools.partial(QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


async def speaks(page: Page, words: dict[str, str], lang: str | re.Pattern[str]) -> Locator:
    """The widget's own strings are ``words``' and its ``lang`` is ``lang`` (the language, with
    a region when the browser has one for it); the chat is opened and the assistant's greeting
    is returned."""
    launcher = page.get_by_role("button", name=words["launcher"])
    await expect(launcher).to_be_visible()
    await launcher.click()
    await open_chat_speaks(page, words, lang)
    greeting = page.locator(".lw-bot").first
    await expect(greeting).to_be_visible(timeout=REPLY_MS)
    return greeting


async def open_chat_speaks(
    page: Page, words: dict[str, str], lang: str | re.Pattern[str], timeout: float = 5_000
) -> None:
    """The open chat's own strings are ``words``' and its ``lang`` is ``lang``."""
    await expect(page.get_by_role("dialog", name=words["title"])).to_be_visible(timeout=timeout)
    await expect(page.locator(".lw-root")).to_have_attribute("lang", lang)
    chat_input = page.get_by_role("textbox", name=words["message"], exact=True)
    await expect(chat_input).to_have_attribute("placeholder", words["placeholder"])
    await expect(page.get_by_role("button", name=words["send"], exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name=words["close"])).to_be_visible()
    await expect(page.get_by_role("button", name=words["photo"])).to_be_visible()


@ASYNC
@pytest.mark.parametrize("language", ["en", "es", "fr"])
async def test_the_widget_speaks_the_language_its_tag_names(
    product: tuple[Settings, Database], browser: Browser, axe_script: str, tmp_path: Path,
    site_pages: str, language: str,
) -> None:
    """data-lang chooses, whatever the browser's language (here American English)."""
    settings, _ = product
    words = WORDS[language]
    context = await browser.new_context(viewport=PHONE, locale="en-US")
    page = await context.new_page()
    await page.goto(f"{site_pages}/{language}.html")
    greeting = await speaks(page, words, re.compile(rf"^{language}(-[A-Z]{{2}})?$"))
    if language != "en":
        await expect(greeting.locator("time")).to_have_text(TWENTY_FOUR_HOURS)
    await language_shot(page, tmp_path, f"language-{language}-open")
    await check_accessibility(page, axe_script, f"the open chat in {language}")

    # Every message tells the dialogue the page's language: the greeting and what is typed.
    conversation = await conversation_id(page)
    await page.get_by_role("textbox", name=words["message"], exact=True).fill("ND48")
    await page.keyboard.press("Enter")
    await expect(page.locator(".lw-user")).to_have_count(1)
    await wait_until(lambda: len(user_events(settings, conversation)) == 2, "typed", seconds=60)
    sent = user_events(settings, conversation)
    assert [event["metadata"][LANGUAGE_KEY] for event in sent] == [language, language]

    # The photo reader's refusal, in the widget's words (English: the server's).
    unreadable = tmp_path / "blurry.jpg"
    Image.new("RGB", (640, 480), (120, 130, 140)).save(unreadable, "JPEG")
    async with page.expect_file_chooser() as chooser:
        await page.get_by_role("button", name=words["photo"]).click()
    await (await chooser.value).set_files(str(unreadable))
    await expect(page.locator(".lw-bot").last).to_contain_text(words["no_qr_code"],
                                                               timeout=REPLY_MS)

    # The status lines and the step card are the widget's words too.
    push(settings, conversation, {"type": "turn", "state": "queued", "expects": "nothing",
                                  **TURN, "position": 2})
    await expect(page.locator(".lw-waiting")).to_have_text(words["waiting"], timeout=REPLY_MS)
    await language_shot(page, tmp_path, f"language-{language}-waiting")
    push(settings, conversation, {
        "type": "reset_step", "step": 2, "total": 10, "finished": False,
        "picture": "right-click-menu", "sensitive_input": False, "title": "Main Menu",
        "parts": {"notice": None, "body": "Right-click.", "tip": None},
    })
    card = page.locator(".lw-card").last
    await expect(card).to_contain_text(words["step"], timeout=REPLY_MS)
    await expect(card.get_by_role("button", name=words["done"])).to_be_visible()
    await expect(card.get_by_role("button", name=words["stuck"])).to_be_visible()
    await expect(card.get_by_role("img")).to_have_attribute("alt", words["picture"])
    await card.scroll_into_view_if_needed()
    await language_shot(page, tmp_path, f"language-{language}-step")
    await check_accessibility(page, axe_script, f"a step card in {language}")
    await context.close()


@ASYNC
async def test_a_french_canadian_browser_gets_it_in_french_and_the_agent_writes_as_written(
    product: tuple[Settings, Database], browser: Browser, axe_script: str, tmp_path: Path,
) -> None:
    """No data-lang (the demo page): the browser's language. The case is French in the console,
    and what the agent writes there, accents and all, is what the owner reads."""
    settings, database = product
    words = WORDS["fr"]
    context = await browser.new_context(viewport=PHONE, locale="fr-CA")
    page = await context.new_page()
    await page.goto(demo_url(settings))
    greeting = await speaks(page, words, "fr-CA")
    await expect(greeting.locator("time")).to_have_text(QUEBEC_TIME)
    conversation = await conversation_id(page)
    [greet] = user_events(settings, conversation)
    assert (greet["text"], greet["metadata"][LANGUAGE_KEY]) == ("/greet", "fr")
    await language_shot(page, tmp_path, "language-fr-CA-open")
    await check_accessibility(page, axe_script, "the open chat in Canadian French")

    # The dialogue queues the conversation's case in the owner's language, as it does when the
    # owner asks for a person.
    queued = ConversationCases(CaseStore(database)).queue_for_agent(
        conversation, "socketio", device_id=SUPPORTED_ID, reason="the owner asked for a person",
        language="fr",
    )
    code = queued.case.code
    AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024)).create(
        "camille", "Camille", AGENT_PASSWORD
    )
    console = ConsoleBrowser(settings.console_url)
    assert "Logged in as" in console.log_in("camille", AGENT_PASSWORD).text
    row = re.search(rf'<tr data-case="{code}">(.*?)</tr>', console.get("/").text, re.S)
    assert row and '<abbr class="badge language" title="French">FR</abbr>' in row.group(1)
    claimed = console.post(f"/cases/{code}/claim")
    assert '<abbr class="badge language" title="French">FR</abbr>' in claimed.text

    written = [
        "Bonjour, ici Camille du soutien Lorex. J'ai vérifié vos coordonnées : tout est "
        "conforme. Ça ne prendra qu'une minute… « Merci » de patienter!",
        "¿Prefiere seguir en español? Señora Muñoz, también podemos atenderla aquí: "
        "¡con mucho gusto!",
    ]
    for text in written:
        answer = console.post(f"/cases/{code}/message", {"text": text})
        assert "Message sent." in answer.text, answer.text
        said = page.locator(".lw-agent").last.locator(".lw-text")
        await expect(said).to_contain_text(text[:20], timeout=REPLY_MS)
        assert await said.text_content() == text
    await expect(page.locator(".lw-agent").last).to_contain_text("Camille · Agent de soutien")
    transcript = html.unescape(console.get(f"/cases/{code}").text)
    assert all(text in transcript for text in written)
    await language_shot(page, tmp_path, "language-fr-CA-agent")

    # The release: the password box in French, its deadline in Canadian French.
    seen = re.search(r'name="releases_seen" value="(\d+)"', console.page)
    assert seen, "no release form on the case page"
    console.post(f"/cases/{code}/release", {"releases_seen": seen.group(1)})
    box = page.locator(".lw-password")
    await expect(box).to_be_visible(timeout=REPLY_MS)
    await expect(box.get_by_role("heading")).to_have_text("Mot de passe temporaire")
    await expect(box.get_by_role("button", name="Afficher")).to_be_visible()
    await expect(box.get_by_role("button", name="Copier")).to_be_visible()
    await expect(box.locator(".lw-password-expiry")).to_have_text(
        re.compile(r"^Valide jusqu'au \d{1,2} \S+ .*\d{1,2} h \d{2}")
    )
    card = page.locator(".lw-card").last
    await expect(card).to_contain_text("Étape 1 sur 10", timeout=REPLY_MS)
    # Step 1's picture, its annotations in French (the recorder's own words stay English).
    drawing = card.get_by_role("img")
    await expect(drawing).to_have_attribute(
        "src", re.compile(r"/pictures/connect-monitor-mouse\.svg\?lang=fr$"))
    assert await drawing.evaluate("node => node.complete && node.naturalWidth > 0")
    french_drawing = requests.get(await drawing.evaluate("node => node.src"), timeout=30).text
    assert "Enregistreur" in french_drawing and "Recorder" not in french_drawing
    await picture_shot(card, tmp_path, "picture-fr")
    await box.scroll_into_view_if_needed()
    await language_shot(page, tmp_path, "language-fr-CA-password")
    await check_accessibility(page, axe_script, "the password box in Canadian French")

    # The conversation moves to Spanish (its turn payload says so): the box is relabelled.
    push(settings, conversation, {"type": "turn", "state": "step", "expects": "step",
                                  **TURN, "step": 1, "total": 10, "language": "es"})
    await expect(box.get_by_role("heading")).to_have_text("Contraseña temporal",
                                                          timeout=REPLY_MS)
    await expect(box.get_by_role("button", name="Mostrar")).to_be_visible()
    await expect(box.locator(".lw-password-expiry")).to_have_text(re.compile(r"^Válida hasta el "))
    await expect(card).to_contain_text("Paso 1 de 10")
    # The picture already shown is drawn again in Spanish.
    await expect(drawing).to_have_attribute(
        "src", re.compile(r"/pictures/connect-monitor-mouse\.svg\?lang=es$"))
    spanish_drawing = requests.get(await drawing.evaluate("node => node.src"), timeout=30).text
    assert "Grabadora" in spanish_drawing and "Enregistreur" not in spanish_drawing
    await context.close()


@ASYNC
async def test_the_widget_follows_the_conversation_into_another_language(
    product: tuple[Settings, Database], browser: Browser, axe_script: str, tmp_path: Path,
    site_pages: str,
) -> None:
    """A French page; the owner asks for Spanish. The dialogue's turn payload says "es": the
    widget's own words, its lang and the language of what it sends follow, also after a reload.
    data-lang only chose the language it started in."""
    settings, _ = product
    french, spanish = WORDS["fr"], WORDS["es"]
    context = await browser.new_context(viewport=PHONE, locale="en-US")
    page = await context.new_page()
    await page.goto(f"{site_pages}/fr.html")
    await speaks(page, french, "fr")
    conversation = await conversation_id(page)
    # A step card already on the page, drawn in French.
    push(settings, conversation, {
        "type": "reset_step", "step": 2, "total": 10, "finished": False,
        "picture": "right-click-menu", "sensitive_input": False, "title": "Menu principal",
        "parts": {"notice": None, "body": "Clic droit.", "tip": None},
    })
    card = page.locator(".lw-card").last
    await expect(card).to_contain_text(french["step"], timeout=REPLY_MS)

    await write(page, french, "en español por favor")
    await open_chat_speaks(page, spanish, "es", timeout=REPLY_MS)
    await expect(card).to_contain_text(spanish["step"])
    await expect(card.get_by_role("button", name=spanish["done"])).to_be_visible()
    await expect(card.get_by_role("button", name=spanish["stuck"])).to_be_visible()
    await expect(card.get_by_role("img")).to_have_attribute("alt", spanish["picture"])
    await expect(page.locator(".lw-user").last.locator("time")).to_have_text(TWENTY_FOUR_HOURS)
    sent = user_events(settings, conversation)
    assert [event["metadata"][LANGUAGE_KEY] for event in sent] == ["fr", "fr"]
    assert [event["text"] for event in sent] == ["/greet", "en español por favor"]

    # What it sends from then on says Spanish; the status lines are Spanish.
    await write(page, spanish, "ND48")
    await wait_until(lambda: len(user_events(settings, conversation)) == 3, "typed", seconds=60)
    assert user_events(settings, conversation)[-1]["metadata"][LANGUAGE_KEY] == "es"
    push(settings, conversation, {"type": "turn", "state": "queued", "expects": "nothing",
                                  **TURN, "position": 2})
    await expect(page.locator(".lw-waiting")).to_have_text(spanish["waiting"], timeout=REPLY_MS)
    await language_shot(page, tmp_path, "switch-es")
    await check_accessibility(page, axe_script, "the chat switched from French to Spanish")

    # A reload keeps the conversation's language, not the page's.
    await page.reload()
    await open_chat_speaks(page, spanish, "es")
    await expect(page.locator(".lw-waiting")).to_have_text(spanish["waiting"])
    await expect(page.locator(".lw-card").last).to_contain_text(spanish["step"])
    await write(page, spanish, "ND48")
    await wait_until(lambda: len(user_events(settings, conversation)) == 4, "typed", seconds=60)
    assert user_events(settings, conversation)[-1]["metadata"][LANGUAGE_KEY] == "es"
    await context.close()


async def write(page: Page, words: dict[str, str], text: str) -> None:
    """The owner types ``text`` in the message box (named in ``words``' language) and sends it."""
    await page.get_by_role("textbox", name=words["message"], exact=True).fill(text)
    await page.keyboard.press("Enter")
