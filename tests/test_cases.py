# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
# mypy: disable-error-code="import-untyped"
"""Support cases on real databases: lifecycle, audit trail, codes, queue, concurrent writers."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from bot.cases.codes import (
    CASE_CODE_ALPHABET,
    CASE_CODE_RE,
    is_case_code,
    new_case_code,
    normalise_case_code,
)
from bot.cases.errors import (
    AuditTrailIsAppendOnly,
    CaseClosed,
    CaseNotFound,
    IllegalTransition,
    UnknownDevice,
)
from bot.cases.lifecycle import MAX_CODE_ATTEMPTS
from bot.cases.models import CaseEvent, SupportCase
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseEventView, CaseView
from bot.db import UTC, Database
from bot.devices.registry import DeviceRegistry
from tests.conftest import SAMPLE_DEVICES, WriteCsv

S = CaseStatus
DEVICE_ID = SAMPLE_DEVICES[0]["device_id"]
OTHER_DEVICE_ID = SAMPLE_DEVICES[1]["device_id"]

# The lifecycle, written out independently of bot.cases.status so that a change to the table
# there has to be made here too, on purpose.
LEGAL = {
    (S.COLLECTING, S.QUEUED),
    (S.COLLECTING, S.ABANDONED),
    (S.QUEUED, S.ASSIGNED),
    (S.QUEUED, S.ABANDONED),
    (S.ASSIGNED, S.RELEASED),
    (S.ASSIGNED, S.REJECTED),
    (S.ASSIGNED, S.QUEUED),
    (S.ASSIGNED, S.ABANDONED),
    (S.ASSIGNED, S.GUIDING),  # the agent helped with a step and handed back to the steps
    (S.RELEASED, S.RELEASED),
    (S.RELEASED, S.GUIDING),
    (S.RELEASED, S.COMPLETED),
    (S.RELEASED, S.ABANDONED),
    (S.RELEASED, S.QUEUED),  # the owner asks for a person again: same case, same place
    (S.GUIDING, S.COMPLETED),
    (S.GUIDING, S.ABANDONED),
    (S.GUIDING, S.QUEUED),
    (S.REJECTED, S.QUEUED),  # reopened: the agent sees the rejection in its history
}
ALL_PAIRS = list(itertools.product(CaseStatus, CaseStatus))

# How to bring a freshly opened (collecting) case to each status.
PATH_TO = {
    S.COLLECTING: [],
    S.QUEUED: [S.QUEUED],
    S.ASSIGNED: [S.QUEUED, S.ASSIGNED],
    S.RELEASED: [S.QUEUED, S.ASSIGNED, S.RELEASED],
    S.REJECTED: [S.QUEUED, S.ASSIGNED, S.REJECTED],
    S.ABANDONED: [S.ABANDONED],
    S.GUIDING: [S.QUEUED, S.ASSIGNED, S.RELEASED, S.GUIDING],
    S.COMPLETED: [S.QUEUED, S.ASSIGNED, S.RELEASED, S.COMPLETED],
}


@pytest.fixture
def store(database: Database) -> CaseStore:
    return CaseStore(database)


@pytest.fixture
def registered_devices(database: Database, write_devices_csv: WriteCsv) -> None:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())


def _open(store: CaseStore, conversation_id: str = "conv-1", **options: object) -> CaseView:
    return store.open_case(
        channel="chat",
        conversation_id=conversation_id,
        actor="assistant",
        reason="the owner asked to reset a recorder password",
        **options,  # type: ignore[arg-type]
    )


def _case_in(store: CaseStore, status: CaseStatus, conversation_id: str = "conv-1") -> CaseView:
    case = _open(store, conversation_id)
    for step in PATH_TO[status]:
        case = store.transition(case.code, step, actor="system", reason=f"test: to {step}")
    assert case.status is status
    return case


# --- opening ------------------------------------------------------------------------------


def test_open_case_returns_a_view_and_writes_the_first_event(store: CaseStore) -> None:
    case = store.open_case(
        channel="phone",
        conversation_id="CA1234",
        actor="assistant",
        reason="caller asked for a password reset",
        caller_phone="+14165550101",
    )

    assert type(case) is CaseView
    assert is_case_code(case.code)
    assert (case.channel, case.conversation_id, case.caller_phone) == (
        "phone",
        "CA1234",
        "+14165550101",
    )
    assert case.status is S.COLLECTING
    assert case.device_id is None
    assert case.created_at.tzinfo is not None
    assert case.created_at.utcoffset() == timedelta(0)
    assert case.updated_at == case.created_at
    assert store.events(case.code) == [
        CaseEventView(
            case_code=case.code,
            at=case.created_at,
            actor="assistant",
            from_status=None,
            to_status=S.COLLECTING,
            reason="caller asked for a password reset",
        )
    ]
    assert store.get(case.code) == case


@pytest.mark.usefixtures("registered_devices")
def test_open_case_with_a_registered_device(store: CaseStore) -> None:
    case = _open(store, device_id=DEVICE_ID, status=S.QUEUED)

    assert (case.device_id, case.status) == (DEVICE_ID, S.QUEUED)
    assert store.get(case.code).device_id == DEVICE_ID


@pytest.mark.usefixtures("registered_devices")
def test_open_case_with_an_unregistered_device_is_refused(
    store: CaseStore, database: Database
) -> None:
    with pytest.raises(UnknownDevice, match="Device ID ND0000000000AAA is not in the device"):
        _open(store, device_id="ND0000000000AAA")

    with database.session() as session:
        assert session.scalars(select(SupportCase)).all() == []


@pytest.mark.parametrize("status", [S.COLLECTING, S.QUEUED, S.GUIDING])
def test_a_case_can_open_where_a_conversation_starts(store: CaseStore, status: S) -> None:
    case = _open(store, status=status)

    assert case.status is status
    [opening] = store.events(case.code)
    assert (opening.from_status, opening.to_status) == (None, status)


@pytest.mark.parametrize(
    "status", [s for s in CaseStatus if s not in (S.COLLECTING, S.QUEUED, S.GUIDING)]
)
def test_a_case_cannot_open_half_way_through(store: CaseStore, status: S) -> None:
    with pytest.raises(ValueError, match=f"a case cannot be opened as {status.value}"):
        _open(store, status=status)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reason", "  ", "reason must not be empty"),
        ("actor", "", "actor must not be empty"),
        ("channel", "", "channel must not be empty"),
        ("conversation_id", " ", "conversation_id must not be empty"),
        ("actor", "agent:" + "x" * 75, "longer than 80 characters"),
    ],
)
def test_open_case_refuses_empty_or_oversized_values(
    store: CaseStore, field: str, value: str, message: str
) -> None:
    values = {
        "channel": "chat",
        "conversation_id": "conv-1",
        "actor": "assistant",
        "reason": "asked for a reset",
        field: value,
    }
    with pytest.raises(ValueError, match=message):
        store.open_case(
            channel=values["channel"],
            conversation_id=values["conversation_id"],
            actor=values["actor"],
            reason=values["reason"],
        )


# --- transitions --------------------------------------------------------------------------


def test_the_expected_table_covers_the_brief() -> None:
    closed = {S.REJECTED, S.ABANDONED, S.COMPLETED}
    assert {status for status in CaseStatus if status.is_closed} == closed
    # A closed case never moves again, except a rejected one reopened into the queue.
    assert {pair for pair in LEGAL if pair[0] in closed} == {(S.REJECTED, S.QUEUED)}
    assert len(ALL_PAIRS) == 64


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [pair for pair in ALL_PAIRS if pair in LEGAL],
    ids=[f"{a.value}->{b.value}" for a, b in ALL_PAIRS if (a, b) in LEGAL],
)
def test_legal_transition_changes_status_and_records_who_and_why(
    store: CaseStore, from_status: S, to_status: S
) -> None:
    case = _case_in(store, from_status)
    events_before = store.events(case.code)

    moved = store.transition(case.code, to_status, actor="agent:alice", reason="because")

    assert moved.status is to_status
    assert moved.updated_at >= case.updated_at
    assert store.get(case.code) == moved
    events = store.events(case.code)
    assert events[:-1] == events_before
    last = events[-1]
    assert (last.from_status, last.to_status, last.actor, last.reason) == (
        from_status,
        to_status,
        "agent:alice",
        "because",
    )
    assert last.at == moved.updated_at


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [pair for pair in ALL_PAIRS if pair not in LEGAL],
    ids=[f"{a.value}->{b.value}" for a, b in ALL_PAIRS if (a, b) not in LEGAL],
)
def test_illegal_transition_raises_and_changes_nothing(
    store: CaseStore, from_status: S, to_status: S
) -> None:
    case = _case_in(store, from_status)
    events_before = store.events(case.code)

    with pytest.raises(IllegalTransition) as raised:
        store.transition(case.code, to_status, actor="agent:alice", reason="because")

    assert str(raised.value).startswith(
        f"Case {case.code} is {from_status.value}; it cannot move to {to_status.value} ("
    )
    assert (raised.value.from_status, raised.value.to_status) == (
        from_status.value,
        to_status.value,
    )
    assert store.get(case.code) == case
    assert store.events(case.code) == events_before


def test_illegal_transition_messages_say_why(store: CaseStore) -> None:
    completed = _case_in(store, S.COMPLETED)
    queued = _case_in(store, S.QUEUED, "conv-2")
    assigned = _case_in(store, S.ASSIGNED, "conv-3")

    with pytest.raises(IllegalTransition) as closed_error:
        store.transition(completed.code, S.QUEUED, actor="agent:bob", reason="retry")
    with pytest.raises(IllegalTransition) as skip_error:
        store.transition(queued.code, S.RELEASED, actor="agent:bob", reason="release")
    with pytest.raises(IllegalTransition) as back_error:
        store.transition(assigned.code, S.COLLECTING, actor="agent:bob", reason="more info")

    assert str(closed_error.value) == (
        f"Case {completed.code} is completed; it cannot move to queued "
        "(a completed case is closed)"
    )
    assert str(skip_error.value) == (
        f"Case {queued.code} is queued; it cannot move to released "
        "(a queued case can only move to assigned or abandoned)"
    )
    assert str(back_error.value) == (
        f"Case {assigned.code} is assigned; it cannot move to collecting "
        "(an assigned case can only move to queued, released, rejected, abandoned or guiding)"
    )


def test_a_second_release_is_recorded_and_keeps_the_case_released(store: CaseStore) -> None:
    case = _case_in(store, S.RELEASED)

    again = store.transition(
        case.code, S.RELEASED, actor="agent:alice", reason="first password expired"
    )

    assert again.status is S.RELEASED
    last = store.events(case.code)[-1]
    assert (last.from_status, last.to_status, last.reason) == (
        S.RELEASED,
        S.RELEASED,
        "first password expired",
    )


def test_transition_refuses_an_empty_reason(store: CaseStore) -> None:
    case = _open(store)

    with pytest.raises(ValueError, match="the audit trail records why"):
        store.transition(case.code, S.QUEUED, actor="assistant", reason=" ")
    assert store.get(case.code).status is S.COLLECTING


def test_unknown_case_codes(store: CaseStore) -> None:
    with pytest.raises(CaseNotFound, match=r"^There is no support case LX-ZZZZZZ$"):
        store.get("LX-ZZZZZZ")
    with pytest.raises(CaseNotFound):
        store.transition("LX-ZZZZZZ", S.QUEUED, actor="assistant", reason="x")
    with pytest.raises(CaseNotFound):
        store.events("LX-ZZZZZZ")
    with pytest.raises(CaseNotFound):
        store.attach_device("LX-ZZZZZZ", DEVICE_ID, actor="assistant")


def test_codes_are_found_however_people_type_them(store: CaseStore) -> None:
    case = _open(store)
    body = case.code.removeprefix("LX-")

    for typed in (case.code.lower(), f" lx {body[:3]} {body[3:]} ", body, f"LX{body}"):
        assert store.get(typed) == case


# --- devices ------------------------------------------------------------------------------


@pytest.mark.usefixtures("registered_devices")
def test_attach_device_records_an_event_and_keeps_the_status(store: CaseStore) -> None:
    case = _case_in(store, S.COLLECTING)

    attached = store.attach_device(case.code, DEVICE_ID, actor="assistant")
    same_again = store.attach_device(case.code, DEVICE_ID, actor="assistant")
    changed = store.attach_device(case.code, OTHER_DEVICE_ID, actor="agent:alice")

    assert attached.device_id == DEVICE_ID
    assert same_again == attached
    assert changed.device_id == OTHER_DEVICE_ID
    assert changed.status is S.COLLECTING
    events = store.events(case.code)
    assert [(e.from_status, e.to_status, e.actor, e.reason) for e in events[1:]] == [
        (S.COLLECTING, S.COLLECTING, "assistant", f"Device ID {DEVICE_ID} attached"),
        (
            S.COLLECTING,
            S.COLLECTING,
            "agent:alice",
            f"Device ID changed from {DEVICE_ID} to {OTHER_DEVICE_ID}",
        ),
    ]


@pytest.mark.usefixtures("registered_devices")
def test_attach_device_refuses_an_unregistered_device(store: CaseStore) -> None:
    case = _open(store)

    with pytest.raises(UnknownDevice):
        store.attach_device(case.code, "ND0000000000AAA", actor="assistant")

    assert store.get(case.code).device_id is None
    assert len(store.events(case.code)) == 1


@pytest.mark.usefixtures("registered_devices")
@pytest.mark.parametrize("status", [S.COMPLETED, S.REJECTED, S.ABANDONED])
def test_attach_device_refuses_a_closed_case(store: CaseStore, status: S) -> None:
    case = _case_in(store, status)

    with pytest.raises(CaseClosed, match=f"Case {case.code} is {status.value} and closed"):
        store.attach_device(case.code, DEVICE_ID, actor="assistant")


@pytest.mark.usefixtures("registered_devices")
def test_the_database_refuses_a_case_for_an_unregistered_device(database: Database) -> None:
    # The foreign key itself, past the store's own check (SQLite needs it switched on).
    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(
            text(
                "INSERT INTO support_cases (code, channel, conversation_id, device_id, status, "
                "created_at, updated_at) VALUES ('LX-AAAAAA', 'chat', 'c', 'ND0000000000AAA', "
                "'collecting', :now, :now)"
            ),
            {"now": datetime(2026, 1, 1)},
        )


def test_the_database_refuses_an_unknown_status(database: Database, store: CaseStore) -> None:
    case = _open(store)

    with pytest.raises(IntegrityError), database.session() as session:
        session.execute(
            text("UPDATE support_cases SET status = 'lost' WHERE code = :code"),
            {"code": case.code},
        )


# --- audit trail --------------------------------------------------------------------------


def test_the_audit_trail_tells_the_whole_story_in_order(store: CaseStore) -> None:
    case = _open(store)
    steps = [
        (S.QUEUED, "assistant", "owner asked for a person"),
        (S.ASSIGNED, "agent:alice", "picked up"),
        (S.QUEUED, "agent:alice", "end of shift"),
        (S.ASSIGNED, "agent:bob", "picked up"),
        (S.RELEASED, "agent:bob", "verified photos; released"),
        (S.RELEASED, "agent:bob", "password expired; released again"),
        (S.GUIDING, "assistant", "guiding the reset steps"),
        (S.COMPLETED, "assistant", "owner finished every step"),
    ]
    for to_status, actor, reason in steps:
        store.transition(case.code, to_status, actor=actor, reason=reason)

    events = store.events(case.code)

    assert [(e.from_status, e.to_status, e.actor, e.reason) for e in events] == [
        (None, S.COLLECTING, "assistant", "the owner asked to reset a recorder password"),
        (S.COLLECTING, S.QUEUED, "assistant", "owner asked for a person"),
        (S.QUEUED, S.ASSIGNED, "agent:alice", "picked up"),
        (S.ASSIGNED, S.QUEUED, "agent:alice", "end of shift"),
        (S.QUEUED, S.ASSIGNED, "agent:bob", "picked up"),
        (S.ASSIGNED, S.RELEASED, "agent:bob", "verified photos; released"),
        (S.RELEASED, S.RELEASED, "agent:bob", "password expired; released again"),
        (S.RELEASED, S.GUIDING, "assistant", "guiding the reset steps"),
        (S.GUIDING, S.COMPLETED, "assistant", "owner finished every step"),
    ]
    times = [e.at for e in events]
    assert times == sorted(times)
    assert all(t.utcoffset() == timedelta(0) for t in times)
    assert all(e.case_code == case.code for e in events)
    assert store.get(case.code).updated_at == times[-1]


def test_events_belong_to_their_own_case(store: CaseStore) -> None:
    first = _open(store, "conv-1")
    second = _open(store, "conv-2")
    store.transition(second.code, S.QUEUED, actor="assistant", reason="second only")

    assert len(store.events(first.code)) == 1
    assert [e.to_status for e in store.events(second.code)] == [S.COLLECTING, S.QUEUED]


@pytest.fixture
def case_with_events(store: CaseStore) -> CaseView:
    case = _case_in(store, S.ASSIGNED)
    return case


def test_a_recorded_event_cannot_be_changed(
    database: Database, store: CaseStore, case_with_events: CaseView
) -> None:
    before = store.events(case_with_events.code)

    with pytest.raises(AuditTrailIsAppendOnly), database.session() as session:
        event = session.scalars(select(CaseEvent).order_by(CaseEvent.id)).first()
        event.reason = "nothing happened here"
        session.flush()

    assert store.events(case_with_events.code) == before


def test_a_recorded_event_cannot_be_deleted(
    database: Database, store: CaseStore, case_with_events: CaseView
) -> None:
    before = store.events(case_with_events.code)

    with pytest.raises(AuditTrailIsAppendOnly), database.session() as session:
        session.delete(session.scalars(select(CaseEvent)).first())
        session.flush()

    assert store.events(case_with_events.code) == before


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param(update(CaseEvent).values(actor="nobody"), id="bulk-update"),
        pytest.param(delete(CaseEvent), id="bulk-delete"),
    ],
)
def test_bulk_changes_to_the_audit_trail_are_refused(
    database: Database, store: CaseStore, case_with_events: CaseView, statement: object
) -> None:
    before = store.events(case_with_events.code)

    with pytest.raises(AuditTrailIsAppendOnly), database.session() as session:
        session.execute(statement)

    assert store.events(case_with_events.code) == before


def test_a_case_with_an_audit_trail_cannot_be_deleted(
    database: Database, store: CaseStore, case_with_events: CaseView
) -> None:
    with pytest.raises(IntegrityError), database.session() as session:
        session.delete(
            session.scalars(
                select(SupportCase).where(SupportCase.code == case_with_events.code)
            ).one()
        )
        session.flush()

    assert store.get(case_with_events.code) == case_with_events


# --- codes --------------------------------------------------------------------------------


def test_generated_codes_use_only_unambiguous_characters() -> None:
    codes = {new_case_code() for _ in range(5000)}

    assert all(CASE_CODE_RE.match(code) for code in codes)
    used = set("".join(code.removeprefix("LX-") for code in codes))
    assert used == set(CASE_CODE_ALPHABET)  # 5000 codes use every character...
    assert not used & set("0O1IL5S8B")  # ...and none of the look-alikes
    assert len(codes) > 4990  # random, not sequential or stuck


@given(
    st.text(alphabet=CASE_CODE_ALPHABET, min_size=6, max_size=6),
    st.sampled_from(["", " ", "-"]),
)
def test_normalising_a_typed_code_gives_the_stored_code(body: str, separator: str) -> None:
    stored = f"LX-{body}"
    typed = f"lx{separator}{body[:3]}{separator}{body[3:]}".lower()

    assert normalise_case_code(typed) == stored
    assert normalise_case_code(body) == stored
    assert normalise_case_code(stored) == stored


def test_opened_cases_get_distinct_valid_codes(store: CaseStore) -> None:
    codes = [_open(store, f"conv-{i}").code for i in range(30)]

    assert len(set(codes)) == 30
    assert all(re.fullmatch(r"LX-[234679ACDEFGHJKMNPQRTUVWXYZ]{6}", code) for code in codes)


def _codes(*codes: str) -> Iterator[str]:
    yield from codes


def test_a_code_collision_is_retried_with_a_new_code(database: Database) -> None:
    codes = _codes("LX-AAAAAA", "LX-AAAAAA", "LX-AAAAAA", "LX-CCCCCC")
    store = CaseStore(database, new_code=lambda: next(codes))

    first = _open(store, "conv-1")
    second = _open(store, "conv-2")

    assert (first.code, second.code) == ("LX-AAAAAA", "LX-CCCCCC")
    assert store.get("LX-AAAAAA").conversation_id == "conv-1"
    assert [e.to_status for e in store.events("LX-CCCCCC")] == [S.COLLECTING]


def test_a_generator_that_only_collides_gives_up_cleanly(database: Database) -> None:
    store = CaseStore(database, new_code=lambda: "LX-AAAAAA")
    _open(store, "conv-1")

    with pytest.raises(RuntimeError, match=f"no unused case code after {MAX_CODE_ATTEMPTS}"):
        _open(store, "conv-2")

    assert store.latest_for_conversation("conv-2") is None
    with database.session() as session:
        assert len(session.scalars(select(CaseEvent)).all()) == 1


# --- queue and conversations ----------------------------------------------------------------


def test_the_queue_lists_waiting_cases_oldest_first(store: CaseStore) -> None:
    oldest = _open(store, "conv-a")  # opened first, queued last
    direct = _open(store, "conv-b", status=S.QUEUED)
    picked = _case_in(store, S.ASSIGNED, "conv-c")
    newest = _open(store, "conv-d", status=S.QUEUED)
    _open(store, "conv-e")  # still collecting
    store.transition(oldest.code, S.QUEUED, actor="assistant", reason="asked for a person")

    assert [case.code for case in store.queue()] == [oldest.code, direct.code, newest.code]
    assert all(case.status is S.QUEUED for case in store.queue())

    store.transition(picked.code, S.QUEUED, actor="agent:alice", reason="back to the queue")
    store.transition(direct.code, S.ASSIGNED, actor="agent:bob", reason="picked up")

    assert [case.code for case in store.queue()] == [oldest.code, picked.code, newest.code]


def test_queue_position_is_the_place_in_the_queue(store: CaseStore, database: Database) -> None:
    cases = [_open(store, f"conv-{n}", status=S.QUEUED) for n in range(4)]
    collecting = _open(store, "conv-collecting")
    # Opened in the same instant (a coarse clock): the queue, and the position, go by id.
    with database.session() as session:
        same = session.scalars(select(SupportCase).where(SupportCase.code == cases[0].code)).one()
        for later in cases[1:3]:
            row = session.scalars(
                select(SupportCase).where(SupportCase.code == later.code)
            ).one()
            row.created_at = same.created_at
    store.transition(cases[1].code, S.ASSIGNED, actor="agent:bob", reason="picked up")

    queue = [case.code for case in store.queue()]
    assert queue == [cases[0].code, cases[2].code, cases[3].code]
    for case in cases:
        expected = queue.index(case.code) + 1 if case.code in queue else 0
        assert store.queue_position(case.code) == expected
    assert store.queue_position(collecting.code) == 0
    with pytest.raises(CaseNotFound):
        store.queue_position("LX-ZZZZZZ")


def test_an_empty_queue(store: CaseStore) -> None:
    _open(store)
    assert store.queue() == []


def test_latest_for_conversation(store: CaseStore) -> None:
    first = _open(store, "conv-1")
    store.transition(first.code, S.ABANDONED, actor="assistant", reason="owner left")
    _open(store, "conv-2")
    second = _open(store, "conv-1", status=S.QUEUED)

    latest = store.latest_for_conversation("conv-1")

    assert latest == second
    assert store.latest_for_conversation("conv-2") is not None
    assert store.latest_for_conversation("conv-unknown") is None


# --- concurrent writers ---------------------------------------------------------------------


AGENTS = tuple(f"agent:{name}" for name in ("alice", "bob", "carol", "dave"))


def _race_to_claim(database: Database, code: str) -> dict[str, object]:
    """Every agent tries to claim case ``code`` at the same moment; each one's outcome."""
    start = threading.Barrier(len(AGENTS))
    outcomes: dict[str, object] = {}

    def claim(agent: str) -> None:
        # Each thread has its own store (and so its own sessions), like separate requests.
        own_store = CaseStore(database)
        start.wait()
        try:
            outcomes[agent] = own_store.transition(
                code, S.ASSIGNED, actor=agent, reason="picked up"
            )
        except Exception as exc:
            outcomes[agent] = exc

    threads = [threading.Thread(target=claim, args=(agent,)) for agent in AGENTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


@pytest.mark.parametrize("race", range(5))  # one race can miss the overlap; five rarely do
def test_agents_claiming_one_case_at_once_exactly_one_wins(
    database: Database, store: CaseStore, race: int
) -> None:
    case = _open(store, f"conv-{race}", status=S.QUEUED)

    outcomes = _race_to_claim(database, case.code)

    winners = [agent for agent, outcome in outcomes.items() if isinstance(outcome, CaseView)]
    losers = [outcome for outcome in outcomes.values() if not isinstance(outcome, CaseView)]
    assert len(winners) == 1, outcomes
    assert len(losers) == len(AGENTS) - 1
    assert all(isinstance(loser, IllegalTransition) for loser in losers), losers
    assert all(
        str(loser).startswith(f"Case {case.code} is assigned; it cannot move to assigned")
        for loser in losers
    )
    claims = [e for e in store.events(case.code) if e.to_status is S.ASSIGNED]
    assert [e.actor for e in claims] == winners


def test_timestamps_are_utc(store: CaseStore) -> None:
    before = datetime.now(UTC)
    case = _open(store)
    after = datetime.now(UTC)

    stored = store.get(case.code)
    assert before <= stored.created_at <= after
    assert stored.created_at.tzinfo is not None


def test_a_callers_number_is_recorded_once_with_an_event(store: CaseStore) -> None:
    case = _open(store)
    updated = store.set_caller_phone(case.code, "+14165550101", actor="assistant")
    assert updated.caller_phone == "+14165550101"
    again = store.set_caller_phone(case.code, "+14165550101", actor="assistant")
    assert again == updated
    reasons = [event.reason for event in store.events(case.code)]
    assert reasons.count("the caller's number was recorded") == 1
    store.transition(case.code, S.ABANDONED, actor="assistant", reason="hung up")
    with pytest.raises(CaseClosed, match="recording the caller's number is not possible"):
        store.set_caller_phone(case.code, "+14165550102", actor="assistant")


# --- the conversation's language ----------------------------------------------------------


def test_a_case_is_in_english_unless_opened_in_another_language(store: CaseStore) -> None:
    assert _open(store).language == "en"
    spanish = _open(store, "conv-2", language="es")
    assert spanish.language == "es"
    assert store.get(spanish.code).language == "es"
    with pytest.raises(ValueError, match="'de' is not a language the assistant speaks"):
        _open(store, "conv-3", language="de")


def test_the_language_of_an_open_case_changes_with_an_event(store: CaseStore) -> None:
    case = _open(store)
    french = store.set_language(case.code, "fr", actor="assistant")
    assert french.language == "fr" and french.status is case.status
    assert store.get(case.code).language == "fr"
    assert store.set_language(case.code, "fr", actor="assistant") == french  # no change
    reasons = [event.reason for event in store.events(case.code)]
    assert reasons.count("the conversation's language changed from English to French") == 1
    with pytest.raises(ValueError, match="'es-MX' is not a language"):
        store.set_language(case.code, "es-MX", actor="assistant")
    store.transition(case.code, S.ABANDONED, actor="assistant", reason="gone")
    with pytest.raises(CaseClosed, match="changing its language is not possible"):
        store.set_language(case.code, "es", actor="assistant")
    assert store.get(case.code).language == "fr"
