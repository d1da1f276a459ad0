"""Which candidate Device IDs are registered: the registry decides among what was heard."""

from __future__ import annotations

from collections.abc import Sequence

from bot.devices.registry import DeviceRegistry


class RegistryIds:
    """:class:`bot.phone.spoken.RegisteredIds` over the device registry (one query per batch)."""

    def __init__(self, registry: DeviceRegistry) -> None:
        self._registry = registry

    def existing(self, device_ids: Sequence[str]) -> set[str]:
        return self._registry.existing(device_ids)
