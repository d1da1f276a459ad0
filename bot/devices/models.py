# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""The ``devices`` table: recorders registered with Lorex, and who owns them.

Only :mod:`bot.devices.registry` uses this class; everything else gets a
:class:`bot.devices.record.DeviceRecord`.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Integer, String

from bot.db import Base, UTCDateTime, utcnow


class Device(Base):  # type: ignore[misc,valid-type]
    __tablename__ = "devices"

    id = Column(Integer, primary_key=True)
    # Stored normalised (upper case, no separators), as lookups arrive. The unique constraint is
    # also the index the lookups use.
    device_id = Column(String(32), nullable=False, unique=True)
    model = Column(String(32), nullable=False)
    family = Column(String(32), nullable=False)
    serial_number = Column(String(32), nullable=False, unique=True)
    owner_name = Column(String(200), nullable=False)
    owner_email = Column(String(254), nullable=False)
    owner_phone = Column(String(32), nullable=False)
    warranty_registered = Column(Boolean, nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=utcnow)

    def __repr__(self) -> str:
        return f"Device(device_id={self.device_id!r}, model={self.model!r})"


class DeviceIdCheckFailures(Base):  # type: ignore[misc,valid-type]
    """Failed Device ID checks, counted per subject in ten-minute buckets (see
    :mod:`bot.devices.check_limits`). The subject is stored hashed: a conversation id or a
    client address is not needed in the clear to be counted."""

    __tablename__ = "device_id_check_failures"

    scope = Column(String(16), primary_key=True)
    subject_hash = Column(String(64), primary_key=True)
    bucket_start = Column(UTCDateTime, primary_key=True, index=True)
    failures = Column(Integer, nullable=False)
