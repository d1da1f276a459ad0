"""Which candidate Device IDs are registered: the registry decides among what was heard."""

from __future__ import annotations

from collections.abc import Sequence

from bot.devices.record import DeviceLookup


class RegistryIds:
    """:class:`bot.phone.spoken.RegisteredIds` over the device registry's lookups."""

    def __init__(self, registry: DeviceLookup) -> None:
        self._registry = registry

    def existing(self, device_ids: Sequence[str]) -> set[str]:
        return {
            device_id
            for device_id in dict.fromkeys(device_ids)
            if self._registry.find_by_device_id(device_id) is not None
        }
