# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
# mypy: disable-error-code="import-untyped"
"""The device registry on real databases: seeding from CSV, idempotency, lookups, bad files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.content import ContentError
from bot.db import Database
from bot.devices.models import Device
from bot.devices.record import DeviceLookup, DeviceRecord
from bot.devices.registry import DeviceRegistry, SeedResult
from tests.conftest import SAMPLE_DEVICES, WriteCsv


@pytest.fixture
def registry(database: Database) -> DeviceRegistry:
    return DeviceRegistry(database)


def _row(**changes: str) -> dict[str, str]:
    return {**SAMPLE_DEVICES[0], **changes}


def _created_at(database: Database) -> dict[str, object]:
    with database.session() as session:
        return {d.device_id: d.created_at for d in session.scalars(select(Device))}


def test_seeding_adds_every_row_and_lookups_return_detached_records(
    registry: DeviceRegistry, write_devices_csv: WriteCsv, database: Database
) -> None:
    result = registry.seed_from_csv(write_devices_csv())

    assert result == SeedResult(added=3, updated=0, unchanged=0)
    assert registry.count() == 3
    record = registry.find_by_device_id("ND4810273945KXQ")
    assert record == DeviceRecord(
        device_id="ND4810273945KXQ",
        model="N841",
        family="n_series",
        serial_number="21LX0483920175",
        owner_name="Dana Whitfield",
        owner_email="dana@example.com",
        owner_phone="+1 416 555 0101",
        warranty_registered=True,
    )
    assert type(record) is DeviceRecord
    database.dispose()  # a record stays readable with no connection or session behind it
    assert record.family == "n_series"
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.owner_name = "someone else"  # type: ignore[misc]


def test_family_comes_from_the_model_in_the_formats_file(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    registry.seed_from_csv(write_devices_csv())

    families = {
        row["device_id"]: registry.find_by_device_id(row["device_id"]) for row in SAMPLE_DEVICES
    }
    assert {device_id: r.family for device_id, r in families.items() if r} == {
        "ND4810273945KXQ": "n_series",
        "NC3307815562RTA": "n831",
        "LRX104592837": "legacy",
    }
    legacy = families["LRX104592837"]
    assert legacy is not None
    assert legacy.warranty_registered is True
    n831 = families["NC3307815562RTA"]
    assert n831 is not None
    assert n831.warranty_registered is False


def test_find_by_serial(registry: DeviceRegistry, write_devices_csv: WriteCsv) -> None:
    registry.seed_from_csv(write_devices_csv())

    record = registry.find_by_serial("22LX1122334455")
    assert record is not None
    assert record.device_id == "NC3307815562RTA"
    # A Device ID is not a serial number, and the other way round.
    assert registry.find_by_serial("NC3307815562RTA") is None
    assert registry.find_by_device_id("22LX1122334455") is None


def test_unknown_ids_find_nothing(registry: DeviceRegistry, write_devices_csv: WriteCsv) -> None:
    registry.seed_from_csv(write_devices_csv())

    assert registry.find_by_device_id("ND0000000000AAA") is None
    assert registry.find_by_serial("99LX0000000000") is None
    assert registry.find_by_device_id("") is None


def test_an_empty_registry_finds_nothing(registry: DeviceRegistry) -> None:
    assert registry.count() == 0
    assert registry.find_by_device_id("ND4810273945KXQ") is None


def test_the_registry_is_a_device_lookup(registry: DeviceRegistry) -> None:
    lookup: DeviceLookup = registry  # checked by mypy; the calls below check it at run time
    assert lookup.find_by_device_id("ND4810273945KXQ") is None
    assert lookup.find_by_serial("21LX0483920175") is None


def test_ids_in_the_csv_are_stored_normalised(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    csv_path = write_devices_csv(
        [_row(device_id=" nd48-1027 3945-kxq ", serial_number="21-lx-0483920175", model="n841")]
    )
    registry.seed_from_csv(csv_path)

    record = registry.find_by_device_id("ND4810273945KXQ")
    assert record is not None
    assert (record.serial_number, record.model) == ("21LX0483920175", "N841")


def test_seeding_twice_changes_nothing(
    registry: DeviceRegistry, write_devices_csv: WriteCsv, database: Database
) -> None:
    csv_path = write_devices_csv()
    registry.seed_from_csv(csv_path)
    before = [registry.find_by_device_id(row["device_id"]) for row in SAMPLE_DEVICES]
    created = _created_at(database)

    assert registry.seed_from_csv(csv_path) == SeedResult(added=0, updated=0, unchanged=3)

    after = [registry.find_by_device_id(row["device_id"]) for row in SAMPLE_DEVICES]
    assert after == before
    assert _created_at(database) == created
    assert registry.count() == 3


def test_edits_in_the_csv_update_the_rows(
    registry: DeviceRegistry, write_devices_csv: WriteCsv, database: Database
) -> None:
    registry.seed_from_csv(write_devices_csv())
    created = _created_at(database)
    edited = [
        {**SAMPLE_DEVICES[0], "owner_email": "dana.w@example.com", "warranty_registered": "no"},
        {**SAMPLE_DEVICES[1], "model": "N842"},  # moved to another family
        SAMPLE_DEVICES[2],
    ]

    result = registry.seed_from_csv(write_devices_csv(edited, name="edited.csv"))

    assert result == SeedResult(added=0, updated=2, unchanged=1)
    dana = registry.find_by_device_id("ND4810273945KXQ")
    assert dana is not None
    assert (dana.owner_email, dana.warranty_registered) == ("dana.w@example.com", False)
    omar = registry.find_by_device_id("NC3307815562RTA")
    assert omar is not None
    assert (omar.model, omar.family) == ("N842", "n_series")
    assert _created_at(database) == created  # updated in place, not replaced


def test_devices_missing_from_a_later_csv_are_kept(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    registry.seed_from_csv(write_devices_csv())
    new_device = _row(device_id="ND9999999999ZZZ", serial_number="23LX9999999999")

    result = registry.seed_from_csv(write_devices_csv([new_device], name="more.csv"))

    assert result == SeedResult(added=1, updated=0, unchanged=0)
    assert registry.count() == 4
    assert registry.find_by_device_id("LRX104592837") is not None


def test_a_serial_number_can_move_from_a_listed_device_to_a_new_one(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    registry.seed_from_csv(write_devices_csv([SAMPLE_DEVICES[0]]))
    corrected = [
        _row(serial_number="21LX0000000001"),
        _row(device_id="ND1111111111AAA", serial_number=SAMPLE_DEVICES[0]["serial_number"]),
    ]

    result = registry.seed_from_csv(write_devices_csv(corrected, name="corrected.csv"))

    assert result == SeedResult(added=1, updated=1, unchanged=0)
    holder = registry.find_by_serial(SAMPLE_DEVICES[0]["serial_number"])
    assert holder is not None
    assert holder.device_id == "ND1111111111AAA"


def test_two_devices_can_swap_serial_numbers(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    # A mix-up in the export, corrected: each serial goes back to its own recorder.
    first, second = SAMPLE_DEVICES[0], SAMPLE_DEVICES[1]
    registry.seed_from_csv(write_devices_csv([first, second]))
    swapped = [
        {**first, "serial_number": second["serial_number"]},
        {**second, "serial_number": first["serial_number"]},
    ]

    result = registry.seed_from_csv(write_devices_csv(swapped, name="swapped.csv"))

    assert result == SeedResult(added=0, updated=2, unchanged=0)
    holder = registry.find_by_serial(first["serial_number"])
    assert holder is not None
    assert holder.device_id == second["device_id"]


def test_a_serial_number_held_by_an_unlisted_device_is_refused(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    registry.seed_from_csv(write_devices_csv())
    thief = _row(device_id="ND1111111111AAA", serial_number=SAMPLE_DEVICES[2]["serial_number"])
    csv_path = write_devices_csv([thief], name="thief.csv")

    with pytest.raises(ContentError) as raised:
        registry.seed_from_csv(csv_path)

    assert str(raised.value) == (
        f"{csv_path}:2: serial number 19LX5566778899 already belongs to registered "
        "Device ID LRX104592837"
    )
    assert registry.count() == 3


def test_a_byte_order_mark_from_a_spreadsheet_export_is_accepted(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    csv_path = write_devices_csv()
    csv_path.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes())

    assert registry.seed_from_csv(csv_path).added == 3


BAD_ROWS = [
    pytest.param(_row(model="N999"), "unknown recorder model 'N999'", id="unknown-model"),
    pytest.param(
        _row(warranty_registered="maybe"),
        "warranty_registered must be yes or no, not 'maybe'",
        id="bad-warranty",
    ),
    pytest.param(_row(owner_name="  "), "owner_name is empty", id="empty-owner"),
    pytest.param(_row(owner_email="dana at home"), "owner_email 'dana at home'", id="bad-email"),
    pytest.param(_row(owner_phone="call me"), "owner_phone 'call me'", id="bad-phone"),
    pytest.param(
        _row(device_id="ND48102739"),
        "Device ID 'ND48102739' does not fit the n_series pattern AA9999999999AAA",
        id="device-id-wrong-shape",
    ),
    pytest.param(
        _row(device_id="LRX104592837"),  # a legacy ID on an N841
        "Device ID 'LRX104592837' does not fit the n_series pattern",
        id="device-id-of-another-family",
    ),
    pytest.param(
        _row(serial_number="ND4810273945KXQ"),
        "serial number 'ND4810273945KXQ' does not fit the pattern 99AA9999999999",
        id="device-id-as-serial",
    ),
    pytest.param(_row(owner_name="x" * 201), "owner_name is longer than 200", id="too-long"),
    pytest.param(
        [*_row().values(), "surplus"], "more values than the 7 columns", id="too-many-values"
    ),
    pytest.param(list(_row().values())[:4], "owner_email is empty", id="too-few-values"),
]


@pytest.mark.parametrize(("bad_row", "message"), BAD_ROWS)
def test_a_bad_row_names_file_and_line_and_changes_nothing(
    registry: DeviceRegistry,
    write_devices_csv: WriteCsv,
    bad_row: dict[str, str] | list[str],
    message: str,
) -> None:
    registry.seed_from_csv(write_devices_csv([SAMPLE_DEVICES[2]], name="first.csv"))
    good_new_row = SAMPLE_DEVICES[1]
    csv_path = write_devices_csv([good_new_row, bad_row])

    with pytest.raises(ContentError) as raised:
        registry.seed_from_csv(csv_path)

    assert str(raised.value).startswith(f"{csv_path}:3: ")
    assert message in str(raised.value)
    assert (raised.value.path, raised.value.line) == (str(csv_path), 3)
    # All or nothing: the good row before the bad one was not added either.
    assert registry.count() == 1
    assert registry.find_by_device_id(good_new_row["device_id"]) is None


def test_duplicates_within_the_csv_name_both_lines(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    same_id = _row(serial_number="23LX0000000002")
    same_serial = _row(device_id="ND2222222222BBB")

    with pytest.raises(ContentError, match=r":3: Device ID ND4810273945KXQ is already on line 2$"):
        registry.seed_from_csv(write_devices_csv([SAMPLE_DEVICES[0], same_id], name="a.csv"))
    with pytest.raises(
        ContentError, match=r":3: serial number 21LX0483920175 is already on line 2$"
    ):
        registry.seed_from_csv(write_devices_csv([SAMPLE_DEVICES[0], same_serial], name="b.csv"))


def test_line_numbers_count_physical_lines_of_quoted_multiline_values(
    registry: DeviceRegistry, tmp_path: Path
) -> None:
    header = ",".join(SAMPLE_DEVICES[0])
    first = SAMPLE_DEVICES[1]
    csv_path = tmp_path / "multiline.csv"
    csv_path.write_text(
        f"{header}\n"
        f'{first["device_id"]},{first["model"]},{first["serial_number"]},"Omar\nHaddad",'
        f'{first["owner_email"]},"{first["owner_phone"]}",no\n'
        "ND4810273945KXQ,N999,21LX0483920175,Dana,dana@example.com,4165550101,yes\n",
        encoding="utf-8",
    )

    with pytest.raises(ContentError, match=r"multiline\.csv:4: unknown recorder model 'N999'"):
        registry.seed_from_csv(csv_path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(
            ["device_id", "model", "serial_number", "owner_name", "owner_email", "owner_phone"],
            "missing column(s) warranty_registered",
            id="missing-column",
        ),
        pytest.param(
            [*SAMPLE_DEVICES[0], "notes"], "unexpected column(s) notes", id="extra-column"
        ),
        pytest.param(
            ["Device ID", *list(SAMPLE_DEVICES[0])[1:]],
            "missing column(s) device_id; unexpected column(s) Device ID",
            id="misspelt-column",
        ),
    ],
)
def test_a_bad_header_is_refused_on_line_1(
    registry: DeviceRegistry, write_devices_csv: WriteCsv, header: list[str], message: str
) -> None:
    csv_path = write_devices_csv([], header=header)

    with pytest.raises(ContentError) as raised:
        registry.seed_from_csv(csv_path)

    assert str(raised.value).startswith(f"{csv_path}:1: {message}")
    assert "the header must be device_id,model,serial_number," in str(raised.value)


def test_an_empty_file_is_refused(registry: DeviceRegistry, tmp_path: Path) -> None:
    csv_path = tmp_path / "empty.csv"
    csv_path.write_text("", encoding="utf-8")

    with pytest.raises(ContentError, match=r"empty\.csv:1: missing column\(s\) device_id"):
        registry.seed_from_csv(csv_path)


def test_a_missing_file_raises_file_not_found(registry: DeviceRegistry, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        registry.seed_from_csv(tmp_path / "nowhere.csv")


def test_paths_inside_the_repo_are_shown_relative_to_it(
    registry: DeviceRegistry, write_devices_csv: WriteCsv, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.devices.registry as registry_module

    csv_path = write_devices_csv([_row(model="N999")])
    # As if the file were data/devices.csv in the repo.
    monkeypatch.setattr(registry_module, "REPO_ROOT", csv_path.parent.parent)

    with pytest.raises(ContentError, match=rf"^{csv_path.parent.name}/devices\.csv:2: "):
        registry.seed_from_csv(csv_path)


def test_existing_answers_for_many_ids_at_once(
    registry: DeviceRegistry, write_devices_csv: WriteCsv
) -> None:
    registry.seed_from_csv(write_devices_csv())
    known = [device["device_id"] for device in SAMPLE_DEVICES]
    unknown = [f"ND{n:010d}ZZZ" for n in range(2500)]  # more than one batch
    assert registry.existing([*unknown, *known, known[0]]) == set(known)
    assert registry.existing([]) == set()
