"""Which candidate Device IDs are registered: the registry decides among what was heard.

Every lookup the phone channel makes is a Device ID check an enumeration could use (one lookup
answers for up to :data:`bot.phone.spoken.MAX_CANDIDATES` readings, and its hits are read back),
so :class:`CountedLookups` counts it with the failed-check limiter
(:mod:`bot.devices.check_limits`) before it is made, against the call and the registry overall.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.devices.check_limits import FailedCheckLimiter, Reservation, Subject
from bot.devices.registry import DeviceRegistry
from bot.phone.spoken import RegisteredIds


class RegistryIds:
    """:class:`bot.phone.spoken.RegisteredIds` over the device registry (one query per batch)."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    def existing(self, device_ids: Sequence[str]) -> set[str]:
        return self._registry.existing(device_ids)


class TooManyFailures(Exception):
    """A failed-check limit is reached: nothing was looked up."""


class CountedLookups:
    """:class:`bot.phone.spoken.RegisteredIds` for one turn of one call: each lookup is counted
    as a failed check before it is made, or refused with :class:`TooManyFailures`.

    The failure stands unless taken back: a lookup that finds nothing is one; one that finds
    registered IDs holds it (:attr:`counted`) for the first reading read back, taken back only
    when the caller confirms that reading.
    """

    def __init__(
        self, registry: RegisteredIds, limiter: FailedCheckLimiter, subjects: tuple[Subject, ...]
    ) -> None:
        self._registry, self._limiter, self._subjects = registry, limiter, subjects
        self.counted: Reservation | None = None

    def existing(self, device_ids: Sequence[str]) -> set[str]:
        counted = self._limiter.reserve(self._subjects)
        if counted is None:
            raise TooManyFailures
        try:
            found = self._registry.existing(device_ids)
        except BaseException:
            self._limiter.forgive(counted)
            raise
        self.counted = counted
        return found
