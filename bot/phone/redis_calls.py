"""The calls in progress and the replay guard on Redis, shared by several Rasa instances (see
:mod:`bot.phone.calls`).

Keys, under a prefix (``lorex:phone:``):

* ``call:<CallSid>``: a hash, ``state`` (the call's record as JSON, :meth:`Call.to_record`) and
  ``version`` (one more at each save); kept :data:`CALL_KEPT_SECONDS` after the last save;
* ``call:<CallSid>:pending``: the messages pushed while the caller is on hold, a list (appended
  to by any instance, with no lock: a push is one script), living as long as the call;
* ``call:<CallSid>:password``: the revealed temporary password kept for repeating, encrypted with
  AES-GCM under a key derived from ``VAULT_KEY`` (as :mod:`bot.handoff.redis_vault` does; Redis
  never sees the key), bound to the CallSid, expiring when the password stops being valid;
* ``request:<signature>``: the idempotency token of a request answered, for an hour, set with
  ``SET NX PX GET``: one command, so of two instances that see a request at once one sees it
  first;
* ``ended:<CallSid>``: a day;
* ``call-lock:<CallSid>``: the owner of the call's lock (:mod:`bot.phone.call_lock`), for a few
  seconds, renewed by its holder.

A save is one script: it stores the state only if the version is still the one loaded and the
call has not ended, trims the pushed messages the request spoke, and writes or removes the
password.
"""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime
from typing import Any

import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.phone.call_state import (
    CALL_KEPT_SECONDS,
    ENDED_REMEMBERED_SECONDS,
    RECORD_FORMAT,
    REQUESTS_REMEMBERED_SECONDS,
    Call,
    Seen,
    utc_now,
)
from bot.settings import VAULT_KEY_BYTES as KEY_BYTES

logger = logging.getLogger(__name__)

DEFAULT_PREFIX = "lorex:phone:"
NONCE_BYTES = 12

# KEYS: the call, its end, its messages, its password. ARGV: the version loaded, the record, the
# call's lifetime (ms), how many messages were spoken, the sealed password ('' for none), its
# lifetime (ms). 1 if saved, 0 if the call changed or ended since it was loaded.
_SAVE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'version', tonumber(ARGV[1]) + 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local spoken = tonumber(ARGV[4])
if spoken > 0 then redis.call('LTRIM', KEYS[3], spoken, -1) end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if ARGV[5] == '' then
  redis.call('DEL', KEYS[4])
else
  redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[6])
end
return 1
"""
# KEYS: the call, its messages. ARGV: the message. Appends it only to a call in progress, for as
# long as the call lives.
_PUSH = """
local lifetime = redis.call('PTTL', KEYS[1])
if lifetime <= 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], lifetime)
return 1
"""
# KEYS: the lock. ARGV: the owner, its lifetime (ms).
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisCalls:
    """:class:`~bot.phone.calls.CallStore` on Redis, for several instances."""

    def __init__(
        self,
        client: redis.Redis,
        key: bytes,
        *,
        prefix: str = DEFAULT_PREFIX,
        requests_remembered: float = REQUESTS_REMEMBERED_SECONDS,
        ended_remembered: float = ENDED_REMEMBERED_SECONDS,
    ) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the vault's key must be {KEY_BYTES} bytes")
        # A key of its own, derived from VAULT_KEY: a sealed password never opens as a deposit.
        derived = HKDF(
            algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"lorex call password"
        ).derive(key)
        self._cipher = AESGCM(derived)
        self._redis = client
        self._prefix = prefix
        self._requests_ms = _ms(requests_remembered)
        self._ended_ms = _ms(ended_remembered)
        self._save = client.register_script(_SAVE)
        self._push = client.register_script(_PUSH)
        self._renew = client.register_script(_RENEW)
        self._unlock = client.register_script(_UNLOCK)

    def seen(self, signature: str, idempotency_token: str) -> Seen:
        first_token = self._redis.set(
            self._key("request", signature),
            idempotency_token,
            nx=True,
            px=self._requests_ms,
            get=True,
        )
        if first_token is None:
            return Seen.FIRST
        if idempotency_token and idempotency_token == first_token.decode():
            return Seen.RETRY
        return Seen.REPLAY

    def has_ended(self, sid: str) -> bool:
        return bool(self._redis.exists(self._key("ended", sid)))

    def get(self, sid: str) -> Call | None:
        call_key = self._key("call", sid)
        with self._redis.pipeline(transaction=True) as load:
            load.hmget(call_key, "state", "version")
            load.lrange(call_key + ":pending", 0, -1)
            load.get(call_key + ":password")
            (state, version), pending, sealed = load.execute()
        if state is None:
            return None
        record = json.loads(state)
        if record.get("format") != RECORD_FORMAT:
            logger.warning("phone: a call stored in another shape is treated as unknown")
            return None
        call = Call.from_record(record)
        call.version = int(version)
        call.pending = [json.loads(message) for message in pending]
        call.password = None if sealed is None else self._opened(sealed, sid)
        if not call.keeps_password(utc_now()):
            call.password = call.password_until = None
        return call

    def start(self, sid: str, caller: str | None) -> Call:
        if self.has_ended(sid):
            raise ValueError("an ended call cannot start again")
        return Call(sid, caller)

    def save(self, call: Call) -> bool:
        record = call.to_record()
        sealed, password_ms = b"", 0
        if call.password is not None and call.password_until is not None:
            password_ms = min(_ms_until(call.password_until), _ms(CALL_KEPT_SECONDS))
            if password_ms > 0:
                sealed = self._sealed(call.password, call.sid)
        if not sealed:
            record["password_until"] = None
        call_key = self._key("call", call.sid)
        saved = self._save(
            keys=[
                call_key,
                self._key("ended", call.sid),
                call_key + ":pending",
                call_key + ":password",
            ],
            args=[
                str(call.version),
                json.dumps(record),
                _ms(CALL_KEPT_SECONDS),
                call.pending_taken,
                sealed,
                password_ms,
            ],
        )
        return bool(saved)

    def push(self, sid: str, message: dict[str, Any]) -> bool:
        call_key = self._key("call", sid)
        pushed = self._push(keys=[call_key, call_key + ":pending"], args=[json.dumps(message)])
        return bool(pushed)

    def end(self, sid: str) -> None:
        call_key = self._key("call", sid)
        with self._redis.pipeline(transaction=True) as end:
            end.set(self._key("ended", sid), 1, px=self._ended_ms)
            end.delete(call_key, call_key + ":pending", call_key + ":password")
            end.execute()

    def lock(self, sid: str, owner: str, lifetime: float) -> bool:
        return bool(self._redis.set(self._key("call-lock", sid), owner, nx=True, px=_ms(lifetime)))

    def renew(self, sid: str, owner: str, lifetime: float) -> bool:
        return bool(self._renew(keys=[self._key("call-lock", sid)], args=[owner, _ms(lifetime)]))

    def unlock(self, sid: str, owner: str) -> None:
        self._unlock(keys=[self._key("call-lock", sid)], args=[owner])

    def close(self) -> None:
        self._redis.close()

    def _key(self, kind: str, name: str) -> str:
        return f"{self._prefix}{kind}:{name}"

    def _sealed(self, password: str, sid: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, password.encode(), _bound_to(sid))

    def _opened(self, sealed: bytes, sid: str) -> str | None:
        try:
            nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
            opened = self._cipher.decrypt(nonce, ciphertext, _bound_to(sid))
        except InvalidTag:
            # Another VAULT_KEY (an instance set up differently), or altered on Redis.
            logger.error("phone: a call's kept password did not open (check VAULT_KEY)")
            return None
        return opened.decode()


def _bound_to(sid: str) -> bytes:
    return json.dumps(["call password", sid]).encode()


def _ms(seconds: float) -> int:
    return max(1, math.floor(seconds * 1000))


def _ms_until(moment: datetime) -> int:
    return math.floor((moment - utc_now()).total_seconds() * 1000)
