# SQLAlchemy 1.4 ships without type information; its names are typed as Any here.
"""Proving that a case is yours, to resume it from another conversation or device.

A case code alone is not proof: it is on the owner's screen and may be seen by others. The proof
is something the case already knows about its owner: the registered owner's email or phone of
the case's recorder, what the owner stated on the case (email or phone), or the recorder's Device
ID. Comparison forgives what people vary without meaning anything (case, spaces, dashes, a
country code), as on the agent's verification card; a name is never enough.

Guessing is limited per case: every proof that does not match is an audit event on the case
(the agent sees the attempts; the proof itself is never written), and after
:data:`MAX_FAILED_PROOFS` of them within :data:`PROOF_WINDOW` the case cannot be resumed by proof
until the oldest is an hour old. Counting and checking happen under the case's row lock, so
parallel attempts cannot slip past the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.cases import lifecycle
from bot.cases.models import CaseEvent, SupportCase
from bot.cases.store import case_view, find_case, locked_case
from bot.cases.views import CaseView
from bot.db import Database
from bot.devices.formats import DeviceIdFormats
from bot.devices.models import Device
from bot.devices.normalise import compact, normalise_device_id
from bot.devices.record import DeviceRecord
from bot.devices.registry import device_record

# The verification card's comparisons, so a proof matches exactly when the card would say so.
from bot.handoff.verification import email_key, phone_key

MAX_FAILED_PROOFS = 3
PROOF_WINDOW = timedelta(hours=1)
# A phone number shorter than this says too little to prove anything ("0101").
MIN_PHONE_DIGITS = 7

FAILED_PROOF = "someone tried to resume the case with a proof that does not match"


def proof_matches(
    proof: str, case: CaseView, device: DeviceRecord | None, formats: DeviceIdFormats
) -> bool:
    """Whether ``proof`` is the owner's email or phone (registered or stated) or the Device ID."""
    proof = proof.strip()
    if not proof:
        return False
    if "@" in proof:
        emails = (case.stated_email, device.owner_email if device else None)
        return any(email and email_key(email) == email_key(proof) for email in emails)
    phones = (case.stated_phone, device.owner_phone if device else None)
    if _is_phone_number(proof) and any(
        phone and phone_key(phone) == phone_key(proof) for phone in phones
    ):
        return True
    return case.device_id is not None and case.device_id in {
        compact(proof),
        normalise_device_id(proof, formats),
    }


def _is_phone_number(text: str) -> bool:
    return len(phone_key(text)) >= MIN_PHONE_DIGITS and not any(c.isalpha() for c in text)


class ProofAttempts:
    """Checks a proof against a case, counting failures in the case's audit trail."""

    def __init__(self, database: Database, formats: Callable[[], DeviceIdFormats]) -> None:
        self._database = database
        self._formats = formats

    def limited(self, code: str, now: datetime) -> bool:
        with self._database.session() as session:
            case = find_case(session, code)
            return _failures(session, case, now - PROOF_WINDOW) >= MAX_FAILED_PROOFS

    def attempt(self, code: str, proof: str, *, now: datetime, actor: str) -> bool:
        """True when ``proof`` matches; False when it does not (counted) or the case is
        limited (not counted again) or closed."""
        formats = self._formats()
        with self._database.session() as session:
            case = locked_case(session, code)
            view = case_view(case)
            if view.is_closed:
                return False
            if _failures(session, case, now - PROOF_WINDOW) >= MAX_FAILED_PROOFS:
                return False
            if proof_matches(proof, view, _device(session, case), formats):
                return True
            lifecycle.note(session, case, actor=actor, reason=FAILED_PROOF, at=now)
            return False


def _device(session: Session, case: SupportCase) -> DeviceRecord | None:
    if case.device_id is None:
        return None
    row = session.scalars(
        select(Device).where(Device.device_id == case.device_id)
    ).first()
    return None if row is None else device_record(row)


def _failures(session: Session, case: SupportCase, since: datetime) -> int:
    count = session.scalar(
        select(func.count(CaseEvent.id)).where(
            CaseEvent.case_id == case.id,
            CaseEvent.reason == FAILED_PROOF,
            CaseEvent.at >= since,
        )
    )
    return int(count or 0)
