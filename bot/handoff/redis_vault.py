"""The vault on Redis, shared by several Rasa instances (see :mod:`bot.handoff.vault`).

Each deposit is one hash, ``<prefix>vault:<reference>``, holding:

* ``sealed``: the password and its validity, encrypted with AES-GCM under a key from the
  environment (``VAULT_KEY``) that Redis never sees, bound to the reference and the conversation
  (associated data: a sealed value moved to another key or conversation does not open);
* ``for``: a keyed hash (HMAC-SHA256) of the conversation id, so that Redis can check whose it is
  without holding the id;
* ``lent``: present while a channel waits to learn whether the message arrived: until when (Redis
  time, in milliseconds), :data:`LENT_FOR` after it was lent.

The hash expires after :data:`~bot.handoff.vault.HOLD_FOR` or when the release stops being
valid, whichever comes first. Depositing, taking, lending and settling are each one transaction,
Lua script or command, so two instances asking at the same moment cannot both get it. An
instance with another ``VAULT_KEY`` names conversations differently: it finds nothing, and takes
nothing away from the others.

Every instance must hold the same key. One given ``VAULT_KEY`` checks it when it starts
(:meth:`RedisVault.check_key_is_shared`): it leaves a keyed mark of its key on Redis (which tells
nothing of the key), and refuses to start if the mark there is another key's. The mark lives as
long as a password sealed under it can (:data:`~bot.handoff.vault.HOLD_FOR`, renewed by each
deposit), so a new key is accepted once every password sealed under the old one has expired; to
change the key at once, stop every instance and delete ``lorex:vault:key-check``.

A deposit lent by an instance that dies before settling is out of reach for :data:`LENT_FOR`
(it may have reached the user: a channel learns that within its acknowledgement window), then can
be given again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import secrets
from datetime import datetime

import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.handoff.temporary_password import TemporaryPassword
from bot.handoff.vault import HOLD_FOR, Deposit, utc_now
from bot.settings import VAULT_KEY_BYTES as KEY_BYTES

logger = logging.getLogger(__name__)

NONCE_BYTES = 12
DEFAULT_PREFIX = "lorex:"

# Seconds a lent password stays out of reach unless settled: longer than a channel waits to learn
# whether its message arrived (the web chat's acknowledgement window is under a minute).
LENT_FOR = 120.0

# Whether KEYS[1]'s deposit is lent now (a lend past its time is over: its instance died).
_LENT_NOW = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local function lent_now(deadline)
  return tonumber(deadline or '') ~= nil and tonumber(deadline) > ms
end
"""
# KEYS[1]: the deposit; ARGV[1]: the keyed hash of the asking conversation.
# Gives the sealed value if the deposit is that conversation's and not lent, and removes it.
_TAKE = _LENT_NOW + """
local held = redis.call('HMGET', KEYS[1], 'for', 'lent', 'sealed')
if held[1] ~= ARGV[1] or lent_now(held[2]) then return false end
redis.call('DEL', KEYS[1])
return held[3]
"""
# As _TAKE, but marks it lent (for ARGV[2] milliseconds) instead of removing it.
_LEND = _LENT_NOW + """
local held = redis.call('HMGET', KEYS[1], 'for', 'lent', 'sealed')
if held[1] ~= ARGV[1] or lent_now(held[2]) then return false end
redis.call('HSET', KEYS[1], 'lent', ms + tonumber(ARGV[2]))
return held[3]
"""


def new_vault_key() -> bytes:
    """A key for a process without ``VAULT_KEY`` (:func:`bot.bootstrap.password_vault`)."""
    return secrets.token_bytes(KEY_BYTES)


class RedisVault:
    """:class:`~bot.handoff.vault.PasswordVault` on Redis, for several instances."""

    def __init__(
        self,
        client: redis.Redis,
        key: bytes,
        *,
        hold_for: float = HOLD_FOR,
        prefix: str = DEFAULT_PREFIX,
        lent_for: float = LENT_FOR,
    ) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the vault's key must be {KEY_BYTES} bytes")
        # Two keys from one: one seals, the other names the conversation.
        derived = HKDF(
            algorithm=hashes.SHA256(), length=2 * KEY_BYTES, salt=None, info=b"lorex vault"
        ).derive(key)
        self._cipher = AESGCM(derived[:KEY_BYTES])
        self._naming_key = derived[KEY_BYTES:]
        self._redis = client
        self._hold_for = hold_for
        self._prefix = prefix
        self._take = client.register_script(_TAKE)
        self._lend = client.register_script(_LEND)
        self._key_check = f"{prefix}vault:key-check"
        self._lent_for_ms = math.ceil(lent_for * 1000)

    def check_key_is_shared(self) -> None:
        """Raise ValueError if the instances already on this Redis seal with another key."""
        mark = hmac.new(self._naming_key, b"key check", hashlib.sha256).hexdigest()
        hold_ms = math.ceil(self._hold_for * 1000)
        if self._redis.set(self._key_check, mark, nx=True, px=hold_ms):
            return
        if (self._redis.get(self._key_check) or b"").decode() != mark:
            raise ValueError(
                "VAULT_KEY differs from the key the other Rasa instances on this Redis use: "
                "give every instance the same VAULT_KEY (passwords sealed under one key cannot "
                f"be opened under another). To change it, stop every instance and delete "
                f"{self._key_check} on Redis"
            )
        self._redis.pexpire(self._key_check, hold_ms)

    def deposit(
        self,
        reference: str,
        conversation_id: str,
        password: TemporaryPassword,
        expires_at: datetime,
    ) -> None:
        valid_for = (expires_at - utc_now()).total_seconds()
        lifetime_ms = math.floor(min(self._hold_for, valid_for) * 1000)
        key = self._key(reference)
        with self._redis.pipeline(transaction=True) as deposit:
            deposit.delete(key)  # a new deposit replaces the old one, lent or not
            if lifetime_ms > 0:  # (one already past its validity is not kept at all)
                deposit.hset(
                    key,
                    mapping={
                        "for": self._name(conversation_id),
                        "sealed": self._seal(reference, conversation_id, password, expires_at),
                    },
                )
                deposit.pexpire(key, lifetime_ms)
                # The key's mark lives as long as what was sealed under it.
                deposit.pexpire(self._key_check, math.ceil(self._hold_for * 1000))
            deposit.execute()

    def take(self, reference: str, conversation_id: str) -> Deposit | None:
        sealed = self._take(keys=[self._key(reference)], args=[self._name(conversation_id)])
        return self._opened(sealed, reference, conversation_id)

    def lend(self, reference: str, conversation_id: str) -> Deposit | None:
        sealed = self._lend(
            keys=[self._key(reference)], args=[self._name(conversation_id), self._lent_for_ms]
        )
        return self._opened(sealed, reference, conversation_id)

    def settle(self, reference: str, *, given: bool) -> None:
        key = self._key(reference)
        if given:
            self._redis.delete(key)
        else:
            self._redis.hdel(key, "lent")  # (nothing, if it expired meanwhile)

    def close(self) -> None:
        self._redis.close()

    def _key(self, reference: str) -> str:
        return f"{self._prefix}vault:{reference}"

    def _name(self, conversation_id: str) -> str:
        return hmac.new(self._naming_key, conversation_id.encode(), hashlib.sha256).hexdigest()

    def _seal(
        self,
        reference: str,
        conversation_id: str,
        password: TemporaryPassword,
        expires_at: datetime,
    ) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        content = json.dumps({"password": password.value, "expires_at": expires_at.isoformat()})
        bound_to = _bound_to(reference, conversation_id)
        return nonce + self._cipher.encrypt(nonce, content.encode(), bound_to)

    def _opened(self, sealed: bytes | None, reference: str, conversation_id: str) -> Deposit | None:
        if sealed is None:
            return None
        try:
            content = self._cipher.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _bound_to(reference, conversation_id)
            )
        except InvalidTag:
            logger.error("a temporary password in the vault did not open: it was altered on Redis")
            return None
        fields = json.loads(content)
        return Deposit(
            conversation_id,
            TemporaryPassword(fields["password"]),
            datetime.fromisoformat(fields["expires_at"]),
        )


def _bound_to(reference: str, conversation_id: str) -> bytes:
    return json.dumps([reference, conversation_id]).encode()
