"""Agent accounts and login sessions on real databases (the login throttle's tests are in
tests/test_shared_state.py, run on each implementation)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.agents.accounts import (
    AccountError,
    AgentAccounts,
    ExpiredSession,
    LoginSession,
    csrf_matches,
)
from bot.agents.models import Agent, AgentSession
from bot.db import Database

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(database: Database) -> AgentAccounts:
    return AgentAccounts(database, hasher=CHEAP)


def test_an_agent_is_created_with_a_hashed_password(
    accounts: AgentAccounts, database: Database
) -> None:
    agent = accounts.create("  Alice ", "Alice Moreau", PASSWORD)
    assert (agent.username, agent.display_name, agent.actor) == (
        "alice",
        "Alice Moreau",
        "agent:alice",
    )
    with database.session() as session:
        stored = session.scalars(select(Agent.password_hash)).one()
    assert PASSWORD not in stored and stored.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("username", "name", "password", "problem"),
    [
        ("a", "A", PASSWORD, "a username is 2 to 64 characters"),
        ("al ice", "A", PASSWORD, "a username is 2 to 64 characters"),
        ("alice", " ", PASSWORD, "the display name must be 1 to 100 characters"),
        ("alice", "A", "short", "at least 12 characters"),
    ],
)
def test_bad_account_details_are_refused_in_words(
    accounts: AgentAccounts, username: str, name: str, password: str, problem: str
) -> None:
    with pytest.raises(AccountError, match=problem):
        accounts.create(username, name, password)


def test_a_username_is_taken_once(accounts: AgentAccounts) -> None:
    accounts.create("alice", "Alice", PASSWORD)
    with pytest.raises(AccountError, match="already an agent called 'alice'"):
        accounts.create("ALICE", "Alice again", PASSWORD)


def test_authentication_does_not_say_which_part_was_wrong(accounts: AgentAccounts) -> None:
    agent = accounts.create("alice", "Alice", PASSWORD)
    assert accounts.authenticate("Alice", PASSWORD) == agent
    assert accounts.authenticate("alice", PASSWORD + "x") is None
    assert accounts.authenticate("mallory", PASSWORD) is None
    assert accounts.authenticate("", "") is None


def test_a_session_lives_until_it_expires_and_ends_at_logout(
    database: Database, accounts: AgentAccounts
) -> None:
    agent = accounts.create("alice", "Alice", PASSWORD)
    login = accounts.log_in(agent)
    found = accounts.session(login.token)
    assert isinstance(found, LoginSession) and found.agent == agent
    assert found.csrf_token == login.csrf_token and found.token == ""
    with database.session() as session:
        [stored] = session.scalars(select(AgentSession.token_hash)).all()
    assert stored != login.token  # only its hash is kept

    short = AgentAccounts(database, hasher=CHEAP, session_lifetime=timedelta(seconds=-1))
    expired = short.log_in(agent)
    assert isinstance(accounts.session(expired.token), ExpiredSession)
    assert accounts.session("not-a-session") is None
    accounts.log_out(login.token)
    assert accounts.session(login.token) is None


def test_csrf_tokens_must_match_exactly() -> None:
    assert csrf_matches("abc", "abc")
    assert not csrf_matches("abc", "abd")
    assert not csrf_matches("abc", None)
    assert not csrf_matches("abc", "")

