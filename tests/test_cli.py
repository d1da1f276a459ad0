"""``python -m bot.cli``: one line per command, one line on stderr and a non-zero exit on errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.agents.accounts import AgentAccounts
from bot.cases.status import CaseStatus
from bot.cases.store import CaseStore
from bot.cli import main
from bot.content import REPO_ROOT
from bot.db import Database, display_url, head_revision, migrate
from tests.conftest import SAMPLE_DEVICES, WriteCsv


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    exit_code = main(list(argv))
    captured = capsys.readouterr()
    return exit_code, captured.out, captured.err


def test_migrate_says_what_it_did(
    empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = display_url(empty_database_url)

    first = _run(capsys, "--database-url", empty_database_url, "migrate")
    again = _run(capsys, "--database-url", empty_database_url, "migrate")

    head = head_revision()
    assert first == (
        0,
        f"Database at {shown}: schema upgraded from an empty database to revision {head}\n",
        "",
    )
    assert again == (0, f"Database at {shown}: schema up to date (revision {head})\n", "")


def test_migrate_uses_database_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("DATABASE_URL", url)

    exit_code, out, _ = _run(capsys, "migrate")

    assert exit_code == 0
    assert out.startswith(f"Database at {url}: schema upgraded")


def test_seed_reports_added_and_updated_devices(
    empty_database_url: str, write_devices_csv: WriteCsv, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(empty_database_url)
    csv_path = str(write_devices_csv())
    seed = ("--database-url", empty_database_url, "seed", "--csv")

    assert _run(capsys, *seed, csv_path) == (
        0,
        "Registry: 3 devices (3 added, 0 updated)\n",
        "",
    )
    assert _run(capsys, *seed, csv_path) == (0, "Registry: 3 devices (0 added, 0 updated)\n", "")
    edited = [{**SAMPLE_DEVICES[0], "owner_phone": "+1 416 555 0199"}]
    edited_path = str(write_devices_csv(edited, name="edited.csv"))
    assert _run(capsys, *seed, edited_path) == (
        0,
        "Registry: 3 devices (0 added, 1 updated)\n",
        "",
    )


def test_seed_with_a_missing_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'lorex.db'}"
    migrate(url)
    missing = tmp_path / "nowhere.csv"

    assert _run(capsys, "--database-url", url, "seed", "--csv", str(missing)) == (
        2,
        "",
        f"python -m bot.cli: error: {missing}: no such file\n",
    )


def test_seed_with_a_bad_row(
    tmp_path: Path, write_devices_csv: WriteCsv, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'lorex.db'}"
    migrate(url)
    csv_path = write_devices_csv([{**SAMPLE_DEVICES[0], "warranty_registered": "maybe"}])

    exit_code, out, err = _run(capsys, "--database-url", url, "seed", "--csv", str(csv_path))

    assert (exit_code, out) == (2, "")
    assert err == (
        f"python -m bot.cli: error: {csv_path}:2: "
        "warranty_registered must be yes or no, not 'maybe'\n"
    )


def test_seed_before_migrate(
    tmp_path: Path, write_devices_csv: WriteCsv, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'unmigrated.db'}"

    exit_code, out, err = _run(
        capsys, "--database-url", url, "seed", "--csv", str(write_devices_csv())
    )

    assert (exit_code, out) == (1, "")
    assert err == (
        f"python -m bot.cli: error: Database at {url} has no schema yet; "
        "run `python -m bot.cli migrate` first\n"
    )


def test_an_unreachable_database_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://lorex:s3cret@127.0.0.1:9/lorex"  # port 9: nothing listens there

    exit_code, out, err = _run(capsys, "--database-url", url, "migrate")

    assert (exit_code, out) == (1, "")
    assert err.startswith("python -m bot.cli: error: database at postgresql://lorex:***@")
    assert err.count("\n") == 1
    assert "s3cret" not in err


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main([])

    assert raised.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_runs_as_a_module(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'module.db'}"
    environment = {**os.environ, "DATABASE_URL": url}

    finished = subprocess.run(
        [sys.executable, "-m", "bot.cli", "migrate"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert (finished.returncode, finished.stderr) == (0, "")
    assert finished.stdout == (
        f"Database at {url}: schema upgraded from an empty database to revision "
        f"{head_revision()}\n"
    )


# -- agent add -----------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _typed(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    """The terminal: getpass answers ``answers`` in turn; returns the prompts it was shown."""
    prompts: list[str] = []
    replies = iter(answers)

    def ask(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("getpass.getpass", ask)
    return prompts


def test_agent_add_reads_the_password_from_stdin_for_scripts(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    monkeypatch.setenv("CONSOLE_PORT", "5106")

    result = _run(
        capsys, "--database-url", database.url, "agent", "add", "Alice",
        "--name", "Alice Martin", "--password-stdin",
    )

    assert result == (
        0,
        "Agent alice (Alice Martin) created; they can log in to the console at "
        "http://127.0.0.1:5106\n",
        "",
    )
    agent = AgentAccounts(database).authenticate("alice", "a long enough password")
    assert agent is not None and agent.display_name == "Alice Martin"


def test_agent_add_asks_for_the_password_twice(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = _typed(monkeypatch, "twelve chars min", "twelve chars min")

    exit_code, out, _ = _run(
        capsys, "--database-url", database.url, "agent", "add", "bob", "--name", "Bob"
    )

    assert exit_code == 0 and out.startswith("Agent bob (Bob) created")
    assert prompts == ["Password for bob: ", "The same password again: "]


@pytest.mark.parametrize(
    ("argv", "typed", "error"),
    [
        (["carol", "--name", "Carol"], ["one password!!", "another one!!"],
         "the two passwords differ; nothing was created"),
        (["carol", "--name", "Carol"], ["short", "short"],
         "the password must be at least 12 characters long"),
        (["carol", "--name", "  "], ["long enough pass", "long enough pass"],
         "the display name must be 1 to 100 characters"),
        (["carol!", "--name", "Carol"], [],
         "a username is 2 to 64 characters: letters, digits, dots, dashes or underscores"),
    ],
)
def test_agent_add_refuses_bad_input_in_one_line(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    typed: list[str],
    error: str,
) -> None:
    _typed(monkeypatch, *typed)

    result = _run(capsys, "--database-url", database.url, "agent", "add", *argv)

    assert result == (2, "", f"python -m bot.cli: error: {error}\n")


def test_agent_add_refuses_a_taken_username(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    AgentAccounts(database).create("dave", "Dave", "first password!")
    monkeypatch.setattr("sys.stdin", io.StringIO("second password!\n"))

    result = _run(
        capsys, "--database-url", database.url, "agent", "add", "Dave", "--name", "Dave 2",
        "--password-stdin",
    )

    assert result == (2, "", "python -m bot.cli: error: there is already an agent called 'dave'\n")


def test_agent_add_without_a_terminal_asks_for_password_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'lorex.db'}"
    migrate(url)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    no_terminal = _run(capsys, "--database-url", url, "agent", "add", "erin", "--name", "Erin")
    empty = _run(
        capsys, "--database-url", url, "agent", "add", "erin", "--name", "Erin",
        "--password-stdin",
    )

    assert no_terminal == (
        2, "", "python -m bot.cli: error: no terminal to ask for the password; "
        "use --password-stdin\n",
    )
    assert empty == (
        2, "", "python -m bot.cli: error: --password-stdin: no password on standard input\n"
    )


def test_agent_add_before_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'unmigrated.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))

    result = _run(
        capsys, "--database-url", url, "agent", "add", "fay", "--name", "Fay", "--password-stdin"
    )

    assert result == (
        1,
        "",
        f"python -m bot.cli: error: Database at {url} has no agents table yet; "
        "run `python -m bot.cli migrate` first\n",
    )


# -- report --------------------------------------------------------------------------------------


def test_report_prints_the_queue_report(
    database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    CaseStore(database).open_case(
        channel="chat", conversation_id="c1", actor="assistant", reason="queued",
        status=CaseStatus.QUEUED,
    )

    exit_code, out, err = _run(capsys, "--database-url", database.url, "report", "--days", "3")

    assert (exit_code, err) == (0, "")
    assert out.startswith("Support queue report, last 3 days")
    assert "Open cases: 1" in out and "Cases queued in the period: 1" in out


def test_report_needs_a_positive_period(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'lorex.db'}"

    result = _run(capsys, "--database-url", url, "report", "--days", "0")

    assert result == (2, "", "python -m bot.cli: error: --days must be at least 1, not 0\n")


# -- sweep-cases ---------------------------------------------------------------------------------


def _idle_since(database: Database, code: str, minutes: int) -> None:
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from bot.cases.models import SupportCase

    with database.session() as session:
        session.execute(
            update(SupportCase)
            .where(SupportCase.code == code)
            .values(updated_at=datetime.now(timezone.utc) - timedelta(minutes=minutes))
        )


def test_sweep_cases_abandons_collecting_cases_the_owner_left(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CaseStore(database)
    opened = [
        store.open_case(channel="chat", conversation_id=f"c{n}", actor="assistant", reason="r")
        for n in range(3)
    ]
    _idle_since(database, opened[0].code, 31)
    _idle_since(database, opened[1].code, 20)
    monkeypatch.delenv("CASE_COLLECTING_TIMEOUT_MINUTES", raising=False)

    result = _run(capsys, "--database-url", database.url, "sweep-cases")

    assert result == (
        0,
        "Closed 1 stale case (collecting with no message from the owner for 30 minutes)\n",
        "",
    )
    assert [store.get(case.code).status for case in opened] == [
        CaseStatus.ABANDONED,
        CaseStatus.COLLECTING,
        CaseStatus.COLLECTING,
    ]

    monkeypatch.setenv("CASE_COLLECTING_TIMEOUT_MINUTES", "15")
    again = _run(capsys, "--database-url", database.url, "sweep-cases")
    assert again[1] == (
        "Closed 1 stale case (collecting with no message from the owner for 15 minutes)\n"
    )


def test_sweep_cases_refuses_a_bad_timeout(
    database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CASE_COLLECTING_TIMEOUT_MINUTES", "soon")

    result = _run(capsys, "--database-url", database.url, "sweep-cases")

    assert result == (
        2,
        "",
        "python -m bot.cli: error: CASE_COLLECTING_TIMEOUT_MINUTES must be a whole number of "
        "minutes of at least 1, not 'soon'\n",
    )


def test_the_collecting_timeout_is_a_setting() -> None:
    from datetime import timedelta

    from bot.serve import settings_from

    assert settings_from({}).case_collecting_timeout == timedelta(minutes=30)
    chosen = settings_from({"CASE_COLLECTING_TIMEOUT_MINUTES": "45"})
    assert chosen.case_collecting_timeout == timedelta(minutes=45)
    assert chosen.environment()["CASE_COLLECTING_TIMEOUT_MINUTES"] == "45"
    with pytest.raises(ValueError, match="CASE_COLLECTING_TIMEOUT_MINUTES"):
        settings_from({"CASE_COLLECTING_TIMEOUT_MINUTES": "0"})


# -- run -----------------------------------------------------------------------------------------


def test_run_refuses_an_unusable_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACTIONS_PORT", "55055x")

    exit_code, out, err = _run(capsys, "run")

    assert (exit_code, out) == (2, "")
    assert err == (
        "python -m bot.cli: error: ACTIONS_PORT must be a port number from 1 to 65535, "
        "not '55055x'\n"
    )


def test_each_run_draws_its_own_action_server_secret_unless_one_is_set() -> None:
    from bot.serve import settings_from

    first, second = settings_from({}), settings_from({})
    chosen = settings_from({"ACTION_SERVER_TOKEN": "chosen-by-the-operator-0123"})

    assert first.action_server_token != second.action_server_token
    assert len(first.action_server_token) >= 32
    assert first.environment()["ACTION_SERVER_TOKEN"] == first.action_server_token
    assert chosen.environment()["ACTION_SERVER_TOKEN"] == "chosen-by-the-operator-0123"
