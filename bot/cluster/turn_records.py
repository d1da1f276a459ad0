"""Each user message processed once, even when it is sent again: the turn records.

A client that did not get its answer sends the same message again with the same key: the web
chat after its socket dropped, Twilio after a webhook failed (``I-Twilio-Idempotency-Token``), the
load balancer after the instance it chose died mid-turn (HAProxy retries on the other one). The
channel makes the key the message's id, ``client:<key>`` (:func:`client_message_id`), and the turn
runs inside :meth:`TurnRecords.turn`:

* the first to come runs it; its replies are recorded when it ends well, before they are sent;
* a copy that comes while it runs waits for it, then sends the recorded replies (not a second
  answer from the dialogue);
* a copy that comes after it ended sends the recorded replies;
* a turn that failed (nothing kept: :mod:`bot.channels.turns`) leaves no record, so its copy runs;
* a turn whose instance died has its claim lapse (not renewed); the copy then runs, told that an
  earlier attempt did not finish (``earlier_attempt``): the dialogue may have kept it already, and
  the channel looks in the conversation's history first (:mod:`bot.channels.turns`).

Records are kept for :data:`REMEMBERED_SECONDS`. In one process they live in memory
(:class:`MemoryTurnRecords`); with several instances, on Redis (:class:`RedisTurnRecords`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)

from bot.cluster.renewal import keep_renewed

CLIENT_PREFIX = "client:"
# What a client may send as a message's key: Twilio's tokens, UUIDs, the widget's random ids.
CLIENT_KEY = re.compile(r"[A-Za-z0-9_.:-]{8,128}")
# How long a message's replies are kept for its copies: longer than any client retries.
REMEMBERED_SECONDS = 3600
MAX_REMEMBERED = 50_000  # in memory, the oldest forgotten first
# A claim not renewed for this long belonged to a dead instance (renewed every third of it).
CLAIM_LIFETIME = 5.0
POLL_SECONDS = 0.05  # while a copy waits for the first to end

Reply = dict[str, Any]  # one output-channel call: {"method": ..., "args": [...], "kwargs": {...}}


def client_message_id(key: object) -> str | None:
    """The message id for a client's key, or None for a missing or malformed one (the message
    is then processed as any other: a bad key costs the client its retries, not its message)."""
    if not isinstance(key, str) or not CLIENT_KEY.fullmatch(key):
        return None
    return CLIENT_PREFIX + key


def is_client_message_id(message_id: object) -> bool:
    return isinstance(message_id, str) and message_id.startswith(CLIENT_PREFIX)


@dataclass
class Turn:
    """A claimed turn. ``replies``: a finished copy's, to send again (nothing else to do);
    otherwise the turn is the caller's to run and :meth:`finish`."""

    replies: list[Reply] | None = None
    earlier_attempt: bool = False
    finished: list[Reply] | None = field(default=None, repr=False)

    def finish(self, replies: list[Reply]) -> None:
        self.finished = replies


class TurnRecords(Protocol):
    def turn(
        self, conversation_id: str, message_id: str
    ) -> contextlib.AbstractAsyncContextManager[Turn]:
        """Claim the message's turn (waiting while another copy runs it); on leaving, record
        what :meth:`Turn.finish` was given, or give the claim up if nothing was."""


class MemoryTurnRecords:
    """Turn records in this process (one instance: a copy can only meet a live first)."""

    def __init__(
        self, *, remembered: float = REMEMBERED_SECONDS, most: int = MAX_REMEMBERED
    ) -> None:
        self._done: OrderedDict[str, tuple[float, list[Reply]]] = OrderedDict()
        self._running: dict[str, asyncio.Event] = {}
        self._remembered = remembered
        self._most = most

    @contextlib.asynccontextmanager
    async def turn(self, conversation_id: str, message_id: str) -> AsyncIterator[Turn]:
        key = f"{conversation_id}\n{message_id}"
        while key in self._running:
            await self._running[key].wait()
        self._forget_old()
        if key in self._done:
            yield Turn(replies=self._done[key][1])
            return
        ended = self._running[key] = asyncio.Event()
        turn = Turn()
        try:
            yield turn
        finally:
            if turn.finished is not None:
                self._done[key] = (time.monotonic() + self._remembered, turn.finished)
            del self._running[key]
            ended.set()

    def _forget_old(self) -> None:
        now = time.monotonic()
        while self._done and (
            len(self._done) > self._most or next(iter(self._done.values()))[0] < now
        ):
            self._done.popitem(last=False)


# KEYS: the claim, the record, the attempts. ARGV: the holder's token, the claim's lifetime (ms),
# the records' expiry (s). The finished turn's record; or the claim, taken, with its attempt's
# number; or "busy" (another copy holds it).
_CLAIM = """
local replies = redis.call('GET', KEYS[2])
if replies then return {'done', replies} end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'busy'} end
local tries = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return {'claimed', tries}
"""
# KEYS: the claim. ARGV: the holder's token, lifetime (ms). Renews the claim if still held.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: the claim, the record, the attempts. ARGV: the holder's token, replies (JSON), expiry (s).
_FINISH = """
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('DEL', KEYS[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""
# KEYS: the claim, the attempts. ARGV: the holder's token. A failed turn: its copy starts afresh.
_GIVE_UP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('DECR', KEYS[2])
end
return 1
"""


class RedisTurnRecords:
    """Turn records on Redis, shared by every instance."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        remembered: int = REMEMBERED_SECONDS,
        claim_lifetime: float = CLAIM_LIFETIME,
        poll: float = POLL_SECONDS,
        prefix: str = "lorex:turn:",
        holder: str = "",
    ) -> None:
        self._redis = client
        self._remembered = remembered
        self._lifetime_ms = int(claim_lifetime * 1000)
        self._renew_every = claim_lifetime / 3
        self._poll = poll
        self._prefix = prefix
        # Who holds a claim, in its value (``<holder>:<random>``): which instance works on a turn.
        self._holder = holder
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._finish = client.register_script(_FINISH)
        self._give_up = client.register_script(_GIVE_UP)

    @contextlib.asynccontextmanager
    async def turn(self, conversation_id: str, message_id: str) -> AsyncIterator[Turn]:
        base = f"{self._prefix}{{{conversation_id}}}:{message_id}"
        claim, record, attempts = f"{base}:claim", f"{base}:done", f"{base}:attempts"
        token = f"{self._holder}:{secrets.token_hex(8)}"
        while True:
            # One script: the record if the turn is done, else the claim and its attempt number
            # together (a copy must never find a claim whose attempt was not counted).
            outcome = await asyncio.to_thread(
                self._claim,
                keys=[claim, record, attempts],
                args=[token, self._lifetime_ms, self._remembered],
            )
            if outcome[0] == b"done":
                yield Turn(replies=json.loads(outcome[1]))
                return
            if outcome[0] == b"claimed":
                tries = int(outcome[1])
                break
            await asyncio.sleep(self._poll)
        turn = Turn(earlier_attempt=tries > 1)
        renewing = asyncio.create_task(
            keep_renewed(
                lambda: bool(self._renew(keys=[claim], args=[token, self._lifetime_ms])),
                self._renew_every,
                "a turn's claim",
            )
        )
        try:
            yield turn
        finally:
            renewing.cancel()
            if turn.finished is not None:
                await asyncio.to_thread(
                    self._finish,
                    keys=[claim, record, attempts],
                    args=[token, json.dumps(turn.finished), self._remembered],
                )
            else:
                await asyncio.to_thread(self._give_up, keys=[claim, attempts], args=[token])
