"""A small pool that decodes label photos, and a short queue in front of it.

Decoding a photo takes a core and tens of megabytes for a second or so. The Rasa server must
keep answering chats meanwhile, so only ``workers`` photos decode at once, ``waiting`` more may
wait their turn, and beyond that the caller is told to come back (:class:`Busy`) instead of
piling up memory and latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Result = TypeVar("Result")

DEFAULT_WORKERS = 2  # about a core each
DEFAULT_WAITING = 6


class Busy(Exception):
    """Every worker is decoding and the queue is full."""


class DecodeQueue:
    def __init__(self, workers: int = DEFAULT_WORKERS, waiting: int = DEFAULT_WAITING) -> None:
        self.workers = workers
        self.capacity = workers + waiting
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="label-photo")
        # Touched only from the event loop's thread, so no lock.
        self._admitted = 0

    async def run(self, work: Callable[[], Result]) -> Result:
        """``work()``'s result, run on one of the workers; :class:`Busy` when full."""
        if self._admitted >= self.capacity:
            raise Busy
        self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            self._admitted -= 1
