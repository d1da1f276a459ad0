"""The committed demo registry (``data/devices.csv``) is what its generator produces, and sane."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path

import pytest

from bot.content import DATA_DIR
from bot.devices import demo_registry
from bot.devices.demo_registry import demo_registry_csv, generate_devices, render_csv
from bot.devices.formats import load_formats, matches_pattern
from bot.devices.normalise import resolutions, resolve_serial_number
from bot.devices.registry import CSV_COLUMNS, read_devices_csv

FORMATS = load_formats()
DEVICES_CSV = DATA_DIR / "devices.csv"
COMMITTED = DEVICES_CSV.read_text(encoding="utf-8")
ROWS = list(csv.DictReader(io.StringIO(COMMITTED)))


def test_the_committed_csv_is_exactly_what_the_generator_writes() -> None:
    assert demo_registry_csv() == COMMITTED, (
        "data/devices.csv is stale: python -m bot.devices.demo_registry --out data/devices.csv"
    )


def test_the_generator_is_deterministic_and_really_uses_its_seed() -> None:
    assert generate_devices(FORMATS) == generate_devices(FORMATS)
    other = render_csv(generate_devices(FORMATS, seed=demo_registry.SEED + 1))
    assert other != COMMITTED
    # The documented example recorder is the same whatever the seed; its owner is not.
    assert other.splitlines()[1].split(",")[:3] == COMMITTED.splitlines()[1].split(",")[:3]


def test_command_line_writes_the_same_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "devices.csv"
    assert demo_registry.main(["--out", str(out)]) == 0
    assert out.read_bytes() == DEVICES_CSV.read_bytes()
    assert demo_registry.main([]) == 0
    assert capsys.readouterr().out == COMMITTED


def test_header() -> None:
    assert COMMITTED.splitlines()[0] == (
        "device_id,model,serial_number,owner_name,owner_email,owner_phone,warranty_registered"
    )
    assert tuple(ROWS[0]) == CSV_COLUMNS


def test_counts_per_family() -> None:
    families = Counter(FORMATS.family_for_model(row["model"]).name for row in ROWS)
    assert len(ROWS) >= 200
    assert families["n_series"] > len(ROWS) / 2
    assert 35 <= families["legacy"] <= 45
    assert 15 <= families["n831"] <= 25
    assert 15 <= families["home_app"] <= 25
    models = Counter(row["model"] for row in ROWS)
    # Every model of every family is represented, so each can be tried in a demo.
    assert set(models) == set(FORMATS.models)


def test_each_family_example_is_a_row_of_that_family() -> None:
    by_id = {row["device_id"]: row for row in ROWS}
    for family in FORMATS.families:
        assert family.example in by_id
        assert by_id[family.example]["model"] in family.models
    assert any(row["serial_number"] == FORMATS.serial_example for row in ROWS)


def test_ids_and_serials_are_unique() -> None:
    device_ids = [row["device_id"] for row in ROWS]
    serials = [row["serial_number"] for row in ROWS]
    assert len(set(device_ids)) == len(device_ids)
    assert len(set(serials)) == len(serials)
    assert not set(device_ids) & set(serials)


def test_ids_and_serials_follow_their_patterns_and_cannot_be_mistaken() -> None:
    for row in ROWS:
        family = FORMATS.family_for_model(row["model"])
        device_id, serial = row["device_id"], row["serial_number"]
        assert matches_pattern(device_id, family.pattern), row
        assert FORMATS.is_serial_number(serial), row
        # Not even with look-alikes can one be read as the other.
        assert resolve_serial_number(device_id, FORMATS) is None, row
        assert resolutions(serial, FORMATS) == {}, row


def test_owners_are_obviously_fictional() -> None:
    for row in ROWS:
        assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", row["owner_name"]), row
        assert re.fullmatch(r"[a-z.]+\d*@example\.(com|org)", row["owner_email"]), row
        assert re.fullmatch(r"\+1 \d{3}-555-01\d\d", row["owner_phone"]), row
        assert row["warranty_registered"] in {"yes", "no"}, row
    emails = [row["owner_email"] for row in ROWS]
    assert len(set(emails)) == len(emails)
    warranty = Counter(row["warranty_registered"] for row in ROWS)
    assert warranty["yes"] > 0 and warranty["no"] > 0


def test_the_registry_accepts_the_file() -> None:
    records = read_devices_csv(DEVICES_CSV, FORMATS)
    assert [r.device.device_id for r in records] == [row["device_id"] for row in ROWS]
