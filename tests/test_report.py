"""The queue and outcome report, from an audit trail written by the real desk on a test clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from bot.agents.accounts import AgentAccounts, AgentView
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.db import UTC, Database
from bot.devices.registry import DeviceRegistry
from bot.handoff.desk import SupportDesk
from bot.handoff.report import build_report, duration, render_report
from bot.handoff.support_centre import load_support_centre
from bot.handoff.temporary_password import GeneratedPasswords, SecretHasher
from tests.conftest import WriteCsv
from tests.console_server import CHEAP_HASHER, PASSWORD

T0 = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("bot.cases.store.utcnow", clock)
    monkeypatch.setattr("bot.handoff.desk.utcnow", clock)
    return clock


@dataclass
class Desk:
    store: CaseStore
    desk: SupportDesk
    alice: AgentView
    bob: AgentView

    def queue(self, name: str) -> str:
        return self.store.open_case(
            channel="chat", conversation_id=name, actor="assistant", reason="queued",
            status=CaseStatus.QUEUED,
        ).code


@pytest.fixture
def desk(database: Database, write_devices_csv: WriteCsv) -> Desk:
    DeviceRegistry(database).seed_from_csv(write_devices_csv())
    accounts = AgentAccounts(database, hasher=CHEAP_HASHER)
    return Desk(
        store=CaseStore(database),
        desk=SupportDesk(
            database,
            centre=load_support_centre(),
            provider=GeneratedPasswords(),
            hasher=SecretHasher(CHEAP_HASHER),
        ),
        alice=accounts.create("alice", "Alice", PASSWORD),
        bob=accounts.create("bob", "Bob", PASSWORD),
    )


def test_the_report_measures_claims_releases_and_agents(
    database: Database, desk: Desk, clock: Clock
) -> None:
    clock.at(-10 * 24 * 60)
    old = desk.queue("old")  # waiting for ten days: open, but queued before the period
    clock.at(0)
    released = desk.queue("a")
    clock.at(1)
    rejected = desk.queue("b")
    clock.at(2)
    desk.desk.claim(released, desk.alice)
    clock.at(5)
    desk.desk.release(released, desk.alice, releases_seen=0)
    clock.at(6)
    desk.desk.release(released, desk.alice, releases_seen=1)  # a second one: counted, not timed
    clock.at(7)
    desk.desk.claim(rejected, desk.bob)
    clock.at(8)
    desk.desk.put_back(rejected, desk.bob)
    clock.at(10)
    desk.desk.claim(rejected, desk.alice)
    clock.at(12)
    desk.desk.reject(rejected, desk.alice, "owner_not_verified")
    clock.at(20)
    waiting = desk.queue("c")
    desk.store.open_case(channel="chat", conversation_id="d", actor="assistant", reason="hi")

    report = build_report(database, days=7, now=T0 + timedelta(minutes=30))

    assert report.open_by_status == {
        CaseStatus.COLLECTING: 1,
        CaseStatus.QUEUED: 2,
        CaseStatus.ASSIGNED: 0,
        CaseStatus.RELEASED: 1,
        CaseStatus.GUIDING: 0,
    }
    assert report.open_total == 4
    assert report.oldest_waiting is not None
    assert report.oldest_waiting.code == old
    assert report.oldest_waiting.waiting == timedelta(days=10, minutes=30)

    figures = {case.code: case for case in report.cases}
    assert list(figures) == [released, rejected, waiting]
    assert figures[released].time_to_claim == timedelta(minutes=2)
    assert figures[released].time_to_release == timedelta(minutes=5)
    assert figures[released].handled_by == ("Alice",)
    assert figures[released].status is CaseStatus.RELEASED
    assert figures[rejected].time_to_claim == timedelta(minutes=6)  # Bob's claim was first
    assert figures[rejected].time_to_release is None
    assert figures[rejected].handled_by == ("Bob", "Alice")
    assert figures[waiting].time_to_claim is None and figures[waiting].handled_by == ()

    assert report.median_time_to_claim == timedelta(minutes=4)
    assert report.median_time_to_release == timedelta(minutes=5)
    alice, bob = report.agents["Alice"], report.agents["Bob"]
    assert (alice.claimed, alice.released, alice.rejected, alice.put_back) == (2, 2, 1, 0)
    assert (bob.claimed, bob.released, bob.rejected, bob.put_back) == (1, 0, 0, 1)

    text = render_report(report)
    assert "Open cases: 4" in text
    assert f"Oldest waiting: {old}, 10 d 0 h" in text
    assert "Where they stand now: queued 1, released 1, rejected 1" in text
    assert f"{rejected}  2025-03-03 14:01  6 min     -           Bob, Alice  rejected" in text
    assert "Median time to claim:   4 min" in text
    assert "Median time to release: 5 min" in text
    assert "Alice  2        2         1         0" in text


def test_an_empty_report_says_so(database: Database) -> None:
    text = render_report(build_report(database, days=1))

    assert "last 1 day " in text
    assert "Open cases: 0" in text
    assert "Oldest waiting: no one is waiting" in text
    assert "Cases queued in the period: 0" in text
    assert "Median time to claim:   -" in text
    assert "Per agent: no agent worked a case in the period" in text


def test_the_period_is_at_least_a_day(database: Database) -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        build_report(database, days=0)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h 00 min"),
     (3 * 3600 + 5 * 60, "3 h 05 min"), (26 * 3600, "1 d 2 h")],
)
def test_durations_read_like_people_say_them(seconds: int, shown: str) -> None:
    assert duration(timedelta(seconds=seconds)) == shown
    assert duration(None) == "-"
