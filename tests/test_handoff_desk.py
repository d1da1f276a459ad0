# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
# mypy: disable-error-code="import-untyped"
"""The support desk on real databases (SQLite and PostgreSQL): claim, release, reject, put back,
take over, hand back, expiry and the claim race; plus the pieces it is built from (providers,
support hours, verification card, the vault)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from bot.agents.accounts import AgentAccounts, AgentView
from bot.cases.conversation import ConversationCases
from bot.cases.errors import CaseClosed, CaseNotFound, IllegalTransition
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.channels.password_delivery import reveal
from bot.content import ContentError
from bot.db import Database
from bot.devices.registry import DeviceRegistry
from bot.handoff.desk import (
    AlreadyClaimed,
    NotYourCase,
    StaleCase,
    SupportDesk,
    UnknownRejectionReason,
    release_expiry,
)
from bot.handoff.models import PasswordRelease
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import (
    READABLE_ALPHABET,
    GeneratedPasswords,
    ManualPasswords,
    PasswordInputError,
    TemporaryPassword,
    provider_from,
)
from bot.handoff.vault import MemoryVault
from bot.handoff.verification import Verdict, verification_card
from tests.conftest import SAMPLE_DEVICES, WriteCsv

S = CaseStatus
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
DEVICE = SAMPLE_DEVICES[0]
TORONTO = load_support_centre().time_zone


@pytest.fixture
def desk(database: Database, write_devices_csv: WriteCsv) -> SupportDesk:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    return SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())


@pytest.fixture
def accounts(database: Database) -> AgentAccounts:
    return AgentAccounts(database, hasher=CHEAP)


@pytest.fixture
def alice(accounts: AgentAccounts) -> AgentView:
    return accounts.create("alice", "Alice Moreau", "correct horse battery")


@pytest.fixture
def bob(accounts: AgentAccounts) -> AgentView:
    return accounts.create("bob", "Bob Tran", "staple battery horse")


def queued(database: Database, conversation: str = "chat-1", device: bool = True) -> str:
    store = CaseStore(database)
    case = store.open_case(
        channel="chat",
        conversation_id=conversation,
        actor="assistant",
        reason="test",
        status=S.QUEUED,
        device_id=DEVICE["device_id"] if device else None,
    )
    return case.code


def trail(database: Database, code: str) -> list[tuple[str, str | None, str, str]]:
    return [
        (e.actor, e.from_status and e.from_status.value, e.to_status.value, e.reason)
        for e in CaseStore(database).events(code)
    ]


# --- claim -----------------------------------------------------------------------------------


def test_the_queue_is_oldest_first_with_model_and_waiting_time(
    desk: SupportDesk, database: Database
) -> None:
    first, second = queued(database, "a"), queued(database, "b", device=False)
    entries = desk.queue(now=datetime.now(timezone.utc) + timedelta(minutes=5))
    assert [(e.case.code, e.position, e.model) for e in entries] == [
        (first, 1, DEVICE["model"]),
        (second, 2, None),
    ]
    assert all(timedelta(minutes=4) < e.waiting < timedelta(minutes=6) for e in entries)


def test_a_returning_case_is_marked_and_keeps_its_place_and_history(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    cases = ConversationCases(CaseStore(database))
    code = queued(database, "owner")
    desk.claim(code, alice)
    desk.take_over(code, alice)
    desk.release(code, alice)
    cases.start_guiding("owner", "chat")
    newer = queued(database, "newer")

    again = cases.queue_for_agent("owner", "chat", device_id=None, reason="stuck on a step")
    entries = desk.queue(now=datetime.now(timezone.utc) + timedelta(minutes=5))

    assert again.case.code == code
    assert (again.case.agent_id, again.case.live_chat) == (None, False)
    assert [(e.case.code, e.position, e.returning) for e in entries] == [
        (code, 1, True),
        (newer, 2, False),
    ]
    assert entries[0].waiting > timedelta(minutes=4)  # counted from when the case was opened
    earlier = [(e.from_status, e.to_status) for e in entries[0].history]
    assert earlier == [
        (None, S.QUEUED),
        (S.QUEUED, S.ASSIGNED),
        (S.ASSIGNED, S.ASSIGNED),  # took over the chat
        (S.ASSIGNED, S.RELEASED),
        (S.RELEASED, S.GUIDING),
    ]
    assert entries[1].history == ()


def test_put_back_is_not_a_returning_owner(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    desk.put_back(code, alice)
    assert [(e.case.code, e.returning) for e in desk.queue()] == [(code, False)]


def test_a_released_case_cannot_be_put_back_by_the_agent(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    desk.release(code, alice)
    with pytest.raises(IllegalTransition):
        desk.put_back(code, alice)


def test_the_queue_says_since_when_the_owner_is_gone(
    desk: SupportDesk, database: Database
) -> None:
    cases = ConversationCases(CaseStore(database))
    gone, present = queued(database, "gone"), queued(database, "present")
    cases.owner_left("gone")
    cases.owner_left("present")
    cases.owner_returned("present")

    entries = {e.case.code: e for e in desk.queue()}

    gone_since = entries[gone].owner_gone_since
    assert gone_since is not None
    assert abs(gone_since - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert entries[present].owner_gone_since is None
    assert desk.case_file(gone).owner_gone_since == gone_since
    assert desk.case_file(present).owner_gone_since is None


def test_claim_assigns_the_case_and_says_who(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    case = desk.claim(code, alice)
    assert case.status is S.ASSIGNED and case.agent_id == alice.id
    assert trail(database, code)[-1] == ("agent:alice", "queued", "assigned", "claimed the case")
    assert desk.queue() == []
    assert [c.code for c in desk.assigned_to(alice)] == [code]
    assert desk.claim(code, alice) == case  # again: nothing changes


def test_a_case_claimed_by_another_agent_says_by_whom(
    desk: SupportDesk, database: Database, alice: AgentView, bob: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    with pytest.raises(AlreadyClaimed, match=f"Case {code} was just claimed by Alice Moreau"):
        desk.claim(code, bob)
    with pytest.raises(NotYourCase, match="Alice Moreau has it"):
        desk.release(code, bob)


def test_two_agents_claiming_at_once_one_wins_the_other_is_told(
    desk: SupportDesk, database: Database, alice: AgentView, bob: AgentView
) -> None:
    code = queued(database)
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def claim(agent: AgentView) -> None:
        start.wait()
        try:
            desk.claim(code, agent)
            outcomes[agent.username] = "won"
        except AlreadyClaimed as exc:
            outcomes[agent.username] = str(exc)

    threads = [threading.Thread(target=claim, args=(agent,)) for agent in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values())[-1] == "won"
    loser = next(v for v in outcomes.values() if v != "won")
    assert "was just claimed by" in loser
    assert [e[2] for e in trail(database, code)].count("assigned") == 1


def test_put_back_returns_the_case_to_its_place_in_the_queue(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    first, second = queued(database, "a"), queued(database, "b")
    desk.claim(first, alice)
    case = desk.put_back(first, alice)
    assert case.status is S.QUEUED and case.agent_id is None
    assert [e.case.code for e in desk.queue()] == [first, second]


# --- release -----------------------------------------------------------------------------------


def test_release_keeps_only_a_hash_and_expires_at_the_end_of_the_day(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    release = desk.release(code, alice, releases_seen=0)

    assert release.case.status is S.RELEASED
    value = release.password.value
    assert len(value) == 10 and set(value) <= set(READABLE_ALPHABET)
    assert value not in repr(release) and value not in str(release.password)
    local = release.expires_at.astimezone(TORONTO)
    assert (local.hour, local.minute, local.second) == (23, 59, 59)
    assert local.date() == datetime.now(TORONTO).date()
    with database.session() as session:
        row = session.scalars(select(PasswordRelease)).one()
        assert value not in row.secret_hash and row.secret_hash.startswith("$argon2id$")
    assert desk.verify_secret(code, value) and not desk.verify_secret(code, value.lower())
    assert release_expiry(database, release.reference) == release.expires_at
    actor, _, to_status, reason = trail(database, code)[-1]
    assert (actor, to_status) == ("agent:alice", "released")
    assert reason.startswith("released a temporary password (generator), valid until ")


def test_a_second_release_replaces_the_first(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    first = desk.release(code, alice, releases_seen=0)
    second = desk.release(code, alice, releases_seen=1)
    assert second.replaced_earlier and not first.replaced_earlier
    assert desk.verify_secret(code, second.password.value)
    assert not desk.verify_secret(code, first.password.value)
    releases = desk.case_file(code).releases
    assert [r.superseded_at is not None for r in releases] == [True, False]
    assert trail(database, code)[-1][3].endswith("; it replaces the earlier one")


def test_a_double_submitted_release_sends_nothing_twice(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    desk.release(code, alice, releases_seen=0)
    with pytest.raises(StaleCase, match=r"already released .* nothing was sent again"):
        desk.release(code, alice, releases_seen=0)
    assert desk.release_count(code) == 1


def test_manual_release_takes_the_agents_code(
    database: Database, write_devices_csv: WriteCsv, alice: AgentView
) -> None:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    desk = SupportDesk(database, centre=load_support_centre(), provider=ManualPasswords())
    code = queued(database)
    desk.claim(code, alice)
    with pytest.raises(PasswordInputError, match="paste the temporary password"):
        desk.release(code, alice, agent_input="  ")
    assert desk.case_file(code).case.status is S.ASSIGNED  # nothing changed
    release = desk.release(code, alice, agent_input=" 4HTR8QZ1 ")
    assert release.password.value == "4HTR8QZ1"
    assert desk.case_file(code).releases[0].provider == "manual"


def test_release_on_a_rejected_or_vanished_case_is_refused_in_words(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    desk.reject(code, alice, "owner_not_verified")
    with pytest.raises(
        CaseClosed,
        match=f"Case {code} is rejected and closed; releasing a temporary password is not",
    ):
        desk.release(code, alice)
    with pytest.raises(CaseNotFound, match="There is no support case LX-ZZZZZZ"):
        desk.release("LX-ZZZZZZ", alice)


def test_release_needs_a_claim_first(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    with pytest.raises(NotYourCase, match="nobody has claimed it"):
        desk.release(code, alice)


# --- reject, talk, hand back -------------------------------------------------------------------


def test_reject_records_the_reason_and_refuses_unknown_ones(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    with pytest.raises(UnknownRejectionReason, match="choose one of: owner_not_verified"):
        desk.reject(code, alice, "because")
    rejection = desk.reject(code, alice, "photos_needed", note=" no label photo ")
    assert rejection.case.status is S.REJECTED
    assert rejection.reason.key == "photos_needed"
    assert trail(database, code)[-1][3] == (
        "rejected: Photos of the Device Info screen and label needed (no label photo)"
    )


def test_take_over_and_hand_back_are_recorded_and_flag_the_live_chat(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    desk.claim(code, alice)
    assert desk.take_over(code, alice).live_chat is True
    assert desk.note_message(code, alice).live_chat is True
    assert desk.hand_back(code, alice).live_chat is False
    assert [e[3] for e in trail(database, code)[-3:]] == [
        "took over the chat",
        "sent the user a message",
        "handed the chat back to the assistant",
    ]
    assert {e[2] for e in trail(database, code)[-3:]} == {"assigned"}


def test_the_case_file_sets_the_users_words_beside_the_registry(
    desk: SupportDesk, database: Database, alice: AgentView
) -> None:
    code = queued(database)
    CaseStore(database).record_owner_statement(
        code, name="dana WHITFIELD", email="someone@else.com", phone=None, actor="assistant"
    )
    desk.claim(code, alice)
    case_file = desk.case_file(code)
    assert case_file.agent == "Alice Moreau"
    assert case_file.device is not None and case_file.device.owner_name == DEVICE["owner_name"]
    assert [(r.label, r.verdict) for r in case_file.verification] == [
        ("Owner name", Verdict.MATCH),
        ("Email", Verdict.MISMATCH),
        ("Phone", Verdict.NOT_GIVEN),
    ]


# --- the pieces ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "registered", "verdict"),
    [
        ("Whitfield, Dana", "Dana Whitfield", Verdict.MATCH),
        ("Zoë Brontë", "Zoe Bronte", Verdict.MATCH),
        ("Dan Whitfield", "Dana Whitfield", Verdict.MISMATCH),
        ("", "Dana Whitfield", Verdict.NOT_GIVEN),
    ],
)
def test_names_compare_without_case_accents_or_order(
    said: str, registered: str, verdict: Verdict
) -> None:
    from bot.devices.record import DeviceRecord

    device = DeviceRecord("X", "N841", "n_series", "S", registered, "a@b.co", "416 555 0101", True)
    [name, _, phone] = verification_card(device, name=said, email=None, phone="+1 (416) 555-0101")
    assert name.verdict is verdict
    assert phone.verdict is Verdict.MATCH  # the country code and punctuation do not matter


def test_the_generator_is_readable_and_configurable() -> None:
    assert not set("0O1IL2Z5S8B") & set(READABLE_ALPHABET)
    values = {GeneratedPasswords().issue().value for _ in range(200)}
    assert len(values) == 200
    assert len(GeneratedPasswords(length=14).issue().value) == 14
    with pytest.raises(ValueError, match="use at least 40"):
        GeneratedPasswords(length=6)
    with pytest.raises(ValueError, match="at least 10 different characters"):
        GeneratedPasswords(alphabet="ABCDE")


@pytest.mark.parametrize(
    ("environ", "kind", "problem"),
    [
        ({}, "generator", None),
        ({"TEMP_PASSWORD_PROVIDER": "manual"}, "manual", None),
        ({"TEMP_PASSWORD_PROVIDER": "magic"}, None, "must be 'generator' or 'manual'"),
        ({"TEMP_PASSWORD_LENGTH": "ten"}, None, "must be a whole number"),
        ({"TEMP_PASSWORD_LENGTH": "4"}, None, "TEMP_PASSWORD_LENGTH / TEMP_PASSWORD_ALPHABET"),
    ],
)
def test_the_provider_comes_from_the_environment(
    environ: dict[str, str], kind: str | None, problem: str | None
) -> None:
    if problem:
        with pytest.raises(ValueError, match=problem):
            provider_from(environ)
    else:
        assert provider_from(environ).name == kind


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("4HT", "4 to 64 characters"),
        ("4HTR 8QZ1", "spaces or invisible"),
        ("4HTR\u200b8QZ1", "spaces or invisible"),
    ],
)
def test_manual_codes_are_checked(code: str, problem: str) -> None:
    with pytest.raises(PasswordInputError, match=problem):
        ManualPasswords().issue(code)


def test_support_hours_and_the_next_opening() -> None:
    centre = load_support_centre()
    wednesday_10am = datetime(2026, 11, 25, 10, 0, tzinfo=TORONTO)
    saturday_6pm = datetime(2026, 11, 28, 18, 0, tzinfo=TORONTO)
    assert centre.is_open(wednesday_10am)
    assert not centre.is_open(saturday_6pm)
    # Sunday is closed: the next opening after Saturday evening is Monday morning.
    assert centre.next_opening(saturday_6pm) == datetime(2026, 11, 30, 8, 0, tzinfo=TORONTO)
    assert centre.expected_wait_minutes(3) == 12
    end = centre.end_of_day(datetime(2026, 11, 26, 4, 30, tzinfo=timezone.utc))
    assert end.isoformat() == "2026-11-25T23:59:59.999999-05:00"


def test_a_broken_support_file_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "support.yml"
    path.write_text(
        "time_zone: Mars/Olympus\nphone: x\nminutes_per_case: 4\nhours: {}\n"
        "rejection_reasons: {}\nroutes: {}\n"
    )
    with pytest.raises(ContentError, match="unknown time zone 'Mars/Olympus'"):
        load_support_centre.__wrapped__(path)


def test_the_vault_gives_a_password_once_and_only_to_its_conversation() -> None:
    clock = [0.0]
    vault = MemoryVault(clock=lambda: clock[0], hold_for=60)
    expires = datetime.now(TORONTO) + timedelta(hours=8)  # (a password past it is dropped)
    vault.deposit("ref-1", "chat-1", TemporaryPassword("K7PX9Q2M"), expires)
    assert vault.take("ref-1", "chat-2") is None  # another conversation
    deposit = vault.take("ref-1", "chat-1")
    assert deposit is not None and deposit.password.value == "K7PX9Q2M"
    assert vault.take("ref-1", "chat-1") is None  # once
    vault.deposit("ref-2", "chat-1", TemporaryPassword("X"), expires)
    clock[0] = 61
    assert vault.take("ref-2", "chat-1") is None and len(vault) == 0  # not collected in time


def test_reveal_swaps_the_reference_for_the_value_once() -> None:
    vault = MemoryVault()
    expires = datetime.now(TORONTO) + timedelta(hours=8)  # (a password past it is dropped)
    vault.deposit("ref-1", "chat-1", TemporaryPassword("K7PX9Q2M"), expires)
    message = {
        "text": "Here it is",
        "custom": {
            "data": {"type": "temporary_password", "temporary_password": {"reference": "ref-1"}}
        },
    }
    shown = reveal(message, "chat-1", vault)
    assert shown["custom"]["data"]["temporary_password"] == {
        "value": "K7PX9Q2M",
        "expires_at": expires.isoformat(),
        "reference": "ref-1",
    }
    assert message["custom"]["data"]["temporary_password"] == {"reference": "ref-1"}
    again = reveal(message, "chat-1", vault)
    assert again["custom"]["data"]["temporary_password"] == {"unavailable": True}
    plain = {"text": "hello"}
    assert reveal(plain, "chat-1", vault) is plain
