"""What the rest of the product knows about a registered recorder.

The registry (SQLAlchemy) returns these detached, immutable records so that callers never hold a
database session open, and so the Device ID checks can be tested against any lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class DeviceRecord:
    device_id: str
    model: str
    family: str
    serial_number: str
    owner_name: str
    owner_email: str
    owner_phone: str
    warranty_registered: bool


class DeviceLookup(Protocol):
    """Finds registered recorders; IDs passed in are already normalised (upper case, no gaps)."""

    def find_by_device_id(self, device_id: str) -> DeviceRecord | None: ...

    def find_by_serial(self, serial_number: str) -> DeviceRecord | None: ...
