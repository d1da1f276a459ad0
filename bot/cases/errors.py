"""What can go wrong with a support case, in words a support agent understands."""

from __future__ import annotations


class CaseError(Exception):
    """Base class: a request about a support case that cannot be carried out."""


class CaseNotFound(CaseError, LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"There is no support case {code}")
        self.code = code


class IllegalTransition(CaseError):
    """A status change the case lifecycle does not allow (see :mod:`bot.cases.status`)."""

    def __init__(self, code: str, from_status: str, to_status: str, why: str) -> None:
        super().__init__(
            f"Case {code} is {from_status}; it cannot move to {to_status} ({why})"
        )
        self.code = code
        self.from_status = from_status
        self.to_status = to_status


class CaseClosed(CaseError):
    """A change to a case that is already closed (completed, rejected or abandoned)."""

    def __init__(self, code: str, status: str, change: str) -> None:
        super().__init__(f"Case {code} is {status} and closed; {change} is not possible")
        self.code = code
        self.status = status


class UnknownDevice(CaseError):
    """A Device ID that is not in the device registry."""

    def __init__(self, device_id: str) -> None:
        super().__init__(f"Device ID {device_id} is not in the device registry")
        self.device_id = device_id


class AuditTrailIsAppendOnly(CaseError):
    """An attempt to change or delete a recorded case event."""


class UnrecordedStatusChange(CaseError):
    """A case's status written without its audit event (only :mod:`bot.cases.lifecycle` writes
    statuses, and always with one)."""
