"""One request of a call at a time, on whichever instance: the call's lock in its store.

Why a lock, and not only an optimistic check: between loading a call and saving it, a request
does what cannot be done twice or merged afterwards (a dialogue turn, a Device ID check counted,
the password taken out of the vault). Two requests of one call racing (Twilio's status callback
and a gather, or Twilio's retry of a request still being answered) must therefore wait for each
other, not find out at the end that one of them was wasted. Waiting also gives a retry the answer
of the request it repeats, once that is saved. The version check of
:meth:`~bot.phone.calls.CallStore.save` stays, as a fence for a holder that outlived its lock.

The lock lives :data:`LOCK_LIFETIME` seconds and its holder renews it every third of that while
it works, so a dead instance (SIGKILL) holds up its calls only that long: then Twilio's retry,
on another instance, takes the lock and answers. A request that cannot get the lock within
:data:`LOCK_WAIT` (under Twilio's 15 s) gives up with :class:`CallBusy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from bot.phone.calls import CallStore

logger = logging.getLogger(__name__)

LOCK_LIFETIME = 5.0  # seconds
LOCK_WAIT = 12.0  # seconds
LOCK_POLL = 0.02  # seconds between two tries while waiting (a request takes milliseconds)


class CallBusy(Exception):
    """Another request of the call held its lock for longer than a request may wait."""


@contextlib.asynccontextmanager
async def holding(
    store: CallStore,
    sid: str,
    *,
    lifetime: float | None = None,
    wait: float | None = None,
) -> AsyncIterator[None]:
    """Hold ``sid``'s lock (waiting for it, up to ``wait`` seconds) for the ``async with``
    (default: :data:`LOCK_LIFETIME` and :data:`LOCK_WAIT`, read at the call)."""
    lifetime = LOCK_LIFETIME if lifetime is None else lifetime
    wait = LOCK_WAIT if wait is None else wait
    owner = secrets.token_hex(8)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + wait
    while not store.lock(sid, owner, lifetime):
        if loop.time() >= give_up:
            raise CallBusy(sid)
        await asyncio.sleep(LOCK_POLL)
    renewing = asyncio.create_task(_renew(store, sid, owner, lifetime))
    try:
        yield
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        store.unlock(sid, owner)


async def _renew(store: CallStore, sid: str, owner: str, lifetime: float) -> None:
    while True:
        await asyncio.sleep(lifetime / 3)
        if not store.renew(sid, owner, lifetime):
            # (Its save is then refused if another request saved meanwhile.)
            logger.warning("phone: a request lost its call's lock (the event loop stalled)")
            return
