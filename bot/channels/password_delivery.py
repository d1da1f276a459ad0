"""Putting the temporary password into the message that delivers it, at the last moment.

The assistant's message (and so the tracker store) holds only a reference::

    {"custom": {"data": {"type": "temporary_password",
                         "temporary_password": {"reference": "..."}}}}

:func:`reveal` is what an output channel calls just before sending to ``recipient_id``: it takes
the password out of the vault (once) and returns a copy of the message carrying the value. A
reference that was already used, has expired, or belongs to another conversation is sent as
``{"unavailable": true}``, and the user is told to ask for a new one.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.handoff.vault import VAULT, PasswordVault


def password_reference(message: dict[str, Any]) -> str | None:
    data = (message.get("custom") or {}).get("data")
    if not isinstance(data, dict) or data.get("type") != "temporary_password":
        return None
    reference = (data.get("temporary_password") or {}).get("reference")
    return reference if isinstance(reference, str) else None


def reveal(
    message: dict[str, Any], recipient_id: str, vault: PasswordVault = VAULT
) -> dict[str, Any]:
    reference = password_reference(message)
    if reference is None:
        return message
    deposit = vault.take(reference, recipient_id)
    revealed = copy.deepcopy(message)
    data = revealed["custom"]["data"]
    if deposit is None:
        data["temporary_password"] = {"unavailable": True}
    else:
        data["temporary_password"] = {
            "value": deposit.password.value,
            "expires_at": deposit.expires_at.isoformat(),
        }
    return revealed
