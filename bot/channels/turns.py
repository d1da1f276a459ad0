"""How many user turns the Rasa server works on at once.

Rasa runs every turn as a task on one event loop (one core), and a turn lets the others run each
time it waits for the action server. Under a burst, each of those waits puts the rest of the turn
at the back of a queue holding every other turn in progress: a turn that calls the action server
twice waits in line three times, and the slowest turns were twice the median (``make bench``).
With only a few turns in progress, the core is just as busy (one turn computes while another
waits for the action server) and the others wait once, in the order they came, before they
start. Below the limit nothing changes.

The chat and phone channels pass their turns through :func:`limit_turns`; ``RASA_TURNS_AT_ONCE``
sets the limit.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

# Two: one turn computes while the other waits for the action server. Measured (make bench
# load, REST): 2 gave the best median and tail at 10 and 50 conversations, then 3, then 4.
DEFAULT_TURNS_AT_ONCE = 2

T = TypeVar("T")

_in_progress: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def turns_at_once() -> int:
    value = os.environ.get("RASA_TURNS_AT_ONCE", "").strip()
    if not value:
        return DEFAULT_TURNS_AT_ONCE
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"RASA_TURNS_AT_ONCE must be a whole number of at least 1, not {value!r}")
    return int(value)


def _semaphore(limit: int) -> asyncio.Semaphore:
    # One per event loop, shared by every channel of the server (tests run several loops).
    loop = asyncio.get_running_loop()
    semaphore = _in_progress.get(loop)
    if semaphore is None:
        semaphore = _in_progress[loop] = asyncio.Semaphore(limit)
    return semaphore


def limit_turns(handle: Callable[[T], Awaitable[Any]]) -> Callable[[T], Awaitable[Any]]:
    """``handle`` (a channel's ``on_new_message``), run for at most ``RASA_TURNS_AT_ONCE`` turns
    at once; read when the channel starts, so a bad value stops the server with its reason."""
    limit = turns_at_once()

    async def limited(message: T) -> Any:
        async with _semaphore(limit):
            return await handle(message)

    return limited
