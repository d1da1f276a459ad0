# mypy: disable-error-code="import-untyped"
"""The agent console over HTTP, served for real on SQLite and PostgreSQL.

The Rasa server is not running in these tests: every action still changes the case (that is the
database's job), and the console says what did not reach the user. That is real behaviour.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from bot.agents.accounts import AgentAccounts
from bot.cases.conversation import ConversationCases
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseView
from bot.content import REPO_ROOT
from bot.db import Database, utcnow
from bot.devices.registry import DeviceRegistry
from bot.handoff.temporary_password import ManualPasswords
from bot.serve import announcement, settings_from
from tests.conftest import SAMPLE_DEVICES, WriteCsv
from tests.console_server import CHEAP_HASHER, PASSWORD, Browser, RunningConsole, start_console

DANA = SAMPLE_DEVICES[0]


@pytest.fixture
def registry(database: Database, write_devices_csv: WriteCsv) -> Database:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    accounts = AgentAccounts(database, hasher=CHEAP_HASHER)
    accounts.create("alice", "Alice", PASSWORD)
    accounts.create("bob", "Bob", PASSWORD)
    return database


@pytest.fixture
def console(registry: Database) -> Iterator[RunningConsole]:
    running = start_console(registry)
    try:
        yield running
    finally:
        running.stop()


def queued_case(
    database: Database, device_id: str | None = DANA["device_id"], language: str = "en"
) -> CaseView:
    store = CaseStore(database)
    case = store.open_case(
        channel="chat",
        conversation_id=f"conversation-{utcnow().timestamp()}",
        actor="assistant",
        reason="the user asked for a person",
        status=CaseStatus.QUEUED,
        device_id=device_id,
        language=language,
    )
    store.record_owner_statement(
        case.code,
        name="dana whitfield",
        email="someone@else.example",
        phone=None,
        actor="assistant",
    )
    return case


def status_of(database: Database, code: str) -> str:
    return CaseStore(database).get(code).status.value


def logged_in(console: RunningConsole, username: str = "alice") -> Browser:
    browser = Browser(console.url)
    response = browser.log_in(username)
    assert response.status_code == 200 and "Logged in as" in response.text
    return browser


def release_form(browser: Browser, code: str) -> dict[str, str]:
    browser.get(f"/cases/{code}")
    seen = re.search(r'name="releases_seen" value="(\d+)"', browser.page)
    assert seen, "no release form on the case page"
    return {"csrf_token": browser.csrf(), "releases_seen": seen.group(1)}


# -- logging in ----------------------------------------------------------------------------------


def test_logging_in_and_out(console: RunningConsole) -> None:
    browser = Browser(console.url)
    first = browser.get("/")
    assert first.url.endswith("/login") and "Log in" in first.text

    response = browser.log_in("alice")

    assert response.status_code == 200
    assert "Logged in as <strong>Alice</strong>" in response.text
    cookie = response.history[0].headers["Set-Cookie"]
    assert "console_session=" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie

    out = browser.post("/logout")
    assert out.url.endswith("/login") and "You are logged out." in out.text
    assert browser.get("/").url.endswith("/login")


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(
    console: RunningConsole,
) -> None:
    wrong_password = Browser(console.url).log_in("alice", "not the password at all")
    console.clock.now += 3600  # the address's failures are forgotten: only the message counts
    unknown_user = Browser(console.url).log_in("mallory", PASSWORD)

    for response in (wrong_password, unknown_user):
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert "Logged in as" not in response.text


def test_repeated_failures_are_slowed_down(console: RunningConsole) -> None:
    browser = Browser(console.url)
    for _ in range(3):
        assert browser.log_in("alice", "guess guess guess").status_code == 401

    refused = browser.log_in("alice")  # even the right password waits its turn
    assert refused.status_code == 429
    assert "Too many failed attempts. Try again in 1 second." in refused.text
    assert "Wrong username" not in refused.text

    console.clock.now += 1.5
    assert browser.log_in("alice", "another guess!!").status_code == 401
    slower = browser.log_in("alice")
    assert "Too many failed attempts. Try again in 2 seconds." in slower.text

    console.clock.now += 2.5
    assert "Logged in as" in browser.log_in("alice").text


def test_an_expired_session_sends_the_agent_back_to_log_in(
    console: RunningConsole, registry: Database
) -> None:
    browser = logged_in(console)
    with registry.engine.begin() as connection:
        connection.execute(
            text("UPDATE agent_sessions SET expires_at = :past"),
            {"past": (utcnow() - timedelta(minutes=1)).replace(tzinfo=None)},
        )

    response = browser.get("/")

    assert response.url.endswith("/login")
    assert "Your session expired; please log in again." in response.text


def test_posts_without_the_csrf_token_are_refused(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    browser = logged_in(console)

    missing = browser.post(f"/cases/{case.code}/claim", csrf=False)
    browser.get("/")
    wrong = browser.post(f"/cases/{case.code}/claim", {"csrf_token": "forged"})

    for response in (missing, wrong):
        assert response.status_code == 403
        assert "This form could not be checked" in response.text
    assert status_of(registry, case.code) == "queued"


def test_the_login_form_carries_its_own_csrf_token(console: RunningConsole) -> None:
    response = requests.post(
        f"{console.url}/login", data={"username": "alice", "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 403
    assert "The login form had expired" in response.text


# -- the queue -----------------------------------------------------------------------------------


def test_the_queue_lists_waiting_cases_oldest_first(
    console: RunningConsole, registry: Database
) -> None:
    browser = logged_in(console)
    assert "No one is waiting." in browser.get("/").text

    cases = [queued_case(registry), queued_case(registry, None), queued_case(registry)]
    CaseStore(registry).open_case(
        channel="chat", conversation_id="still-talking", actor="assistant", reason="started"
    )
    page = browser.get("/").text

    listed = re.findall(r'<tr data-case="(LX-[A-Z0-9]{6})">', page)
    assert listed == [case.code for case in cases]
    assert "N841" in page and "no Device ID yet" in page
    assert "3 waiting" in page
    assert "You have no open cases." in page


def test_the_queue_marks_returning_owners_and_owners_who_left(
    console: RunningConsole, registry: Database
) -> None:
    cases = ConversationCases(CaseStore(registry))
    returning = cases.start_guiding("owner-at-step-4", "chat")
    cases.queue_for_agent("owner-at-step-4", "chat", device_id=None, reason="stuck at step 4")
    gone = queued_case(registry)
    cases.owner_left(gone.conversation_id)
    browser = logged_in(console)

    rows = dict(
        re.findall(r'<tr data-case="(LX-[A-Z0-9]{6})">(.*?)</tr>', browser.get("/").text, re.S)
    )

    assert "returning" in rows[returning.code] and "owner has left" not in rows[returning.code]
    assert "owner has left" in rows[gone.code] and "returning" not in rows[gone.code]
    assert "The owner left at" in browser.get(f"/cases/{gone.code}").text


LANGUAGE_BADGE = re.compile(r'<abbr class="badge language" title="(\w+)">([A-Z]{2})</abbr>')


def test_the_queue_and_the_case_show_the_owners_language(
    console: RunningConsole, registry: Database
) -> None:
    spanish = queued_case(registry, language="es")
    english = queued_case(registry)
    french = queued_case(registry, None, language="fr")
    browser = logged_in(console)

    rows = dict(
        re.findall(r'<tr data-case="(LX-[A-Z0-9]{6})">(.*?)</tr>', browser.get("/").text, re.S)
    )

    assert LANGUAGE_BADGE.findall(rows[spanish.code]) == [("Spanish", "ES")]
    assert LANGUAGE_BADGE.findall(rows[english.code]) == [("English", "EN")]
    assert LANGUAGE_BADGE.findall(rows[french.code]) == [("French", "FR")]
    status = browser.get(f"/cases/{spanish.code}").text
    assert LANGUAGE_BADGE.findall(status) == [("Spanish", "ES")]
    assert "<dt>Language</dt><dd>Spanish</dd>" in status

    # The owner switches to French: the case says so (and its audit trail why).
    CaseStore(registry).set_language(spanish.code, "fr", actor="assistant")
    changed = browser.get(f"/cases/{spanish.code}").text
    assert LANGUAGE_BADGE.findall(changed) == [("French", "FR")]
    assert "the conversation&#39;s language changed from Spanish to French" in changed
    assert ("French", "FR") in LANGUAGE_BADGE.findall(browser.get("/").text)


def test_the_queue_updates_live_over_server_sent_events(
    console: RunningConsole, registry: Database
) -> None:
    browser = logged_in(console)
    browser.get("/")
    seen = ",".join(
        f"{name}:{mark}"
        for name, mark in re.findall(
            r'data-fragment="([a-z-]+)" data-fingerprint="(\w+)"', browser.page
        )
    )
    with browser.http.get(
        f"{console.url}/events", params={"seen": seen}, stream=True, timeout=30
    ) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        case = queued_case(registry)
        updates: dict[str, str] = {}
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data: {"):
                update = json.loads(line[len("data: ") :])
                updates[update["name"]] = update["html"]
            if "queue" in updates and "queue-count" in updates:
                break
    assert case.code in updates["queue"]
    assert updates["queue-count"].strip() == "1 waiting"


# -- claiming ------------------------------------------------------------------------------------


def test_two_agents_claim_at_once_and_exactly_one_wins(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    agents = {name: logged_in(console, name) for name in ("alice", "bob")}
    forms = {name: agents[name].get("/") and agents[name].csrf() for name in agents}
    start = threading.Barrier(2)
    pages: dict[str, str] = {}

    def claim(name: str) -> None:
        start.wait()
        response = agents[name].http.post(
            f"{console.url}/cases/{case.code}/claim", data={"csrf_token": forms[name]}, timeout=30
        )
        pages[name] = response.text

    threads = [threading.Thread(target=claim, args=(name,)) for name in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [name for name, page in pages.items() if f"You have case {case.code}." in page]
    assert len(winners) == 1
    loser = "bob" if winners == ["alice"] else "alice"
    winner_name = winners[0].capitalize()
    assert f"Case {case.code} was just claimed by {winner_name}." in pages[loser]
    assert status_of(registry, case.code) == "assigned"


def test_another_agents_case_shows_who_has_it_and_refuses_actions(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    alice = logged_in(console, "alice")
    alice.get("/")
    alice.post(f"/cases/{case.code}/claim")
    bob = logged_in(console, "bob")

    page = bob.get(f"/cases/{case.code}").text
    assert "Alice has this case; only they can act on it." in page
    assert "releases_seen" not in page

    refused = bob.post(f"/cases/{case.code}/release", {"releases_seen": "0"})
    assert refused.status_code == 409
    assert f"Case {case.code} is not assigned to you (Alice has it); claim it first." in (
        refused.text
    )


# -- the case view and its actions ---------------------------------------------------------------


def test_the_case_view_shows_registry_verification_and_an_unreachable_transcript(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    page = logged_in(console).get(f"/cases/{case.code}").text.replace("<wbr>", "")

    for shown in (
        DANA["model"],
        DANA["device_id"],
        DANA["serial_number"],
        DANA["owner_name"],
        DANA["owner_email"],
        DANA["owner_phone"],
        "Warranty registered",
    ):
        assert shown in page
    assert "✓ Match" in page  # "dana whitfield" is Dana Whitfield
    assert "✗ Mismatch" in page  # another email
    assert "– Not given" in page  # no phone
    assert "Transcript unavailable: The assistant at http://127.0.0.1:" in page
    assert "No temporary password released yet." in page
    assert "opened as queued" in page and "the user gave the owner&#39;s name, email" in page
    assert "Claim this case" in page


def test_a_release_is_recorded_and_says_it_did_not_reach_the_user(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    browser = logged_in(console)
    browser.get("/")
    claimed = browser.post(f"/cases/{case.code}/claim")
    assert f"You have case {case.code}." in claimed.text

    released = browser.post(f"/cases/{case.code}/release", release_form(browser, case.code))

    assert released.status_code == 200
    assert "The release is recorded." in released.text
    assert "It did not reach the user (the assistant at http://127.0.0.1:" in released.text
    assert "Release again to send a new one." in released.text
    assert status_of(registry, case.code) == "released"
    assert "<strong>current</strong>" in released.text and "Release a new temporary password" in (
        released.text
    )
    # The case's own page after a reload: the notice was shown once.
    assert "The release is recorded." not in browser.get(f"/cases/{case.code}").text


def test_a_double_submitted_release_sends_nothing_twice(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    browser = logged_in(console)
    browser.get("/")
    browser.post(f"/cases/{case.code}/claim")
    form = release_form(browser, case.code)

    first = browser.post(f"/cases/{case.code}/release", form)
    second = browser.post(f"/cases/{case.code}/release", form)

    assert "The release is recorded." in first.text
    assert second.status_code == 409
    assert f"A temporary password was already released for case {case.code} at" in second.text
    assert "nothing was sent again" in second.text
    assert console.console.desk.release_count(case.code) == 1


def test_releasing_on_a_rejected_case_is_refused_in_words(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    browser = logged_in(console)
    browser.get("/")
    browser.post(f"/cases/{case.code}/claim")
    form = release_form(browser, case.code)

    rejected = browser.post(
        f"/cases/{case.code}/reject", {"reason": "owner_not_verified", "note": "email differs"}
    )
    assert "The case is rejected." in rejected.text
    assert "The user was not told (the assistant at" in rejected.text
    assert "rejected: Owner details do not match the registry (email differs)" in rejected.text
    assert "This case is closed; there is nothing left to do." in rejected.text

    refused = browser.post(f"/cases/{case.code}/release", form)
    assert refused.status_code == 409
    assert (
        f"Case {case.code} is rejected and closed; releasing a temporary password is not "
        "possible" in refused.text
    )
    assert status_of(registry, case.code) == "rejected"
    assert console.console.desk.release_count(case.code) == 0


def test_rejecting_without_a_reason_keeps_the_note(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    browser = logged_in(console)
    browser.get("/")
    browser.post(f"/cases/{case.code}/claim")

    response = browser.post(f"/cases/{case.code}/reject", {"reason": "", "note": "odd <caller>"})

    assert response.status_code == 400
    assert "Choose a reason for rejecting the case." in response.text
    assert "odd &lt;caller&gt;</textarea>" in response.text
    assert status_of(registry, case.code) == "assigned"


def test_putting_a_case_back_returns_it_to_the_queue(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    browser = logged_in(console)
    browser.get("/")
    browser.post(f"/cases/{case.code}/claim")
    assert case.code in browser.get("/").text.split("My cases")[1]

    back = browser.post(f"/cases/{case.code}/put-back")

    assert back.url.endswith("/")
    assert f"Case {case.code} is back in the queue." in back.text
    assert status_of(registry, case.code) == "queued"
    assert f'<tr data-case="{case.code}">' in back.text
    assert "You have no open cases." in back.text


def test_a_message_that_did_not_reach_the_user_stays_in_the_form(
    console: RunningConsole, registry: Database
) -> None:
    case = queued_case(registry)
    browser = logged_in(console)
    browser.get("/")
    browser.post(f"/cases/{case.code}/claim")

    empty = browser.post(f"/cases/{case.code}/message", {"text": "   "})
    failed = browser.post(f"/cases/{case.code}/message", {"text": "Hi Dana, <one> moment"})

    assert empty.status_code == 400 and "Write a message first." in empty.text
    assert failed.status_code == 502
    assert "Not sent. The message did not reach the user" in failed.text
    assert "Hi Dana, &lt;one&gt; moment</textarea>" in failed.text


def test_taking_over_and_handing_back(console: RunningConsole, registry: Database) -> None:
    case = queued_case(registry)
    browser = logged_in(console)
    browser.get("/")
    browser.post(f"/cases/{case.code}/claim")

    taken = browser.post(f"/cases/{case.code}/take-over")
    assert "You have the chat." in taken.text and "The user was not told" in taken.text
    assert "You are chatting with the user" in taken.text
    assert "Hand back to the assistant" in taken.text

    back = browser.post(f"/cases/{case.code}/hand-back")
    assert "Handed back." in back.text and "The assistant did not resume" in back.text
    assert "Take over the chat" in back.text


def test_an_unknown_case_is_a_404_in_words(console: RunningConsole) -> None:
    browser = logged_in(console)

    page = browser.get("/cases/LX-ZZZZZZ")
    browser.get("/")
    action = browser.post("/cases/LX-ZZZZZZ/release", {"releases_seen": "0"})

    for response in (page, action):
        assert response.status_code == 404
        assert "There is no support case LX-ZZZZZZ." in response.text


def test_an_unknown_page_is_a_404_in_words(console: RunningConsole) -> None:
    response = logged_in(console).get("/nothing/here")
    assert response.status_code == 404 and "There is no page at /nothing/here." in response.text


def test_health_needs_no_login(console: RunningConsole) -> None:
    response = requests.get(f"{console.url}/health", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_pasted_temporary_password_never_comes_back(registry: Database) -> None:
    running = start_console(registry, provider=ManualPasswords())
    try:
        case = queued_case(registry)
        browser = logged_in(running)
        browser.get("/")
        browser.post(f"/cases/{case.code}/claim")
        form = release_form(browser, case.code)
        assert 'name="agent_input" type="password"' in browser.page

        missing = browser.post(f"/cases/{case.code}/release", {**form, "agent_input": " "})
        assert missing.status_code == 400
        assert "Paste the temporary password from the vendor&#39;s tool." in missing.text

        secret = "VNDR-7QX4-93KD"
        released = browser.post(f"/cases/{case.code}/release", {**form, "agent_input": secret})
        assert "The release is recorded." in released.text
        assert secret not in released.text
        assert secret not in browser.get(f"/cases/{case.code}").text
        assert running.console.desk.verify_secret(case.code, secret)
    finally:
        running.stop()


# -- starting it ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "error"),
    [
        (
            "TEMP_PASSWORD_PROVIDER",
            "dice",
            "TEMP_PASSWORD_PROVIDER must be 'generator' or 'manual', not 'dice'",
        ),
        (
            "CONSOLE_SESSION_HOURS",
            "forever",
            "CONSOLE_SESSION_HOURS must be a number of hours up to 168, not 'forever'",
        ),
        (
            "CONSOLE_PORT",
            "99999",
            "CONSOLE_PORT must be a port number from 1 to 65535, not '99999'",
        ),
    ],
)
def test_a_bad_setting_stops_the_console_in_one_line(
    tmp_path: Path, variable: str, value: str, error: str
) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'lorex.db'}", variable: value}
    finished = subprocess.run(
        [sys.executable, "-m", "bot.console"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (finished.returncode, finished.stderr) == (2, f"python -m bot.console: error: {error}\n")


def test_the_ready_announcement_says_where_the_console_is() -> None:
    text = announcement(settings_from({"CONSOLE_PORT": "5106", "RASA_API_TOKEN": "t"}))
    assert "Agent console:    http://127.0.0.1:5106" in text
    assert "create an agent with: .venv/bin/python -m bot.cli agent add alice --name Alice" in text


def test_chat_text_shows_bold_and_escapes_everything_else() -> None:
    from bot.console.render import chat_text

    shown = chat_text("Your case **LX-4K7Q9M** <script>x</script>\nnext")
    assert str(shown) == (
        "Your case <strong>LX-4K7Q9M</strong> &lt;script&gt;x&lt;/script&gt;<br>next"
    )
