# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
# mypy: disable-error-code="import-untyped"
"""One owner for every case transition (bot/cases/lifecycle.py).

The assistant, an agent in the console and the stale-case sweeper all move cases; each move is
written by the lifecycle module, checked against the lifecycle, with the same side effects and
the same kind of event row, on SQLite and PostgreSQL alike. A check over the source keeps every
other module from writing a status or an event itself.
"""

from __future__ import annotations

import ast
import itertools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from bot.agents.accounts import AgentAccounts, AgentView
from bot.cases.conversation import ConversationCases
from bot.cases.errors import IllegalTransition, UnrecordedStatusChange
from bot.cases.models import SupportCase
from bot.cases.stale import SWEEPER, abandon_stale_cases
from bot.cases.status import ALLOWED_TRANSITIONS, CaseStatus
from bot.cases.store import CaseStore
from bot.cases.views import CaseEventView
from bot.db import Database
from bot.devices.registry import DeviceRegistry
from bot.handoff.desk import SupportDesk
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords
from tests.conftest import SAMPLE_DEVICES, WriteCsv

S = CaseStatus
REPO = Path(__file__).resolve().parent.parent
OWNER = REPO / "bot" / "cases" / "lifecycle.py"
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
DEVICE = SAMPLE_DEVICES[0]
TIMEOUT = timedelta(minutes=30)

# --- the source: nothing but the owner writes a status or an event ---

_CASE_MODELS = {"SupportCase", "CaseEvent"}
# A case's status, and who holds it and whether they chat live, which follow the status.
_LIFECYCLE_COLUMNS = {"status", "agent_id", "live_chat"}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def case_writes(source: str) -> list[str]:
    """Where ``source`` writes a case's status (or its holder, or live chat) or a case event
    itself, as 'line: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            # ``self.status`` is an exception's or a view's own field, not a case row's.
            if (
                isinstance(target, ast.Attribute)
                and target.attr in _LIFECYCLE_COLUMNS
                and _name(target.value) != "self"
            ):
                found.append(f"{node.lineno}: assigns .{target.attr}")
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if called in _CASE_MODELS:
            found.append(f"{node.lineno}: builds a {called} row")
        if called in {"update", "insert"} and node.args and _name(node.args[0]) in _CASE_MODELS:
            found.append(f"{node.lineno}: {called}({_name(node.args[0])}) in bulk")
        if (
            called == "setattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in _LIFECYCLE_COLUMNS
        ):
            found.append(f"{node.lineno}: setattr(..., {node.args[1].value!r}, ...)")
    return sorted(found, key=lambda where: int(where.split(":")[0]))


def test_the_source_check_sees_each_way_of_writing_a_case() -> None:
    source = "\n".join(
        [
            "case.status = 'queued'",
            "row.status: str = 'queued'",
            "setattr(case, 'status', 'queued')",
            "session.add(CaseEvent(case=case, to_status='queued'))",
            "session.execute(update(SupportCase).values(status='queued'))",
            "case.live_chat = True",
            "self.status = status",  # an exception's own field: fine
            "row.state = 'waiting'",  # another table's column: fine
        ]
    )
    assert case_writes(source) == [
        "1: assigns .status",
        "2: assigns .status",
        "3: setattr(..., 'status', ...)",
        "4: builds a CaseEvent row",
        "5: update(SupportCase) in bulk",
        "6: assigns .live_chat",
    ]


def test_only_the_lifecycle_module_writes_a_case_status_or_event() -> None:
    assert OWNER.exists()
    modules = sorted((REPO / "bot").rglob("*.py")) + sorted((REPO / "actions").rglob("*.py"))
    writers = {
        str(path.relative_to(REPO)): writes
        for path in modules
        if path != OWNER and "migrations" not in path.parts
        for writes in [case_writes(path.read_text())]
        if writes
    }
    assert writers == {}


def case_table_uses(source: str) -> list[str]:
    """Where ``source`` uses the case models other than to name a type, as 'line: name'."""
    tree = ast.parse(source)
    in_annotations = set()
    for node in ast.walk(tree):
        annotations: list[ast.AST | None] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            annotations = [node.returns] + [argument.annotation for argument in arguments]
        elif isinstance(node, ast.AnnAssign):
            annotations = [node.annotation]
        for annotation in annotations:
            if annotation is not None:
                in_annotations.update(id(inner) for inner in ast.walk(annotation))
    return [
        f"{node.lineno}: {node.id}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id in _CASE_MODELS and id(node) not in in_annotations
    ]


def test_the_case_tables_are_queried_only_in_bot_cases() -> None:
    """Outside bot/cases the case tables are read through the store's methods; a caller with a
    transaction of its own (the desk's release) gets the locked row from the store, and may
    name its type."""
    assert case_table_uses("def f(case: SupportCase) -> SupportCase: ...") == []
    assert case_table_uses("rows = select(SupportCase)") == ["1: SupportCase"]
    cases = REPO / "bot" / "cases"
    modules = sorted((REPO / "bot").rglob("*.py")) + sorted((REPO / "actions").rglob("*.py"))
    users = {
        str(path.relative_to(REPO)): uses
        for path in modules
        if cases not in path.parents and "migrations" not in path.parts
        for uses in [case_table_uses(path.read_text())]
        if uses
    }
    assert users == {}


# --- behaviour: each path through a real database ---


@pytest.fixture
def store(database: Database, write_devices_csv: WriteCsv) -> CaseStore:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    return CaseStore(database)


@pytest.fixture
def desk(database: Database, store: CaseStore) -> SupportDesk:
    return SupportDesk(database, centre=load_support_centre(), provider=GeneratedPasswords())


@pytest.fixture
def accounts(database: Database) -> AgentAccounts:
    return AgentAccounts(database, hasher=CHEAP)


@pytest.fixture
def alice(accounts: AgentAccounts) -> AgentView:
    return accounts.create("alice", "Alice Moreau", "correct horse battery")


def _queued(cases: ConversationCases, conversation: str) -> str:
    queued = cases.queue_for_agent(
        conversation, "chat", device_id=DEVICE["device_id"], reason="the owner asked for a person"
    )
    return queued.case.code


def _idle(database: Database, code: str, minutes: int) -> None:
    with database.session() as session:
        session.execute(
            update(SupportCase)
            .where(SupportCase.code == code)
            .values(updated_at=datetime.now(timezone.utc) - timedelta(minutes=minutes))
        )


def _assert_one_chain(store: CaseStore, code: str) -> list[CaseEventView]:
    """The trail reads as one chain of allowed moves ending at the case's status, and the
    case's ``updated_at`` is when its last move was written."""
    trail = store.events(code)
    case = store.get(code)
    assert trail[0].from_status is None
    for before, after in itertools.pairwise(trail):
        assert after.from_status is before.to_status, (before, after)
        if after.to_status is not after.from_status:
            assert after.to_status in ALLOWED_TRANSITIONS[after.from_status]
        assert after.at >= before.at
        assert after.actor and after.reason
    assert trail[-1].to_status is case.status
    moves = [event for event in trail if event.from_status is not event.to_status]
    assert case.updated_at >= moves[-1].at
    return trail


def test_every_path_writes_one_chain_of_allowed_moves(
    database: Database, store: CaseStore, desk: SupportDesk, alice: AgentView
) -> None:
    cases = ConversationCases(store)
    # The assistant queues, the console claims, puts back, claims again and releases, the
    # assistant guides and completes.
    released = _queued(cases, "chat-released")
    desk.claim(released, alice)
    desk.put_back(released, alice)
    desk.claim(released, alice)
    desk.take_over(released, alice)
    desk.hand_back(released, alice)
    desk.release(released, alice)
    cases.start_guiding("chat-released", "chat")
    cases.complete("chat-released")
    # The console rejects.
    rejected = _queued(cases, "chat-rejected")
    desk.claim(rejected, alice)
    desk.reject(rejected, alice, "owner_not_verified")
    # The sweeper abandons.
    swept = cases.start_gathering("chat-swept", "chat").code
    _idle(database, swept, 45)
    assert [case.code for case in abandon_stale_cases(store, TIMEOUT)] == [swept]

    trails = {code: _assert_one_chain(store, code) for code in (released, rejected, swept)}
    moves = [(e.from_status, e.to_status) for e in trails[released]]
    assert [move for move in moves if move[0] is not move[1]] == [
        (None, S.QUEUED),
        (S.QUEUED, S.ASSIGNED),
        (S.ASSIGNED, S.QUEUED),
        (S.QUEUED, S.ASSIGNED),
        (S.ASSIGNED, S.RELEASED),
        (S.RELEASED, S.GUIDING),
        (S.GUIDING, S.COMPLETED),
    ]
    assert trails[rejected][-1].actor == alice.actor
    assert (trails[swept][-1].actor, trails[swept][-1].to_status) == (SWEEPER, S.ABANDONED)


def test_the_sweeper_the_assistant_and_an_agent_close_a_case_alike(
    database: Database, store: CaseStore, desk: SupportDesk, alice: AgentView
) -> None:
    cases = ConversationCases(store)
    swept = cases.start_gathering("chat-swept", "chat").code
    _idle(database, swept, 45)
    abandon_stale_cases(store, TIMEOUT)
    withdrawn = _queued(cases, "chat-withdrawn")
    cases.withdraw("chat-withdrawn", "the owner cancelled")
    rejected = _queued(cases, "chat-rejected")
    desk.claim(rejected, alice)
    desk.reject(rejected, alice, "owner_not_verified")

    for code in (swept, withdrawn, rejected):
        case = store.get(code)
        last = store.events(code)[-1]
        assert case.is_closed and last.to_status is case.status
        # Written at one instant: the move and its event.
        assert last.at == case.updated_at, code
        assert not case.live_chat


def test_a_case_closed_during_a_live_chat_ends_the_live_chat(
    store: CaseStore, desk: SupportDesk, alice: AgentView
) -> None:
    """The owner cancels while an agent chats live: the closed case is not left 'in live chat'
    (the desk's rejection already cleared it; the assistant's withdrawal did not)."""
    cases = ConversationCases(store)
    code = _queued(cases, "chat-live")
    desk.claim(code, alice)
    assert desk.take_over(code, alice).live_chat
    closed = cases.withdraw("chat-live", "the owner cancelled")
    assert closed is not None and closed.status is S.ABANDONED
    assert not store.get(code).live_chat


def test_back_in_the_queue_has_no_agent_whoever_puts_it_there(
    store: CaseStore, desk: SupportDesk, alice: AgentView
) -> None:
    cases = ConversationCases(store)
    by_agent = _queued(cases, "chat-put-back")
    desk.claim(by_agent, alice)
    desk.take_over(by_agent, alice)
    desk.put_back(by_agent, alice)
    by_owner = _queued(cases, "chat-asks-again")
    desk.claim(by_owner, alice)
    desk.release(by_owner, alice)
    _queued(cases, "chat-asks-again")
    for code in (by_agent, by_owner):
        case = store.get(code)
        assert (case.status, case.agent_id, case.live_chat) == (S.QUEUED, None, False)


def test_an_illegal_move_is_refused_alike_on_every_path_and_writes_nothing(
    store: CaseStore, desk: SupportDesk, alice: AgentView
) -> None:
    cases = ConversationCases(store)
    collecting = cases.start_gathering("chat-collecting", "chat").code
    before = store.events(collecting)
    with pytest.raises(IllegalTransition):
        desk.claim(collecting, alice)  # not queued yet
    with pytest.raises(IllegalTransition):
        store.transition(collecting, S.RELEASED, actor="assistant", reason="skipping the queue")
    assert store.events(collecting) == before
    assert store.get(collecting).agent_id is None


def test_a_status_written_without_its_event_is_refused(
    database: Database, store: CaseStore
) -> None:
    """Beside the source check, at run time: a status that would reach the database without
    its event (a script, a test helper, a module the check cannot read) is refused."""
    code = store.open_case(channel="chat", conversation_id="c", actor="assistant", reason="r").code
    with pytest.raises(UnrecordedStatusChange, match=code), database.session() as session:
        case = session.scalars(select(SupportCase).where(SupportCase.code == code)).one()
        setattr(case, "status", S.QUEUED.value)  # noqa: B010 (what the source check misses)
    assert store.get(code).status is S.COLLECTING
    assert [event.to_status for event in store.events(code)] == [S.COLLECTING]


def test_a_release_and_its_move_are_one_transaction(
    store: CaseStore, desk: SupportDesk, alice: AgentView, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The desk records the release and moves the case in one transaction: when writing the
    move fails, no release is left behind."""
    cases = ConversationCases(store)
    code = _queued(cases, "chat-release")
    desk.claim(code, alice)

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr("bot.cases.lifecycle._append_event", fail)
    with pytest.raises(RuntimeError):
        desk.release(code, alice)
    assert desk.release_count(code) == 0
    assert store.get(code).status is S.ASSIGNED


def test_an_agent_with_the_longest_username_can_work_a_case(
    store: CaseStore, desk: SupportDesk, accounts: AgentAccounts
) -> None:
    """A username may have 64 characters, so an agent's actor ('agent:' + username) 70: the
    trail takes it on PostgreSQL as on SQLite (SQLite never checks a length)."""
    agent = accounts.create("a" * 64, "Long Name", "correct horse battery")
    cases = ConversationCases(store)
    code = _queued(cases, "chat-long-name")
    desk.claim(code, agent)
    desk.reject(code, agent, "owner_not_verified")
    assert [event.actor for event in store.events(code)][-2:] == [agent.actor, agent.actor]
