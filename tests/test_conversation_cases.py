"""A conversation's support case as the dialogue moves on, on real SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bot.cases.conversation import ASSISTANT, ConversationCases
from bot.cases.errors import UnknownDevice
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseView
from bot.db import Database
from bot.devices.registry import DeviceRegistry
from tests.conftest import SAMPLE_DEVICES, WriteCsv

S = CaseStatus
AGENT = "agent:sam"
CONVERSATION = "conv-1"
DEVICE_ID = SAMPLE_DEVICES[0]["device_id"]
OTHER_DEVICE_ID = SAMPLE_DEVICES[2]["device_id"]

# Trail = (from_status, to_status, actor, reason) per audit event.
Trail = list[tuple[S | None, S, str, str]]

OPENED_FOR_RESET = (None, S.COLLECTING, ASSISTANT, "the owner asked to reset a recorder password")


@pytest.fixture
def store(database: Database, write_devices_csv: WriteCsv) -> CaseStore:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    return CaseStore(database)


@pytest.fixture
def cases(store: CaseStore) -> ConversationCases:
    return ConversationCases(store)


def trail(store: CaseStore, code: str) -> Trail:
    return [
        (event.from_status, event.to_status, event.actor, event.reason)
        for event in store.events(code)
    ]


def agent_moves(store: CaseStore, case: CaseView, *statuses: S) -> CaseView:
    """What support does to a case from the agent console."""
    for status in statuses:
        case = store.transition(case.code, status, actor=AGENT, reason=f"agent: {status}")
    return case


def case_in(
    cases: ConversationCases, store: CaseStore, status: S, conversation_id: str = CONVERSATION
) -> CaseView:
    """A conversation whose case has reached ``status`` the way the product gets it there."""
    if status is S.GUIDING:
        return cases.start_guiding(conversation_id, "chat")
    case = cases.start_gathering(conversation_id, "chat")
    if status is S.COLLECTING:
        return case
    if status is S.ABANDONED:
        closed = cases.close_without_handoff(conversation_id, "test: owner left")
        assert closed is not None
        return closed
    case = cases.queue_for_agent(
        conversation_id, "chat", device_id=DEVICE_ID, reason="test: queued"
    ).case
    path = {
        S.QUEUED: (),
        S.ASSIGNED: (S.ASSIGNED,),
        S.RELEASED: (S.ASSIGNED, S.RELEASED),
        S.REJECTED: (S.ASSIGNED, S.REJECTED),
        S.COMPLETED: (S.ASSIGNED, S.RELEASED, S.COMPLETED),
    }[status]
    return agent_moves(store, case, *path)


# --- current ---------------------------------------------------------------------------------


def test_a_new_conversation_has_no_current_case(cases: ConversationCases) -> None:
    assert cases.current(CONVERSATION) is None


def test_current_is_the_latest_open_case_of_that_conversation(
    cases: ConversationCases, store: CaseStore
) -> None:
    mine = cases.start_gathering(CONVERSATION, "chat")
    cases.start_gathering("someone-else", "chat")
    assert cases.current(CONVERSATION) == mine
    cases.close_without_handoff(CONVERSATION, "the owner left")
    assert cases.current(CONVERSATION) is None
    assert store.latest_for_conversation(CONVERSATION) is not None  # closed, but still there


# --- start_gathering ------------------------------------------------------------------------


def test_start_gathering_opens_a_collecting_case(
    cases: ConversationCases, store: CaseStore
) -> None:
    case = cases.start_gathering(CONVERSATION, "phone")

    assert case.status is S.COLLECTING
    assert case.channel == "phone"
    assert case.conversation_id == CONVERSATION
    assert case.device_id is None
    assert trail(store, case.code) == [OPENED_FOR_RESET]


@pytest.mark.parametrize("status", [S.COLLECTING, S.QUEUED, S.ASSIGNED])
def test_start_gathering_reuses_a_case_still_being_worked_on(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    case = case_in(cases, store, status)
    before = trail(store, case.code)

    again = cases.start_gathering(CONVERSATION, "chat")

    assert again.code == case.code
    assert again.status is status
    assert trail(store, case.code) == before
    assert store.latest_for_conversation(CONVERSATION) == again


@pytest.mark.parametrize("status", [S.RELEASED, S.GUIDING])
def test_start_gathering_supersedes_a_released_or_guiding_case(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    old = case_in(cases, store, status)
    before = trail(store, old.code)

    new = cases.start_gathering(CONVERSATION, "chat")

    assert new.code != old.code
    assert new.status is S.COLLECTING
    assert store.get(old.code).status is S.ABANDONED
    assert trail(store, old.code) == [
        *before,
        (status, S.ABANDONED, ASSISTANT, "the owner started a new password reset"),
    ]
    assert trail(store, new.code) == [OPENED_FOR_RESET]


@pytest.mark.parametrize("status", [S.COMPLETED, S.REJECTED, S.ABANDONED])
def test_start_gathering_after_a_closed_case_opens_a_new_one(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    old = case_in(cases, store, status)
    before = trail(store, old.code)

    new = cases.start_gathering(CONVERSATION, "chat")

    assert new.code != old.code
    assert new.status is S.COLLECTING
    assert store.get(old.code).status is status
    assert trail(store, old.code) == before


# --- queue_for_agent ------------------------------------------------------------------------


def test_queue_from_collecting_with_a_device(cases: ConversationCases, store: CaseStore) -> None:
    case = cases.start_gathering(CONVERSATION, "chat")

    queued = cases.queue_for_agent(
        CONVERSATION, "chat", device_id=DEVICE_ID, reason="Device ID checked"
    )

    assert queued.already_queued is False
    assert queued.position == 1
    assert queued.case.code == case.code
    assert queued.case.status is S.QUEUED
    assert queued.case.device_id == DEVICE_ID
    assert store.get(case.code) == queued.case
    assert trail(store, case.code) == [
        OPENED_FOR_RESET,
        (S.COLLECTING, S.COLLECTING, ASSISTANT, f"Device ID {DEVICE_ID} attached"),
        (S.COLLECTING, S.QUEUED, ASSISTANT, "Device ID checked"),
    ]


def test_queue_from_collecting_without_a_device(cases: ConversationCases, store: CaseStore) -> None:
    case = cases.start_gathering(CONVERSATION, "chat")

    queued = cases.queue_for_agent(
        CONVERSATION, "chat", device_id=None, reason="the owner asked for a person"
    )

    assert queued.case.code == case.code
    assert queued.case.status is S.QUEUED
    assert queued.case.device_id is None
    assert queued.already_queued is False
    assert trail(store, case.code) == [
        OPENED_FOR_RESET,
        (S.COLLECTING, S.QUEUED, ASSISTANT, "the owner asked for a person"),
    ]


def test_queue_with_an_unregistered_device_changes_nothing(
    cases: ConversationCases, store: CaseStore
) -> None:
    case = cases.start_gathering(CONVERSATION, "chat")

    with pytest.raises(UnknownDevice):
        cases.queue_for_agent(CONVERSATION, "chat", device_id="ZZ0000000000ZZZ", reason="x")

    assert store.get(case.code).status is S.COLLECTING
    assert trail(store, case.code) == [OPENED_FOR_RESET]


def test_queue_without_any_case_opens_a_queued_one(
    cases: ConversationCases, store: CaseStore
) -> None:
    queued = cases.queue_for_agent(
        CONVERSATION, "phone", device_id=DEVICE_ID, reason="the owner asked for a person"
    )

    assert queued.already_queued is False
    assert queued.position == 1
    assert queued.case.status is S.QUEUED
    assert queued.case.channel == "phone"
    assert queued.case.device_id == DEVICE_ID
    assert trail(store, queued.case.code) == [
        (None, S.QUEUED, ASSISTANT, "the owner asked for a person")
    ]


@pytest.mark.parametrize(("status", "position"), [(S.QUEUED, 1), (S.ASSIGNED, 0)])
def test_queue_when_already_with_support(
    cases: ConversationCases, store: CaseStore, status: S, position: int
) -> None:
    case = case_in(cases, store, status)
    before = trail(store, case.code)

    queued = cases.queue_for_agent(
        CONVERSATION, "chat", device_id=OTHER_DEVICE_ID, reason="asked again"
    )

    assert queued.already_queued is True
    assert queued.position == position
    assert queued.case == store.get(case.code)
    assert queued.case.status is status
    assert queued.case.device_id == DEVICE_ID  # not replaced by the second request
    assert trail(store, case.code) == before


@pytest.mark.parametrize("status", [S.GUIDING, S.RELEASED, S.REJECTED])
def test_queue_requeues_the_conversations_case_and_keeps_its_place(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    # "I'm stuck" during the steps, then "yes" to a person: the same case goes back to support,
    # ahead of a case opened after it, with a reason in its trail.
    old = case_in(cases, store, status)
    before = trail(store, old.code)
    newer = cases.queue_for_agent("conv-newer", "chat", device_id=None, reason="newer")
    reason = "the owner asked for a person during the reset steps"

    queued = cases.queue_for_agent(CONVERSATION, "chat", device_id=DEVICE_ID, reason=reason)

    assert queued.case.code == old.code
    assert queued.case.status is S.QUEUED
    assert queued.case.device_id == DEVICE_ID
    assert queued.already_queued is False
    assert queued.position == 1
    assert cases.position(newer.case) == 2
    assert [case.code for case in store.queue()] == [old.code, newer.case.code]
    after = trail(store, old.code)
    assert after[: len(before)] == before
    assert (status, S.QUEUED, ASSISTANT, reason) in after[len(before) :]
    assert cases.current(CONVERSATION) == queued.case


def test_a_requeued_case_can_be_claimed_and_released_again(
    cases: ConversationCases, store: CaseStore
) -> None:
    old = case_in(cases, store, S.GUIDING)
    cases.queue_for_agent(CONVERSATION, "chat", device_id=None, reason="stuck")
    again = agent_moves(store, old, S.ASSIGNED, S.RELEASED)
    assert again.status is S.RELEASED
    assert cases.start_guiding(CONVERSATION, "chat").code == old.code


def test_a_corrected_device_moves_a_queued_case_to_it(
    cases: ConversationCases, store: CaseStore
) -> None:
    queued = case_in(cases, store, S.QUEUED)

    corrected = cases.correct_device(CONVERSATION, OTHER_DEVICE_ID)

    assert corrected is not None
    assert (corrected.code, corrected.status) == (queued.code, S.QUEUED)
    assert corrected.device_id == OTHER_DEVICE_ID
    assert trail(store, queued.code)[-1][3] == (
        f"Device ID changed from {DEVICE_ID} to {OTHER_DEVICE_ID}"
    )


def test_a_corrected_device_leaves_a_case_an_agent_has_alone(
    cases: ConversationCases, store: CaseStore
) -> None:
    assigned = case_in(cases, store, S.ASSIGNED)
    assert cases.correct_device(CONVERSATION, OTHER_DEVICE_ID) is None
    assert store.get(assigned.code).device_id == DEVICE_ID


def test_a_hand_back_to_the_steps_carries_on_with_the_same_case(
    cases: ConversationCases, store: CaseStore
) -> None:
    old = case_in(cases, store, S.GUIDING)
    cases.queue_for_agent(CONVERSATION, "chat", device_id=None, reason="stuck at step 4")
    agent_moves(store, old, S.ASSIGNED)

    resumed = cases.resume_guiding(CONVERSATION, "chat")

    assert (resumed.code, resumed.status) == (old.code, S.GUIDING)
    assert trail(store, old.code)[-1][1:] == (
        S.GUIDING,
        "assistant",
        "the agent handed back; the reset steps carry on",
    )


@pytest.mark.parametrize("status", [S.COMPLETED, S.ABANDONED])
def test_queue_after_a_closed_case_opens_a_new_one(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    old = case_in(cases, store, status)
    before = trail(store, old.code)

    queued = cases.queue_for_agent(CONVERSATION, "chat", device_id=None, reason="help")

    assert queued.case.code != old.code
    assert queued.case.status is S.QUEUED
    assert trail(store, old.code) == before


def test_positions_follow_the_queue(cases: ConversationCases, store: CaseStore) -> None:
    first = cases.queue_for_agent("conv-a", "chat", device_id=None, reason="a")
    second = cases.queue_for_agent("conv-b", "chat", device_id=DEVICE_ID, reason="b")
    cases.start_gathering("conv-c", "chat")  # collecting: not in the queue
    third = cases.queue_for_agent("conv-c", "phone", device_id=None, reason="c")

    assert [first.position, second.position, third.position] == [1, 2, 3]
    assert [case.code for case in store.queue()] == [
        first.case.code,
        second.case.code,
        third.case.code,
    ]

    # An agent takes the first: the others move up, and it is no longer in the queue.
    taken = agent_moves(store, first.case, S.ASSIGNED)
    assert cases.position(taken) == 0
    assert cases.position(second.case) == 1
    assert cases.position(third.case) == 2
    again = cases.queue_for_agent("conv-c", "phone", device_id=None, reason="c again")
    assert (again.already_queued, again.position) == (True, 2)

    # Put back by the agent, it keeps its place at the front.
    agent_moves(store, taken, S.QUEUED)
    assert cases.position(taken) == 1
    assert cases.position(third.case) == 3


# --- close_without_handoff ------------------------------------------------------------------


def test_close_without_handoff_abandons_a_collecting_case(
    cases: ConversationCases, store: CaseStore
) -> None:
    case = cases.start_gathering(CONVERSATION, "chat")

    closed = cases.close_without_handoff(CONVERSATION, "the N831 has its own recovery route")

    assert closed is not None
    assert closed.code == case.code
    assert closed.status is S.ABANDONED
    assert store.get(case.code) == closed
    assert trail(store, case.code) == [
        OPENED_FOR_RESET,
        (S.COLLECTING, S.ABANDONED, ASSISTANT, "the N831 has its own recovery route"),
    ]
    assert cases.current(CONVERSATION) is None


def test_close_without_handoff_with_no_case(cases: ConversationCases) -> None:
    assert cases.close_without_handoff(CONVERSATION, "nothing to close") is None


@pytest.mark.parametrize("status", [S.QUEUED, S.ASSIGNED, S.RELEASED, S.GUIDING])
def test_close_without_handoff_leaves_other_cases_alone(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    case = case_in(cases, store, status)
    before = trail(store, case.code)

    returned = cases.close_without_handoff(CONVERSATION, "declined")

    assert returned == store.get(case.code)
    assert returned is not None
    assert returned.status is status
    assert trail(store, case.code) == before


def test_close_without_handoff_after_a_closed_case(
    cases: ConversationCases, store: CaseStore
) -> None:
    old = case_in(cases, store, S.COMPLETED)
    assert cases.close_without_handoff(CONVERSATION, "declined") is None
    assert store.get(old.code).status is S.COMPLETED


# --- withdraw --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [S.COLLECTING, S.QUEUED, S.ASSIGNED])
def test_withdraw_abandons_a_case_waiting_for_support(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    case = case_in(cases, store, status)
    before = trail(store, case.code)

    withdrawn = cases.withdraw(CONVERSATION, "the owner cancelled while waiting")

    assert withdrawn is not None and withdrawn.code == case.code
    assert withdrawn.status is S.ABANDONED
    assert trail(store, case.code) == [
        *before,
        (status, S.ABANDONED, ASSISTANT, "the owner cancelled while waiting"),
    ]
    assert store.queue() == []
    assert cases.current(CONVERSATION) is None


@pytest.mark.parametrize("status", [S.RELEASED, S.GUIDING])
def test_withdraw_leaves_a_released_case_alone(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    case = case_in(cases, store, status)
    before = trail(store, case.code)
    assert cases.withdraw(CONVERSATION, "cancelled") == store.get(case.code)
    assert trail(store, case.code) == before


def test_withdraw_without_a_case(cases: ConversationCases) -> None:
    assert cases.withdraw(CONVERSATION, "cancelled") is None


# --- start_guiding --------------------------------------------------------------------------

GUIDING_WITHOUT_CASE = (
    None,
    S.GUIDING,
    ASSISTANT,
    "the owner already had a temporary password; guiding the reset steps",
)


def test_start_guiding_moves_the_released_case_on(
    cases: ConversationCases, store: CaseStore
) -> None:
    released = case_in(cases, store, S.RELEASED)
    before = trail(store, released.code)

    guiding = cases.start_guiding(CONVERSATION, "chat")

    assert guiding.code == released.code
    assert guiding.status is S.GUIDING
    assert guiding.device_id == DEVICE_ID
    assert trail(store, released.code) == [
        *before,
        (S.RELEASED, S.GUIDING, ASSISTANT, "guiding the owner through the reset steps"),
    ]


def test_start_guiding_without_a_case_opens_a_guiding_one(
    cases: ConversationCases, store: CaseStore
) -> None:
    case = cases.start_guiding(CONVERSATION, "phone")

    assert case.status is S.GUIDING
    assert case.channel == "phone"
    assert case.device_id is None
    assert trail(store, case.code) == [GUIDING_WITHOUT_CASE]


def test_start_guiding_twice_keeps_the_case(cases: ConversationCases, store: CaseStore) -> None:
    case = cases.start_guiding(CONVERSATION, "chat")
    assert cases.start_guiding(CONVERSATION, "chat") == case
    assert trail(store, case.code) == [GUIDING_WITHOUT_CASE]


@pytest.mark.parametrize("status", [S.COLLECTING, S.QUEUED, S.ASSIGNED])
def test_start_guiding_supersedes_an_unreleased_case(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    old = case_in(cases, store, status)
    before = trail(store, old.code)

    new = cases.start_guiding(CONVERSATION, "chat")

    assert new.code != old.code
    assert new.status is S.GUIDING
    assert store.get(old.code).status is S.ABANDONED
    assert trail(store, old.code) == [
        *before,
        (status, S.ABANDONED, ASSISTANT, "the owner already had a temporary password"),
    ]
    assert trail(store, new.code) == [GUIDING_WITHOUT_CASE]
    assert store.queue() == []  # support no longer waits on the old case


@pytest.mark.parametrize("status", [S.COMPLETED, S.REJECTED, S.ABANDONED])
def test_start_guiding_after_a_closed_case(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    old = case_in(cases, store, status)
    before = trail(store, old.code)

    new = cases.start_guiding(CONVERSATION, "chat")

    assert new.code != old.code
    assert trail(store, new.code) == [GUIDING_WITHOUT_CASE]
    assert trail(store, old.code) == before


# --- complete -------------------------------------------------------------------------------


def test_complete_closes_the_guiding_case(cases: ConversationCases, store: CaseStore) -> None:
    released = case_in(cases, store, S.RELEASED)
    cases.start_guiding(CONVERSATION, "chat")

    completed = cases.complete(CONVERSATION)

    assert completed is not None
    assert completed.code == released.code
    assert completed.status is S.COMPLETED
    assert trail(store, released.code)[-2:] == [
        (S.RELEASED, S.GUIDING, ASSISTANT, "guiding the owner through the reset steps"),
        (S.GUIDING, S.COMPLETED, ASSISTANT, "the owner finished every reset step"),
    ]
    assert cases.current(CONVERSATION) is None
    assert cases.complete(CONVERSATION) is None  # nothing left to complete


def test_complete_without_a_case(cases: ConversationCases) -> None:
    assert cases.complete(CONVERSATION) is None


@pytest.mark.parametrize("status", [S.COLLECTING, S.QUEUED, S.ASSIGNED, S.RELEASED])
def test_complete_leaves_a_case_that_is_not_guiding(
    cases: ConversationCases, store: CaseStore, status: S
) -> None:
    case = case_in(cases, store, status)
    before = trail(store, case.code)

    returned = cases.complete(CONVERSATION)

    assert returned == store.get(case.code)
    assert returned is not None
    assert returned.status is status
    assert trail(store, case.code) == before


def test_conversations_do_not_touch_each_others_cases(
    cases: ConversationCases, store: CaseStore
) -> None:
    mine = cases.start_gathering("mine", "chat")
    theirs = cases.start_gathering("theirs", "chat")

    cases.queue_for_agent("mine", "chat", device_id=DEVICE_ID, reason="mine")
    cases.close_without_handoff("theirs", "theirs left")

    assert store.get(mine.code).status is S.QUEUED
    assert store.get(theirs.code).status is S.ABANDONED
    assert store.get(theirs.code).device_id is None


def test_the_case_takes_the_conversations_language(cases: ConversationCases) -> None:
    gathering = cases.start_gathering("conv-es", "socketio", language="es")
    assert gathering.language == "es"
    queued = cases.queue_for_agent(
        "conv-fr", "socketio", device_id=None, reason="a person", language="fr"
    )
    assert queued.case.language == "fr"
    guiding = cases.start_guiding("conv-en", "socketio")
    assert guiding.language == "en"

    switched = cases.set_language("conv-es", "fr")
    assert switched is not None and switched.language == "fr"
    assert cases.current("conv-es") == switched
    assert cases.set_language("no-case-here", "es") is None
