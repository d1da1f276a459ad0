# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""The device registry: which recorders exist, their model, family and owner.

The registry is the authority on Device IDs: a well-formed ID that is not registered is refused.
It is filled from a CSV export (``data/devices.csv``) with :meth:`DeviceRegistry.seed_from_csv`,
which can be run again at any time: rows are matched on Device ID, new ones are added, changed
ones updated, and nothing else is touched.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

from sqlalchemy import func, select

from bot.content import REPO_ROOT, ContentError
from bot.db import Database
from bot.devices.formats import (
    DeviceIdFormats,
    UnknownModelError,
    load_formats,
    matches_pattern,
)
from bot.devices.models import Device
from bot.devices.record import DeviceRecord

CSV_COLUMNS = (
    "device_id",
    "model",
    "serial_number",
    "owner_name",
    "owner_email",
    "owner_phone",
    "warranty_registered",
)
WARRANTY_VALUES = {"yes": True, "no": False}
# Separators people and spreadsheets put into IDs; the registry stores IDs without them.
ID_SEPARATORS = re.compile(r"[\s\-.]")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ()\-.]+$")
PHONE_DIGITS = range(7, 16)  # E.164 allows at most 15 digits
# IDs per IN (...) list: well under SQLite's limit on bound parameters.
EXISTING_BATCH = 1000


@dataclass(frozen=True)
class SeedResult:
    """What one run of :meth:`DeviceRegistry.seed_from_csv` did."""

    added: int
    updated: int
    unchanged: int

    @property
    def rows(self) -> int:
        return self.added + self.updated + self.unchanged


class DeviceRegistry:
    """Registered recorders, looked up by normalised Device ID or serial number."""

    def __init__(self, database: Database, formats: DeviceIdFormats | None = None) -> None:
        self._database = database
        self._formats = formats

    @property
    def formats(self) -> DeviceIdFormats:
        # Loaded on first use: lookups do not need the formats file, only seeding does.
        if self._formats is None:
            self._formats = load_formats()
        return self._formats

    def find_by_device_id(self, device_id: str) -> DeviceRecord | None:
        with self._database.session() as session:
            device = session.scalars(
                select(Device).where(Device.device_id == device_id)
            ).first()
            return None if device is None else device_record(device)

    def existing(self, device_ids: Iterable[str]) -> set[str]:
        """Which of ``device_ids`` are registered, in one query per thousand IDs (the phone's
        keypad and speech readings can offer hundreds of candidates)."""
        wanted = list(dict.fromkeys(device_ids))
        found: set[str] = set()
        with self._database.session() as session:
            for start in range(0, len(wanted), EXISTING_BATCH):
                batch = wanted[start : start + EXISTING_BATCH]
                found.update(
                    session.scalars(select(Device.device_id).where(Device.device_id.in_(batch)))
                )
        return found

    def find_by_serial(self, serial_number: str) -> DeviceRecord | None:
        with self._database.session() as session:
            device = session.scalars(
                select(Device).where(Device.serial_number == serial_number)
            ).first()
            return None if device is None else device_record(device)

    def count(self) -> int:
        with self._database.session() as session:
            total: int = session.scalar(select(func.count()).select_from(Device))
            return total

    def seed_from_csv(self, path: str | Path) -> SeedResult:
        """Add or update the devices listed in the CSV at ``path``; all rows or none.

        Raises :class:`ContentError` (``path:line: what is wrong``) for a malformed file; the
        database is then left as it was.
        """
        rows = read_devices_csv(path, self.formats)
        shown = _shown_path(Path(path))
        with self._database.session() as session:
            registered = {device.device_id: device for device in session.scalars(select(Device))}
            _refuse_serials_held_by_others(rows, registered.values(), shown)
            new_devices: list[Device] = []
            changes: list[tuple[Device, DeviceRecord]] = []
            unchanged = 0
            for row in rows:
                device = registered.get(row.device.device_id)
                if device is None:
                    new_devices.append(Device(**_values(row.device)))
                elif device_record(device) == row.device:
                    unchanged += 1
                else:
                    changes.append((device, row.device))
            # Serial numbers are unique at every statement, so one handed from a device to
            # another (or two swapped) must be released before it is claimed: first park the
            # changing serials on placeholders nobody else can hold, then write the new values,
            # then add the new devices.
            for device, record in changes:
                if device.serial_number != record.serial_number:
                    device.serial_number = f"~{device.id}"
            session.flush()
            for device, record in changes:
                for name, value in _values(record).items():
                    setattr(device, name, value)
            session.flush()
            session.add_all(new_devices)
        return SeedResult(added=len(new_devices), updated=len(changes), unchanged=unchanged)


@dataclass(frozen=True)
class CsvRow:
    line: int
    device: DeviceRecord


def _refuse_serials_held_by_others(
    rows: list[CsvRow], registered: Iterable[Device], shown: str
) -> None:
    """Refuse a serial number that a registered device the CSV does not list already has.

    (A device the CSV does list may hand its serial on: its own row gives it a new one.)
    """
    listed = {row.device.device_id for row in rows}
    row_for_serial = {row.device.serial_number: row for row in rows}
    for device in registered:
        row = row_for_serial.get(device.serial_number)
        if row is not None and device.device_id not in listed:
            raise ContentError(
                shown,
                row.line,
                f"serial number {device.serial_number} already belongs to registered "
                f"Device ID {device.device_id}",
            )


def read_devices_csv(path: str | Path, formats: DeviceIdFormats) -> list[CsvRow]:
    """The rows of a devices CSV, validated; a bad row raises ``ContentError`` naming its line."""
    path = Path(path)
    shown = _shown_path(path)
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.DictReader(stream)
        header = reader.fieldnames or []
        missing = [name for name in CSV_COLUMNS if name not in header]
        extra = [name for name in header if name not in CSV_COLUMNS]
        if missing or extra:
            problems = []
            if missing:
                problems.append(f"missing column(s) {', '.join(missing)}")
            if extra:
                problems.append(f"unexpected column(s) {', '.join(extra)}")
            raise ContentError(
                shown, 1, f"{'; '.join(problems)}; the header must be {','.join(CSV_COLUMNS)}"
            )

        rows: list[CsvRow] = []
        device_id_lines: dict[str, int] = {}
        serial_lines: dict[str, int] = {}
        line = reader.line_num
        for raw in reader:
            # line_num is the last physical line read; a quoted field may span several lines.
            first_line, line = line + 1, reader.line_num
            record = _parse_row(raw, formats, shown, first_line)
            for key, seen, what in (
                (record.device_id, device_id_lines, "Device ID"),
                (record.serial_number, serial_lines, "serial number"),
            ):
                if key in seen:
                    raise ContentError(
                        shown, first_line, f"{what} {key} is already on line {seen[key]}"
                    )
                seen[key] = first_line
            rows.append(CsvRow(first_line, record))
    return rows


def _parse_row(
    raw: dict[str | None, str | list[str] | None],
    formats: DeviceIdFormats,
    shown: str,
    line: int,
) -> DeviceRecord:
    def fail(message: str) -> ContentError:
        return ContentError(shown, line, message)

    if raw.get(None):
        raise fail(f"more values than the {len(CSV_COLUMNS)} columns of the header")
    values: dict[str, str] = {}
    for name in CSV_COLUMNS:
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{name} is empty")
        values[name] = value.strip()

    model = values["model"].upper()
    try:
        family = formats.family_for_model(model)
    except UnknownModelError as exc:
        raise fail(str(exc)) from None

    device_id = ID_SEPARATORS.sub("", values["device_id"]).upper()
    if not matches_pattern(device_id, family.pattern):
        raise fail(
            f"Device ID {values['device_id']!r} does not fit the {family.name} pattern "
            f"{family.pattern} (A = letter, 9 = digit), e.g. {family.example}"
        )
    serial_number = ID_SEPARATORS.sub("", values["serial_number"]).upper()
    if not formats.is_serial_number(serial_number):
        raise fail(
            f"serial number {values['serial_number']!r} does not fit the pattern "
            f"{formats.serial_pattern} (A = letter, 9 = digit), e.g. {formats.serial_example}"
        )
    if not EMAIL.match(values["owner_email"]):
        raise fail(f"owner_email {values['owner_email']!r} is not an email address")
    phone = values["owner_phone"]
    if not PHONE_CHARACTERS.match(phone) or sum(c.isdigit() for c in phone) not in PHONE_DIGITS:
        raise fail(f"owner_phone {values['owner_phone']!r} is not a phone number")
    warranty = values["warranty_registered"].lower()
    if warranty not in WARRANTY_VALUES:
        raise fail(
            f"warranty_registered must be yes or no, not {values['warranty_registered']!r}"
        )

    record = DeviceRecord(
        device_id=device_id,
        model=model,
        family=family.name,
        serial_number=serial_number,
        owner_name=values["owner_name"],
        owner_email=values["owner_email"],
        owner_phone=values["owner_phone"],
        warranty_registered=WARRANTY_VALUES[warranty],
    )
    for name, limit in _LENGTH_LIMITS.items():
        if len(getattr(record, name)) > limit:
            raise fail(f"{name} is longer than {limit} characters")
    return record


# Checked while reading, since SQLite would store an over-long value that PostgreSQL refuses.
_LENGTH_LIMITS: dict[str, int] = {
    column.name: column.type.length
    for column in Device.__table__.columns
    if getattr(column.type, "length", None) is not None
}


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _values(record: DeviceRecord) -> dict[str, object]:
    return {field.name: getattr(record, field.name) for field in fields(DeviceRecord)}


def device_record(device: Device) -> DeviceRecord:
    return DeviceRecord(
        device_id=device.device_id,
        model=device.model,
        family=device.family,
        serial_number=device.serial_number,
        owner_name=device.owner_name,
        owner_email=device.owner_email,
        owner_phone=device.owner_phone,
        warranty_registered=device.warranty_registered,
    )
