"""``python -m bot.cli``: one line per command, one line on stderr and a non-zero exit on errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.content import REPO_ROOT
from bot.db import display_url, migrate
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

    assert first == (
        0,
        f"Database at {shown}: schema upgraded from an empty database to revision 0002\n",
        "",
    )
    assert again == (0, f"Database at {shown}: schema up to date (revision 0002)\n", "")


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
        f"Database at {url}: schema upgraded from an empty database to revision 0002\n"
    )
