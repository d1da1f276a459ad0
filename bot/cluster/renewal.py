"""Keeping a claim on Redis alive while its holder works (a conversation's lock, a turn's claim).

A claim lives a short time unless renewed, so that one whose holder died (SIGKILL) lapses on its
own; the holder renews it every third of that time while it works."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)

logger = logging.getLogger(__name__)


async def keep_renewed(renew: Callable[[], bool], every: float, what: str) -> None:
    """Call ``renew`` (off the event loop) every ``every`` seconds until cancelled, or until it
    says the claim was lost (False): then it is too late, and said, since it should not be (the
    event loop was held up longer than the claim's lifetime)."""
    while True:
        await asyncio.sleep(every)
        try:
            held = await asyncio.to_thread(renew)
        except redis.RedisError as error:  # the next renewal may get through
            logger.warning("Could not renew %s: %s", what, type(error).__name__)
            continue
        if not held:
            logger.error("%s lapsed while its holder worked; another may hold it now", what)
            return
