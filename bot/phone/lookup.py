"""Which candidate Device IDs are registered: the registry decides among what was heard.

Every lookup the phone channel makes is a Device ID check an enumeration could use (one lookup
answers for up to :data:`bot.phone.spoken.MAX_CANDIDATES` readings, and its hits are read back),
so :class:`CountedLookups` counts it with the failed-check limiter
(:mod:`bot.devices.check_limits`) before it is made, against the call and the registry overall.

:class:`DeviceIdLookups` carries out the commands of Device ID entry
(:mod:`bot.phone.device_id_entry`, whose transitions do no I/O): the lookups, the counting of a
reading read back, and taking a counted failure back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.devices.check_limits import FailedCheckLimiter, Reservation, Subject, subjects_for
from bot.devices.formats import DeviceIdFormats
from bot.devices.registry import DeviceRegistry
from bot.phone.call_state import Call
from bot.phone.content import PhoneContent
from bot.phone.device_id_entry import (
    Ask,
    CountReadBack,
    DeviceIdEntry,
    EntryCommand,
    EntryEvent,
    EntryStep,
    Failed,
    Forgive,
    Forgiven,
    Limited,
    LookedUp,
    Outcome,
    Pass,
    ReadBackCounted,
)
from bot.phone.keypad import resolve_keys
from bot.phone.spoken import RegisteredIds, resolve

# Commands one turn of Device ID entry carries out at most (a lookup, then taking it back).
MAX_ENTRY_COMMANDS = 4


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


@dataclass(frozen=True)
class DeviceIdLookups:
    """What Device ID entry needs done, for a call: on the registry, counted by the limiter."""

    registry: RegisteredIds
    limiter: FailedCheckLimiter
    formats: DeviceIdFormats
    content: PhoneContent

    def carry_out(self, sid: str, command: EntryCommand) -> EntryEvent:
        if isinstance(command, Forgive):
            self.limiter.forgive(command.counted)
            return Forgiven(command.then)
        subjects = subjects_for(conversation=sid)
        if isinstance(command, CountReadBack):
            return ReadBackCounted(self.limiter.reserve(subjects))
        lookups = CountedLookups(self.registry, self.limiter, subjects)
        try:
            if command.keys:
                resolution = resolve_keys(command.keys, self.formats, self.content.keypad, lookups)
            else:
                max_swaps = self.content.max_confusable_swaps
                resolution = resolve(command.pieces, self.formats, lookups, max_swaps=max_swaps)
        except TooManyFailures:
            return LookedUp(command, None, None)
        return LookedUp(command, resolution, lookups.counted)

    def settle(self, entry: DeviceIdEntry, call: Call, step: EntryStep) -> Outcome:
        """Carry out ``step``'s commands until entry decides (for entry on its own, as in its
        tests; the call flow hands them to the shell with the rest)."""
        for _ in range(MAX_ENTRY_COMMANDS):
            if isinstance(step, (Ask, Pass, Failed, Limited)):
                return step
            step = entry.on(call, self.carry_out(call.sid, step))
        raise RuntimeError("Device ID entry did not decide")
