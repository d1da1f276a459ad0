"""A returning owner resumes a case by its code; stale cases close; the owner's presence is
recorded. On real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from bot.cases.conversation import ASSISTANT, ConversationCases
from bot.cases.errors import CaseClosed, CaseNotFound
from bot.cases.stale import abandon_stale_cases
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.db import Database
from bot.devices.registry import DeviceRegistry
from tests.conftest import SAMPLE_DEVICES, WriteCsv

S = CaseStatus
DEVICE = SAMPLE_DEVICES[0]
OTHER = SAMPLE_DEVICES[1]


class Clock:
    """Starts at the real time (the store stamps new cases with it) and moves on when told."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database: Database, write_devices_csv: WriteCsv) -> CaseStore:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    return CaseStore(database)


@pytest.fixture
def cases(store: CaseStore, clock: Clock) -> ConversationCases:
    return ConversationCases(store, clock=clock)


def queued_case(cases: ConversationCases, conversation: str = "old-chat") -> str:
    cases.start_gathering(conversation, "chat")
    queued = cases.queue_for_agent(
        conversation, "chat", device_id=DEVICE["device_id"], reason="the owner asked for a person"
    )
    return queued.case.code


# --- resume_candidate ------------------------------------------------------------------------


def test_resume_candidate_finds_an_open_case_however_the_code_is_typed(
    cases: ConversationCases,
) -> None:
    code = queued_case(cases)
    body = code.removeprefix("LX-")
    for typed in (code, code.lower(), f"LX{body}", f"lx {body}", f" {body.lower()} ", body):
        found = cases.resume_candidate(typed)
        assert found is not None, typed
        assert found.code == code


def test_resume_candidate_is_none_for_unknown_or_closed_cases(
    cases: ConversationCases, store: CaseStore
) -> None:
    code = queued_case(cases)
    assert cases.resume_candidate("LX-ZZZZZZ") is None
    assert cases.resume_candidate("hello there") is None
    assert cases.resume_candidate("") is None
    store.transition(code, S.ABANDONED, actor=ASSISTANT, reason="test: closed")
    assert cases.resume_candidate(code) is None


# --- verify_owner ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "proof",
    [
        "dana@example.com",
        "  DANA@Example.COM ",
        "+1 416 555 0101",
        "(416) 555-0101",
        "416.555.0101",
        DEVICE["device_id"],
        DEVICE["device_id"].lower(),
        "ND48-1027-3945-KXQ",
    ],
)
def test_verify_owner_accepts_the_registered_contact_or_the_device_id(
    cases: ConversationCases, proof: str
) -> None:
    code = queued_case(cases)
    assert cases.verify_owner(code, proof) is True


def test_verify_owner_accepts_what_the_owner_stated_on_the_case(
    cases: ConversationCases,
) -> None:
    cases.start_gathering("old-chat", "chat")
    code = cases.queue_for_agent("old-chat", "chat", device_id=None, reason="person").case.code
    cases.record_owner_statement(code, name="Dana", email="dana.w@mail.test", phone="555 0199 123")
    assert cases.verify_owner(code, "Dana.W@mail.test") is True
    assert cases.verify_owner(code, "555-0199-123") is True
    assert cases.verify_owner(code, "Dana") is False  # a name is no proof


@pytest.mark.parametrize(
    "proof",
    ["omar@example.org", OTHER["owner_phone"], OTHER["device_id"], "0101", "", "   ", "dana"],
)
def test_verify_owner_refuses_anything_else(cases: ConversationCases, proof: str) -> None:
    code = queued_case(cases)
    assert cases.verify_owner(code, proof) is False


def test_three_failed_proofs_lock_the_case_for_an_hour(
    cases: ConversationCases, store: CaseStore, clock: Clock
) -> None:
    code = queued_case(cases)
    for _ in range(3):
        assert cases.resume_limited(code) is False
        assert cases.verify_owner(code, "someone@else.test") is False
        clock.advance(minutes=1)

    assert cases.resume_limited(code) is True
    assert cases.verify_owner(code, DEVICE["owner_email"]) is False  # even the right one
    failures = [e for e in store.events(code) if "proof" in e.reason]
    assert len(failures) == 3  # refused attempts while locked are not counted again
    assert all(DEVICE["owner_email"] not in e.reason for e in store.events(code))
    assert all("someone@else" not in e.reason for e in store.events(code))

    clock.advance(minutes=58)  # the first failure is now an hour old
    assert cases.resume_limited(code) is False
    assert cases.verify_owner(code, DEVICE["owner_email"]) is True


def test_parallel_wrong_proofs_cannot_pass_the_limit(
    cases: ConversationCases, store: CaseStore
) -> None:
    code = queued_case(cases)
    start = threading.Barrier(6)

    def guess(n: int) -> None:
        start.wait()
        cases.verify_owner(code, f"guess{n}@example.test")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len([e for e in store.events(code) if "proof" in e.reason]) == 3
    assert cases.resume_limited(code) is True


def test_the_limit_is_per_case(cases: ConversationCases) -> None:
    mine, theirs = queued_case(cases, "a"), queued_case(cases, "b")
    for _ in range(3):
        cases.verify_owner(theirs, "wrong@example.test")
    assert cases.resume_limited(theirs) is True
    assert cases.resume_limited(mine) is False
    assert cases.verify_owner(mine, DEVICE["owner_email"]) is True


def test_verify_owner_of_an_unknown_or_closed_case_is_false(
    cases: ConversationCases, store: CaseStore
) -> None:
    code = queued_case(cases)
    assert cases.verify_owner("LX-ZZZZZZ", DEVICE["owner_email"]) is False
    store.transition(code, S.ABANDONED, actor=ASSISTANT, reason="test: closed")
    assert cases.verify_owner(code, DEVICE["owner_email"]) is False


# --- adopt -----------------------------------------------------------------------------------


def test_adopt_moves_the_case_to_the_new_conversation(
    cases: ConversationCases, store: CaseStore
) -> None:
    code = queued_case(cases, "old-chat")
    waiting_case = cases.start_gathering("new-phone-call", "phone")  # the new one's own case

    adopted = cases.adopt(code.lower(), "new-phone-call", "phone")

    assert adopted.code == code
    assert adopted.conversation_id == "new-phone-call"
    assert adopted.channel == "phone"
    assert adopted.status is S.QUEUED
    assert cases.current("new-phone-call") == adopted
    assert cases.current("old-chat") is None
    assert store.get(waiting_case.code).status is S.ABANDONED
    last = store.events(code)[-1]
    assert (last.from_status, last.to_status, last.actor) == (S.QUEUED, S.QUEUED, ASSISTANT)
    assert "resumed" in last.reason and "phone" in last.reason

    # The old conversation's later messages no longer reach it.
    cases.owner_left("old-chat")
    cases.queue_for_agent("old-chat", "chat", device_id=None, reason="asked again")
    assert store.get(code).conversation_id == "new-phone-call"
    assert cases.owner_gone_since(code) is None


def test_adopt_an_unknown_or_closed_case_is_refused(
    cases: ConversationCases, store: CaseStore
) -> None:
    code = queued_case(cases)
    with pytest.raises(CaseNotFound):
        cases.adopt("LX-ZZZZZZ", "new", "chat")
    store.transition(code, S.ABANDONED, actor=ASSISTANT, reason="test: closed")
    with pytest.raises(CaseClosed):
        cases.adopt(code, "new", "chat")


def test_adopting_the_case_already_held_changes_nothing(
    cases: ConversationCases, store: CaseStore
) -> None:
    code = queued_case(cases, "chat-1")
    before = store.events(code)
    assert cases.adopt(code, "chat-1", "chat").code == code
    assert store.events(code) == before


# --- touch and the stale-case sweeper -----------------------------------------------------------

TIMEOUT = timedelta(minutes=30)


def test_a_collecting_case_without_owner_messages_is_abandoned(
    cases: ConversationCases, store: CaseStore, clock: Clock
) -> None:
    idle = cases.start_gathering("idle", "chat")
    active = cases.start_gathering("active", "chat")
    waiting = queued_case(cases, "waiting")
    clock.advance(minutes=20)
    cases.touch("active")
    clock.advance(minutes=11)

    swept = abandon_stale_cases(store, TIMEOUT, now=clock())

    assert [case.code for case in swept] == [idle.code]
    assert store.get(idle.code).status is S.ABANDONED
    last = store.events(idle.code)[-1]
    assert (last.from_status, last.to_status, last.actor) == (S.COLLECTING, S.ABANDONED, "system")
    assert "30 minutes" in last.reason
    assert store.get(active.code).status is S.COLLECTING
    assert store.get(waiting).status is S.QUEUED
    assert abandon_stale_cases(store, TIMEOUT, now=clock()) == []

    clock.advance(minutes=20)
    assert [c.code for c in abandon_stale_cases(store, TIMEOUT, now=clock())] == [active.code]


def test_touch_without_a_case_does_nothing(cases: ConversationCases) -> None:
    cases.touch("nobody")  # no error, no case
    assert cases.current("nobody") is None


# --- owner presence ----------------------------------------------------------------------------


def test_owner_left_and_returned_are_recorded(
    cases: ConversationCases, store: CaseStore, clock: Clock
) -> None:
    code = queued_case(cases, "chat-1")
    assert cases.owner_gone_since(code) is None

    cases.owner_left("chat-1")
    left_at = clock()
    clock.advance(minutes=3)
    assert cases.owner_gone_since(code) == left_at
    cases.owner_left("chat-1")  # a second disconnect keeps the first time
    assert cases.owner_gone_since(code) == left_at

    cases.owner_returned("chat-1")
    assert cases.owner_gone_since(code) is None
    reasons = [e.reason for e in store.events(code)]
    assert reasons[-2:] == ["the owner left the conversation", "the owner came back"]

    cases.owner_left("chat-1")
    clock.advance(minutes=1)
    cases.touch("chat-1")  # a message means they are back
    assert cases.owner_gone_since(code) is None


def test_presence_without_a_case_does_nothing(cases: ConversationCases) -> None:
    cases.owner_left("nobody")
    cases.owner_returned("nobody")
    assert cases.current("nobody") is None
