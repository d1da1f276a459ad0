"""Putting the temporary password into the message that delivers it, at the last moment.

The assistant's message (and so the tracker store) holds only a reference::

    {"custom": {"data": {"type": "temporary_password",
                         "temporary_password": {"reference": "..."}}}}

:func:`reveal` is what an output channel calls just before handing the message to
``recipient_id``: it takes the password out of the vault (once) and returns a copy of the message
carrying the value (and its reference, which is no secret). A reference that was already used,
has expired, or belongs to another conversation is sent as ``{"unavailable": true}``, and the
user is told to ask for a new one.

:func:`deliver_once` is the same for a channel that learns whether the message arrived (the web
chat's socket answers for each message): the password is lent by the vault while the message is
on its way, and counts as given (taken from the vault, recorded as delivered) only if it arrived;
otherwise it stays for the next try, and nobody else gets it meanwhile.

The Rasa process records each reveal in the product database (:func:`process_outbox`, set up
by the REST and handoff channels as the server starts), so the agent console says "delivered"
only once the value was handed over. The channel is named by the caller, or read from the
conversation id's shape (each channel's ids are its own: :mod:`bot.conversation_ids`).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot.bootstrap import rasa_process
from bot.channels.chat_sessions import CONVERSATION_PREFIX
from bot.handoff.delivery import KeptMessage, Outbox
from bot.handoff.vault import Deposit, PasswordVault

logger = logging.getLogger(__name__)

# A phone call's conversation id is its CallSid (bot/channels/phone.py).
PHONE_CALL_SID = re.compile(r"CA[0-9a-f]{32}")

_outbox: Outbox | None = None


def process_outbox() -> Outbox:
    """The Rasa process's outbox in the product database; from now on, reveals are recorded.

    Until it is first called (unit tests of :func:`reveal`), nothing is recorded.
    """
    global _outbox
    if _outbox is None:
        _outbox = rasa_process().outbox
    return _outbox


def stop_recording() -> None:
    """Forget the process's outbox (its services were dropped: bot.bootstrap)."""
    global _outbox
    _outbox = None


def channel_of(conversation_id: str) -> str:
    if conversation_id.startswith(CONVERSATION_PREFIX):
        return "socketio"
    if PHONE_CALL_SID.fullmatch(conversation_id):
        return "phone"
    return "rest"


def password_reference(message: dict[str, Any]) -> str | None:
    data = (message.get("custom") or {}).get("data")
    if not isinstance(data, dict) or data.get("type") != "temporary_password":
        return None
    reference = (data.get("temporary_password") or {}).get("reference")
    return reference if isinstance(reference, str) else None


def reveal(
    message: dict[str, Any],
    recipient_id: str,
    vault: PasswordVault | None = None,
    *,
    channel: str | None = None,
) -> dict[str, Any]:
    """``message`` with its password taken out of ``vault`` (default: the process's)."""
    reference = password_reference(message)
    if reference is None:
        return message
    vault = vault if vault is not None else rasa_process().vault
    deposit = vault.take(reference, recipient_id)
    _record(reference, recipient_id, deposit is not None, channel or channel_of(recipient_id))
    return _revealed(message, reference, deposit)


async def deliver_once(
    message: dict[str, Any],
    recipient_id: str,
    send: Callable[[dict[str, Any]], Awaitable[bool]],
    vault: PasswordVault | None = None,
    *,
    channel: str | None = None,
) -> bool:
    """``send`` ``message`` (its password revealed) and say whether it arrived, as ``send`` says.

    The password counts as given, and the delivery is recorded, only if it arrived; otherwise it
    stays in the vault for the next try.
    """
    reference = password_reference(message)
    if reference is None:
        return await send(message)
    vault = vault if vault is not None else rasa_process().vault
    # (In a thread: on Redis each is a round trip.)
    deposit = await asyncio.to_thread(vault.lend, reference, recipient_id)
    arrived = False
    try:
        arrived = await send(_revealed(message, reference, deposit))
    finally:
        if deposit is not None:
            await asyncio.to_thread(vault.settle, reference, given=arrived)
    if arrived:
        await asyncio.to_thread(
            _record,
            reference,
            recipient_id,
            deposit is not None,
            channel or channel_of(recipient_id),
        )
    return arrived


def _revealed(message: dict[str, Any], reference: str, deposit: Deposit | None) -> dict[str, Any]:
    revealed = copy.deepcopy(message)
    data = revealed["custom"]["data"]
    if deposit is None:
        data["temporary_password"] = {"unavailable": True}
    else:
        data["temporary_password"] = {
            "value": deposit.password.value,
            "expires_at": deposit.expires_at.isoformat(),
            "reference": reference,  # the widget holds it by this (asked again, re-released)
        }
    return revealed


async def keep_for_later(conversation_id: str, message: dict[str, Any], channel: str) -> None:
    """Keep ``message``, as the output channel was given it, for a user who is not connected
    (a web chat with no open socket); a password in it now waits for them."""
    await asyncio.to_thread(
        process_outbox().keep,
        conversation_id,
        [copy.deepcopy(message)],
        channel=channel,
        release_reference=password_reference(message),
    )


async def kept_for(conversation_id: str) -> list[KeptMessage]:
    """What :func:`keep_for_later` kept for ``conversation_id``, oldest first; kept until
    :func:`arrived` says it reached the user."""
    return await asyncio.to_thread(process_outbox().kept, conversation_id)


async def arrived(kept: KeptMessage) -> None:
    """A kept message reached its user: it is kept no longer."""
    await asyncio.to_thread(process_outbox().drop, [kept.id])


def _record(reference: str, recipient_id: str, delivered: bool, channel: str) -> None:
    if _outbox is None:
        return
    try:
        _outbox.record(reference, recipient_id, delivered=delivered, channel=channel)
    except Exception:  # the user has the password; only the console's view of it is behind
        logger.exception("could not record a temporary password's delivery (%s)", channel)
