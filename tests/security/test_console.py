# mypy: disable-error-code="import-untyped"
"""The agent console withstands password guessing, and its pages resist framing and injection.

- **A parallel login flood gets only the free attempts checked.** Attempts are counted when they
  start, in one step (not when they have failed, after the password check), per account and per
  address: 30 or 60 logins sent at once for one account get at most the account's free attempts
  through to argon2, and the right password among them does not get in. The real console is
  served over HTTP; a probe around the real argon2 hasher counts the password checks.
- **One client cannot lock the others out.** The address allows more failures than an account
  (a whole office may share one address behind a proxy), and a browser an agent has logged in
  with before is counted on its own, so neither a flood against an account nor a spray from a
  shared address keeps an agent out of the console on their usual browser.
- **Password checks never hold the database.** argon2 runs outside any transaction: a flood of
  failed logins beside another writer (the case store opening cases, as the action server does)
  never makes that writer wait out SQLite's lock ("database is locked"), on a real SQLite file
  and on PostgreSQL.
- **Every response carries a strict Content-Security-Policy** (scripts, styles and connections
  from the console itself only, no inline code, no framing), ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer`` and ``X-Content-Type-Options: nosniff``: pages, redirects,
  error pages, static files and the live stream alike.
- **Cookies are Secure when the console is served over HTTPS** (``CONSOLE_PUBLIC_URL`` starting
  with ``https://``, which also turns on HSTS); a value that is not an address stops the console
  with one line naming the variable.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as StillRunning
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher
from sqlalchemy import func, select

from bot.agents.accounts import AgentAccounts
from bot.agents.throttle import FREE_ATTEMPTS
from bot.cases.models import SupportCase
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.content import REPO_ROOT
from bot.db import Database
from tests.console_server import CHEAP_HASHER, CSRF, PASSWORD, Browser, start_console

WRONG = "not the password, attempt {}"


class CountingHasher(PasswordHasher):
    """The real argon2id hasher with a probe: it counts the password checks it is asked for.

    While ``hold`` is closed every check waits for it (at most 10 s): on a busy server argon2 is
    slow enough for a whole flood to arrive while the first checks run, and holding them makes
    that window certain instead of a matter of luck.
    """

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.checks = 0
        self.hold = threading.Event()
        self.hold.set()
        self._lock = threading.Lock()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.checks += 1
        self.hold.wait(10)
        return bool(super().verify(hash, password))


CHEAP_PARAMS = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def login_form_token(url: str) -> tuple[str, str]:
    """The login form's CSRF cookie and token, as one attacker's client would reuse them."""
    response = requests.get(f"{url}/login", timeout=30)
    found = CSRF.search(response.text)
    assert found
    return response.cookies["console_login_csrf"], found.group(1)


def post_login(url: str, csrf: tuple[str, str], username: str, password: str,
               cookies: dict[str, str] | None = None) -> requests.Response:
    return requests.post(
        f"{url}/login",
        data={"csrf_token": csrf[1], "username": username, "password": password},
        cookies={"console_login_csrf": csrf[0], **(cookies or {})},
        allow_redirects=False,
        timeout=60,
    )


def logged_in(response: requests.Response) -> bool:
    return response.status_code == 303 and "console_session" in response.cookies


@pytest.fixture
def agents(database: Database) -> Database:
    accounts = AgentAccounts(database, hasher=CHEAP_HASHER)
    for name in ("alice", "bob"):
        accounts.create(name, name.capitalize(), PASSWORD)
    return database


@dataclass
class Flood:
    """What a flood of logins at once got: the password checks made and every answer."""

    checks: int
    statuses: list[int] = field(default_factory=list)
    right_password: requests.Response | None = None


def flood_logins(url: str, hasher: CountingHasher, size: int) -> Flood:
    """``size - 1`` wrong passwords for alice at once, then the right one while they are checked.

    The right one goes last, once the server has begun checking passwords, so that the free
    attempts are spent on wrong ones (an attacker cannot choose which guess is right)."""
    csrf = login_form_token(url)
    start = threading.Barrier(size - 1)
    checks_before = hasher.checks
    hasher.hold.clear()

    def wrong(number: int) -> requests.Response:
        start.wait()
        return post_login(url, csrf, "alice", WRONG.format(number))

    with ThreadPoolExecutor(max_workers=size) as pool:
        guesses = [pool.submit(wrong, number) for number in range(size - 1)]
        deadline = time.monotonic() + 20
        while hasher.checks == checks_before and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # the rest of the flood reaches the server
        right = pool.submit(post_login, url, csrf, "alice", PASSWORD)
        with suppress(StillRunning):  # refused at once, or stuck behind the held checks
            right.result(timeout=1.0)
        hasher.hold.set()
        answers = [guess.result() for guess in guesses]
        right_answer = right.result()
    statuses = [answer.status_code for answer in answers]
    return Flood(hasher.checks - checks_before, statuses, right_answer)


@pytest.mark.parametrize("size", [30, 60])
def test_a_parallel_login_flood_gets_only_the_free_attempts_checked(
    agents: Database, size: int
) -> None:
    hasher = CountingHasher(**CHEAP_PARAMS)
    running = start_console(agents, hasher=hasher)
    try:
        flood = flood_logins(running.url, hasher, size)
    finally:
        running.stop()

    print(f"flood of {size}: {flood.checks} passwords checked")
    assert flood.checks <= FREE_ATTEMPTS, (
        f"{flood.checks} of {size} parallel logins had their password checked"
    )
    assert flood.right_password is not None and not logged_in(flood.right_password)
    assert flood.right_password.status_code == 429
    assert "Too many failed attempts" in flood.right_password.text
    assert flood.statuses.count(401) == flood.checks
    assert flood.statuses.count(429) == size - 1 - flood.checks


def test_a_flood_against_one_account_keeps_no_one_else_out(agents: Database) -> None:
    hasher = CountingHasher(**CHEAP_PARAMS)
    running = start_console(agents, hasher=hasher)
    try:
        alice = Browser(running.url)  # alice logged in on this browser yesterday
        assert logged_in_page(alice.log_in("alice"))
        alice.post("/logout")

        flood = flood_logins(running.url, hasher, 30)
        assert flood.checks <= FREE_ATTEMPTS

        # bob, from the same address as the flood, and alice on her own browser get in.
        assert logged_in_page(Browser(running.url).log_in("bob"))
        assert logged_in_page(alice.log_in("alice"))
        # a browser alice never used waits, like the attacker's.
        assert Browser(running.url).log_in("alice").status_code == 429
    finally:
        running.stop()


def test_a_spray_from_one_address_does_not_lock_out_known_browsers(agents: Database) -> None:
    running = start_console(agents, hasher=CHEAP_HASHER)
    try:
        bob = Browser(running.url)
        assert logged_in_page(bob.log_in("bob"))
        bob.post("/logout")

        # One client tries a common password on many accounts from the agents' shared address.
        csrf = login_form_token(running.url)
        answers = [
            post_login(running.url, csrf, f"agent{number}", "Summer2026!").status_code
            for number in range(60)
        ]
        assert 401 in answers and answers[-1] == 429  # the address is slowed down ...
        assert Browser(running.url).log_in("bob").status_code == 429
        assert logged_in_page(bob.log_in("bob"))  # ... but not bob's own browser
    finally:
        running.stop()


def logged_in_page(response: requests.Response) -> bool:
    return response.status_code == 200 and "Logged in as" in response.text


def test_the_throttle_stays_bounded_when_usernames_rotate() -> None:
    from bot.agents.throttle import AttemptCounter, MemoryThrottle

    throttle = MemoryThrottle(clock=lambda: 0.0, max_keys=1000)
    for number in range(5000):
        throttle.admit(AttemptCounter(f"user:guess{number}", FREE_ATTEMPTS))
    assert len(throttle) <= 1000
    # The newest counts are kept: an account under attack is never the one forgotten.
    for _ in range(FREE_ATTEMPTS):
        throttle.admit(AttemptCounter("user:alice", FREE_ATTEMPTS))
    for number in range(999):
        throttle.admit(AttemptCounter(f"user:other{number}", FREE_ATTEMPTS))
    assert throttle.admit(AttemptCounter("user:alice", FREE_ATTEMPTS)) > 0


# -- password checks beside other writers ---------------------------------------------------------


def test_failed_logins_never_hold_the_database_from_other_writers(database: Database) -> None:
    accounts = AgentAccounts(database)  # argon2id with its real parameters, as in production
    accounts.create("alice", "Alice", PASSWORD)
    store = CaseStore(database)
    errors: list[str] = []
    opened: list[str] = []
    flood_over = threading.Event()

    def open_cases() -> None:
        number = 0
        while not flood_over.is_set() or number < 5:
            try:
                case = store.open_case(
                    channel="chat", conversation_id=f"writer-{number}", actor="assistant",
                    reason="the user asked for a person", status=CaseStatus.QUEUED,
                )
                opened.append(case.code)
            except Exception as exc:  # every failure is the finding: keep it to report
                errors.append(f"opening a case: {exc}")
            number += 1
            time.sleep(0.02)

    def fail_login(number: int) -> None:
        try:
            username = "alice" if number % 2 else f"agent{number}"
            assert accounts.authenticate(username, WRONG.format(number)) is None
        except Exception as exc:
            errors.append(f"a failed login: {exc}")

    writer = threading.Thread(target=open_cases)
    writer.start()
    try:
        # As many at once as the console's worker threads run (min(32, cores + 4)).
        with ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4)) as pool:
            list(pool.map(fail_login, range(60)))
    finally:
        flood_over.set()
        writer.join(60)

    kinds = Counter(error.splitlines()[0] for error in errors)
    assert not errors, f"{len(errors)} errors: {dict(kinds)}"
    with database.session() as session:
        stored = session.scalar(select(func.count()).select_from(SupportCase))
    assert stored == len(opened) >= 5


def test_a_rehash_is_written_after_the_check(database: Database) -> None:
    old = AgentAccounts(database, hasher=CHEAP_HASHER)
    old.create("alice", "Alice", PASSWORD)
    stronger = AgentAccounts(database, hasher=PasswordHasher(time_cost=2, memory_cost=2048,
                                                             parallelism=1))
    assert stronger.authenticate("alice", PASSWORD) is not None
    from bot.agents.models import Agent

    with database.session() as session:
        stored = session.scalars(select(Agent.password_hash)).one()
    assert "m=2048,t=2" in stored
    assert stronger.authenticate("alice", PASSWORD) is not None


# -- headers and cookies --------------------------------------------------------------------------

EXPECTED_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def assert_hardened(response: requests.Response, what: str) -> None:
    for name, value in EXPECTED_HEADERS.items():
        assert response.headers.get(name) == value, f"{what}: {name}"
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers.get("Content-Security-Policy", "").split(";")
        if directive.strip()
    }
    assert policy.get("default-src") == ["'none'"], f"{what}: {policy}"
    for directive in ("script-src", "style-src", "connect-src", "img-src", "form-action"):
        assert policy.get(directive) == ["'self'"], f"{what}: {directive} in {policy}"
    assert policy.get("frame-ancestors") == ["'none'"], f"{what}: {policy}"
    assert policy.get("base-uri") == ["'none'"], f"{what}: {policy}"


@pytest.fixture
def console_url(agents: Database) -> Iterator[str]:
    running = start_console(agents, hasher=CHEAP_HASHER)
    try:
        yield running.url
    finally:
        running.stop()


def test_every_response_carries_the_security_headers(console_url: str) -> None:
    anonymous: dict[str, requests.Response] = {
        "login page": requests.get(f"{console_url}/login", timeout=30),
        "redirect to login": requests.get(f"{console_url}/", allow_redirects=False, timeout=30),
        "static script": requests.get(f"{console_url}/static/console.js", timeout=30),
        "health": requests.get(f"{console_url}/health", timeout=30),
        "live stream without login": requests.get(f"{console_url}/events", timeout=30),
        "login without its form": requests.post(f"{console_url}/login", timeout=30),
        "missing static file": requests.get(f"{console_url}/static/nothing.js", timeout=30),
    }
    browser = Browser(console_url)
    signed_in = {
        "login redirect": browser.log_in("alice").history[0],
        "queue page": browser.get("/"),
        "page not found": browser.get("/nothing/here"),
        "case not found": browser.get("/cases/LX-ZZZZZZ"),
        "wrong method": browser.get("/logout"),
        "forged form": browser.post("/logout", {"csrf_token": "forged"}),
    }
    statuses = {what: r.status_code for what, r in {**anonymous, **signed_in}.items()}
    assert statuses == {
        "login page": 200, "redirect to login": 303, "static script": 200, "health": 200,
        "live stream without login": 401, "login without its form": 403,
        "missing static file": 404, "login redirect": 303, "queue page": 200,
        "page not found": 404, "case not found": 404, "wrong method": 405, "forged form": 403,
    }
    for what, response in {**anonymous, **signed_in}.items():
        assert_hardened(response, what)
    assert "Strict-Transport-Security" not in anonymous["login page"].headers  # plain HTTP


def test_the_pages_need_no_inline_script_or_style(console_url: str) -> None:
    browser = Browser(console_url)
    pages = [browser.get("/login").text, browser.log_in("alice").text]
    for page in pages:
        assert "<style" not in page and " style=" not in page
        assert "<script>" not in page and " on" not in page.replace(" one", "")


def test_cookies_are_secure_when_the_console_is_served_over_https(agents: Database) -> None:
    running = start_console(agents, hasher=CHEAP_HASHER,
                            public_url="https://console.example.test")
    try:
        form = requests.get(f"{running.url}/login", timeout=30)
        csrf = (form.cookies["console_login_csrf"], CSRF.search(form.text).group(1))  # type: ignore[union-attr]
        wrong = post_login(running.url, csrf, "alice", "wrong password!")
        right = post_login(running.url, csrf, "alice", PASSWORD)
        session = right.cookies["console_session"]
        queue = requests.get(f"{running.url}/", cookies={"console_session": session},
                             timeout=30)
        logout_form = CSRF.search(queue.text)
        assert logout_form
        logout = requests.post(
            f"{running.url}/logout", data={"csrf_token": logout_form.group(1)},
            cookies={"console_session": session}, allow_redirects=False, timeout=30,
        )
        cookies = [
            header
            for response in (form, wrong, right, logout)
            for header in response.raw.headers.getlist("Set-Cookie")
        ]
        names = {header.split("=", 1)[0] for header in cookies}
        assert {"console_login_csrf", "console_session", "console_notice"} <= names
        for header in cookies:
            attributes = [part.strip().lower() for part in header.split(";")[1:]]
            assert "secure" in attributes, header
            assert "httponly" in attributes and "samesite=strict" in attributes, header
        assert form.headers["Strict-Transport-Security"] == "max-age=31536000"
    finally:
        running.stop()


def test_cookies_are_not_secure_over_plain_http(console_url: str) -> None:
    form = requests.get(f"{console_url}/login", timeout=30)
    header = form.headers["Set-Cookie"]
    assert "console_login_csrf=" in header and "secure" not in header.lower()


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("console.example.com", "CONSOLE_PUBLIC_URL must be the console's address starting with "
         "https:// (or http://), such as https://console.example.com, not 'console.example.com'"),
        ("ftp://console.example.com", "CONSOLE_PUBLIC_URL must be the console's address starting "
         "with https:// (or http://), such as https://console.example.com, not "
         "'ftp://console.example.com'"),
        ("https://console.example.com/agents?x=1", "CONSOLE_PUBLIC_URL must be the console's "
         "address starting with https:// (or http://), such as https://console.example.com, not "
         "'https://console.example.com/agents?x=1'"),
        ("https://admin:hunter2@console.example.com",
         "CONSOLE_PUBLIC_URL must not carry a user name or password"),
    ],
)
def test_a_bad_public_url_stops_the_console_in_one_line(
    tmp_path: Path, value: str, error: str
) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'lorex.db'}",
           "CONSOLE_PUBLIC_URL": value}
    finished = subprocess.run(
        [sys.executable, "-m", "bot.console"], env=env, cwd=REPO_ROOT, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert (finished.returncode, finished.stderr) == (
        2, f"python -m bot.console: error: {error}\n"
    )


def test_the_pages_work_in_a_browser_under_the_policy(agents: Database) -> None:
    """Chromium reports no policy violation while the console's pages load, style themselves and
    update live (the script and its event stream are allowed, nothing else is needed)."""
    from playwright.async_api import async_playwright, expect

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail(f"Debian's Chromium is missing at {chromium}: `make browser` installs it")
    running = start_console(agents, hasher=CHEAP_HASHER)
    store = CaseStore(agents)

    async def visit() -> tuple[list[str], str]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(chromium), headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            try:
                page = await browser.new_page()
                messages: list[str] = []
                page.on("console", lambda message: messages.append(message.text))
                await page.goto(f"{running.url}/login")
                await page.get_by_label("Username").fill("alice")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await expect(page.get_by_text("Logged in as")).to_be_visible()
                case = await asyncio.to_thread(
                    store.open_case, channel="chat", conversation_id="under-the-policy",
                    actor="assistant", reason="the user asked for a person",
                    status=CaseStatus.QUEUED,
                )
                # Arrives without a reload: the script ran and its stream connected.
                await expect(page.get_by_role("link", name=case.code)).to_be_visible()
                await page.get_by_role("link", name=case.code).click()
                await expect(page.get_by_role("heading", name="Conversation")).to_be_visible()
                font = await page.evaluate("getComputedStyle(document.body).fontFamily")
                return messages, str(font)
            finally:
                await browser.close()

    try:
        messages, font = asyncio.run(visit())
    finally:
        running.stop()
    assert [text for text in messages if "Content Security Policy" in text] == []
    assert "system-ui" in font  # the stylesheet applied
