"""A whole release, on the real servers: a chat user on the socket.io channel is queued, an agent
claims the case and releases a temporary password, and the user's chat receives it, once, then
step 1. Afterwards the databases (product and tracker store) and every server log are searched for
the password: it is not there. Run over SQLite files and over PostgreSQL.

The same for a REST client, which cannot be pushed to, worked in the real console: the release
waits for the client's next message, and the console says so until it is delivered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from argon2 import PasswordHasher
from sqlalchemy import create_engine, inspect, text

from bot.agents.accounts import AgentAccounts
from bot.cases.store import CaseStore
from bot.db import Database
from bot.handoff.agent_desk import AgentDesk
from bot.handoff.desk import SupportDesk
from bot.handoff.rasa_bridge import PASSWORD_RELEASED, RasaBridge
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from bot.serve import Settings
from tests.chat_user import ChatUser
from tests.conftest import PostgresServer
from tests.console_server import CHEAP_HASHER, PASSWORD, Browser, RunningConsole, start_console
from tests.running_product import AssistantClient, running_product

SUPPORTED_ID = "ND4810273945KXQ"
# The registered owner of SUPPORTED_ID in data/devices.csv, as a user might type it.
OWNER = ("zion juniperfield", "Zion.Juniperfield@example.com", "(202) 555-0110")


@dataclass
class Deployment:
    settings: Settings
    log_path: Path
    database_urls: list[str]  # product database, tracker store
    sqlite_files: list[Path]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Deployment]:
    if request.param == "sqlite":
        files = [tmp_path / "lorex.db", tmp_path / "tracker.db"]
        urls = [f"sqlite:///{path}" for path in files]
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        files = []
        urls = [server.create_database(), server.create_database()]
    with running_product(tmp_path, database_url=urls[0], tracker_store_url=urls[1]) as (
        settings,
        log_path,
    ):
        yield Deployment(settings, log_path, urls, files)


def test_a_release_reaches_the_user_once_and_rests_nowhere(deployment: Deployment) -> None:
    settings = deployment.settings
    database = Database(deployment.database_urls[0])
    desk = SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())
    accounts = AgentAccounts(database, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    agent = accounts.create("alice", "Alice", "correct horse battery staple")
    bridge = RasaBridge(settings.rasa_url, settings.rasa_api_token)

    async def visit() -> dict[str, Any]:
        user = ChatUser(settings)
        await user.connect()
        await user.say("I forgot my recorder password", until=("Device ID",))
        await user.say(SUPPORTED_ID, until=("What name",))
        await user.say(OWNER[0], until=("email",))
        await user.say(OWNER[1], until=("phone",))
        queued = await user.say(OWNER[2], until=("support case",))
        code = next(
            m["text"] for m in queued if "support case" in (m.get("text") or "")
        ).split("**")[1]

        [entry] = desk.queue()
        assert entry.case.code == code
        card = desk.case_file(code).verification
        assert [row.verdict.value for row in card] == ["match", "match", "match"]

        agent_desk = AgentDesk(desk, bridge)
        await agent_desk.claim(code, agent)
        outcome = await agent_desk.release(code, agent, releases_seen=0)
        assert outcome.problem is None, outcome.problem

        announced = await user.messages_until("temporary password")
        password = await user.payload(lambda m: "temporary_password" in m, "temporary_password")
        step_one = await user.messages_until("Step 1 of")
        card_message = await user.payload(lambda m: m.get("type") == "reset_step", "step card")

        # The same release triggered again (a replayed request): the value is not given twice.
        reference = desk.case_file(code).releases[-1].reference
        await bridge.resume_with(
            user.conversation_id, PASSWORD_RELEASED, {"release_ref": reference}
        )
        again = await user.payload(lambda m: "temporary_password" in m, "temporary_password")
        await bridge.close()
        await user.client.disconnect()
        return {
            "session_id": user.conversation_id,
            "code": code,
            "announced": announced,
            "password": password,
            "again": again,
            "step_one": step_one,
            "card": card_message,
        }

    seen = asyncio.run(visit())

    value = seen["password"]["temporary_password"]["value"]
    assert seen["password"]["type"] == "temporary_password"
    assert len(value) == 10 and desk.verify_secret(seen["code"], value)
    assert seen["again"]["temporary_password"] == {"unavailable": True}
    assert "Type it exactly" in seen["announced"][-1]["text"]
    assert seen["card"]["type"] == "reset_step" and seen["card"]["step"] == 1
    assert desk.case_file(seen["code"]).case.status.value == "guiding"

    # Where the password must not be: the tracker (what the assistant said holds the reference),
    # the product's tables, and every server's log.
    tracker = requests.get(
        f"{settings.rasa_url}/conversations/{seen['session_id']}/tracker",
        params={"token": settings.rasa_api_token},
        timeout=30,
    )
    assert value not in tracker.text
    for path in deployment.sqlite_files:
        for file in path.parent.glob(path.name + "*"):  # with -wal / -journal files
            assert value.encode() not in file.read_bytes(), file
    for url in deployment.database_urls:
        assert value not in _every_row(url), url
    assert value not in deployment.log_path.read_text()


def _every_row(url: str) -> str:
    """Every row of every table, as text."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            dump = []
            for table in inspect(connection).get_table_names():
                rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
                dump.extend(repr(tuple(row)) for row in rows)
            return "\n".join(dump)
    finally:
        engine.dispose()


def test_a_rest_user_gets_a_release_with_the_next_message_and_the_console_tells_the_truth(
    deployment: Deployment,
) -> None:
    """A REST client cannot be pushed to: the console says the password waits for the owner,
    the client's next message (whatever it says) brings it, once, and the console then says
    it was delivered. Taking over the chat ends with the contract's ``taken_over`` turn."""
    settings = deployment.settings
    database = Database(deployment.database_urls[0])
    AgentAccounts(database, hasher=CHEAP_HASHER).create("alice", "Alice", PASSWORD)
    console = start_console(
        database, rasa_url=settings.rasa_url, api_token=settings.rasa_api_token
    )
    try:
        _rest_release(settings, database, console, deployment.log_path)
    finally:
        console.stop()


def _rest_release(
    settings: Settings, database: Database, console: RunningConsole, log_path: Path
) -> None:
    assistant = AssistantClient(settings.rasa_url, settings.rasa_api_token)
    sender = "rest-owner-1"
    assistant.say(sender, "I forgot my recorder password")
    assistant.say(sender, SUPPORTED_ID)
    for detail in OWNER:
        queued = assistant.texts(sender, detail)
    case = CaseStore(database).latest_for_conversation(sender)
    assert case is not None and case.status.value == "queued", queued
    code = case.code

    agent = Browser(console.url)
    agent.log_in("alice")
    agent.post(f"/cases/{code}/claim")
    released = agent.post(f"/cases/{code}/release", {"releases_seen": "0"})
    assert "waiting for the owner to come back" in released.text, released.text
    assert "was sent to the user" not in released.text
    page = agent.get(f"/cases/{code}").text
    assert "waiting for the owner to come back" in page
    assert "waits for the user to come back" in page  # the audit trail

    # Any message fetches what was kept: first the release (the password, once), then the answer.
    answer = assistant.say(sender, "any update?")
    kinds = [(m.get("custom") or {}).get("data", {}).get("type") for m in answer]
    assert "temporary_password" in kinds, answer
    payload = next(m["custom"]["data"] for m in answer if "custom" in m and
                   m["custom"]["data"].get("type") == "temporary_password")
    value = payload["temporary_password"]["value"]
    desk = console.console.desk
    assert desk.verify_secret(code, value)
    before = kinds.index("temporary_password")
    assert any("Step 1 of" in (m.get("text") or "") for m in answer[before:])
    assert value not in json.dumps(assistant.say(sender, "any update?"))

    page = agent.get(f"/cases/{code}").text
    assert "taken by the REST client" in page and "waiting for the owner" not in page
    assert "reached the user (the REST client took it" in page

    # Taking over: the announcement, then the turn payload that says a person answers.
    agent.post(f"/cases/{code}/take-over")
    taken = assistant.say(sender, "hello?")
    turns = [m["custom"]["data"] for m in taken if "custom" in m]
    assert {
        "type": "turn",
        "state": "taken_over",
        "expects": "nothing",
        "step": None,
        "total": None,
        "sensitive_input": False,
        "case": code,
    } in turns, taken
    assert any("Alice from Lorex support" in (m.get("text") or "") for m in taken)

    # The value rests nowhere: not in the tracker, the databases or the logs.
    tracker = assistant.tracker(sender)
    assert value not in json.dumps(tracker)
    for url in (database.url,):
        assert value not in _every_row(url)
    assert value not in log_path.read_text()
