"""Web chat sessions: a secret token the server issues, and the conversation it opens.

Whoever holds a web chat's session token is that visitor: its sockets join the conversation's
room (replies, pushes, the temporary password) and write into it. So the token is a bearer
secret, kept apart from the conversation id, which is not secret (the agent console, the
databases, Rasa's API and logs carry it):

- token: 128 random bits, then their HMAC-SHA256 (first 128 bits) under the server's key, in
  lowercase hex (64 characters). Any instance with the key checks one without a lookup; an id
  it did not issue (guessed, short, malformed, forged, an old widget's own, or a conversation
  id) is never confirmed.
- conversation id: ``web-`` and the token's random half. Knowing it gives nothing: the MAC
  cannot be computed from it.

The key: ``CHAT_SESSION_SECRET`` from the environment (set the same value on every instance),
else one generated on first start and kept in ``var/chat-session.key`` (mode 0600), so that a
restart does not end every visitor's chat.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from bot.content import REPO_ROOT
from bot.settings import MIN_CHAT_SESSION_SECRET

logger = logging.getLogger(__name__)

KEY_FILE = REPO_ROOT / "var" / "chat-session.key"
MIN_SECRET_LENGTH = MIN_CHAT_SESSION_SECRET
RANDOM_BYTES = 16
MAC_BYTES = 16
TOKEN_LENGTH = 2 * (RANDOM_BYTES + MAC_BYTES)
_HEX = frozenset("0123456789abcdef")
CONVERSATION_PREFIX = "web-"  # web chat conversations; the REST channel may not use it
_PURPOSE = b"lorex web chat session id\x00"  # keeps these MACs apart from any other use of a key


class SessionTokens:
    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_SECRET_LENGTH:
            raise ValueError(f"a session key has at least {MIN_SECRET_LENGTH} bytes")
        self._key = key

    def issue(self) -> str:
        nonce = secrets.token_hex(RANDOM_BYTES)
        return nonce + self._mac(nonce)

    def conversation_of(self, candidate: object) -> str | None:
        """The conversation ``candidate`` opens, or None when this server did not issue it."""
        if not isinstance(candidate, str) or not self.is_issued(candidate):
            return None
        return conversation_id_of(candidate)

    def is_issued(self, candidate: object) -> bool:
        if not isinstance(candidate, str) or len(candidate) != TOKEN_LENGTH:
            return False
        if not _HEX.issuperset(candidate):
            return False
        nonce, mac = candidate[: 2 * RANDOM_BYTES], candidate[2 * RANDOM_BYTES :]
        return hmac.compare_digest(self._mac(nonce), mac)

    def _mac(self, nonce: str) -> str:
        digest = hmac.new(self._key, _PURPOSE + nonce.encode("ascii"), hashlib.sha256)
        return digest.digest()[:MAC_BYTES].hex()


def conversation_id_of(token: str) -> str:
    """The (not secret) conversation id of a session token."""
    return CONVERSATION_PREFIX + token[: 2 * RANDOM_BYTES]


def session_key(secret: str, key_file: Path = KEY_FILE) -> bytes:
    """The key: ``secret`` (``CHAT_SESSION_SECRET``, checked by bot.settings) when set, else the
    one kept in ``key_file`` (made once)."""
    if secret:
        return secret.encode("utf-8")
    return _kept_key(key_file)


def _kept_key(key_file: Path) -> bytes:
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        # Written whole under another name, then linked: a reader never sees half a key, and of
        # two processes starting at once, the first link wins and both read its key.
        draft = key_file.with_name(f".{key_file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(draft, key_file)
        finally:
            draft.unlink()
    mode = stat.S_IMODE(key_file.stat().st_mode)
    if mode & 0o077:
        logger.warning("%s was readable by others (mode %o): set to 0600", key_file, mode)
        os.chmod(key_file, 0o600)
    key = key_file.read_text().strip()
    if len(key) < MIN_SECRET_LENGTH:
        raise ValueError(f"{key_file} holds no usable key: delete it to have a new one made")
    return key.encode("utf-8")
