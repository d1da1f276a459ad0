"""Where temporary passwords come from, and how they are kept (hashed only).

Two providers, chosen by ``TEMP_PASSWORD_PROVIDER``:

``generator``
    draws a strong, readable code: no characters people confuse when reading or typing them
    (0/O, 1/I/L, 2/Z, 5/S, 8/B). Length ``TEMP_PASSWORD_LENGTH`` (default 10) and alphabet
    ``TEMP_PASSWORD_ALPHABET`` are configurable.
``manual``
    takes the code the agent pastes from the vendor's own tool.
"""

from __future__ import annotations

import math
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

READABLE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
DEFAULT_LENGTH = 10
# Enough guesses to outlast a day's validity many times over, even offline against the hash.
MIN_ENTROPY_BITS = 40
MANUAL_LENGTH = range(4, 65)


class PasswordInputError(ValueError):
    """The agent's input for a temporary password cannot be used; the message says why."""


@dataclass(frozen=True)
class TemporaryPassword:
    """A released password in memory. Its repr never shows the value (logs, tracebacks)."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "TemporaryPassword(****)"


class PasswordProvider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def needs_agent_input(self) -> bool: ...

    def issue(self, agent_input: str | None) -> TemporaryPassword: ...


@dataclass(frozen=True)
class GeneratedPasswords:
    length: int = DEFAULT_LENGTH
    alphabet: str = READABLE_ALPHABET
    name: str = "generator"
    needs_agent_input: bool = False

    def __post_init__(self) -> None:
        if len(set(self.alphabet)) != len(self.alphabet) or len(self.alphabet) < 10:
            raise ValueError("the alphabet needs at least 10 different characters")
        if any(ch not in string.ascii_letters + string.digits for ch in self.alphabet):
            raise ValueError("the alphabet may only hold letters and digits")
        bits = self.length * math.log2(len(self.alphabet))
        if bits < MIN_ENTROPY_BITS:
            raise ValueError(
                f"{self.length} characters from {len(self.alphabet)} give {bits:.0f} bits; "
                f"use at least {MIN_ENTROPY_BITS}"
            )

    def issue(self, agent_input: str | None = None) -> TemporaryPassword:
        return TemporaryPassword("".join(secrets.choice(self.alphabet) for _ in range(self.length)))


@dataclass(frozen=True)
class ManualPasswords:
    name: str = "manual"
    needs_agent_input: bool = True

    def issue(self, agent_input: str | None) -> TemporaryPassword:
        code = (agent_input or "").strip()
        if not code:
            raise PasswordInputError("paste the temporary password from the vendor's tool")
        if len(code) not in MANUAL_LENGTH:
            raise PasswordInputError(
                f"a temporary password is {MANUAL_LENGTH.start} to {MANUAL_LENGTH.stop - 1} "
                f"characters; this one has {len(code)}"
            )
        if any(ch.isspace() for ch in code) or not code.isprintable():
            raise PasswordInputError(
                "the temporary password contains spaces or invisible characters; "
                "copy only the code itself"
            )
        return TemporaryPassword(code)


def provider_from(environ: Mapping[str, str]) -> PasswordProvider:
    """The provider the environment selects; ValueError names the variable that is wrong."""
    kind = environ.get("TEMP_PASSWORD_PROVIDER", "generator").strip() or "generator"
    if kind == "manual":
        return ManualPasswords()
    if kind != "generator":
        raise ValueError(f"TEMP_PASSWORD_PROVIDER must be 'generator' or 'manual', not {kind!r}")
    raw_length = environ.get("TEMP_PASSWORD_LENGTH", "").strip()
    if raw_length and not raw_length.isdigit():
        raise ValueError(f"TEMP_PASSWORD_LENGTH must be a whole number, not {raw_length!r}")
    try:
        return GeneratedPasswords(
            length=int(raw_length) if raw_length else DEFAULT_LENGTH,
            alphabet=environ.get("TEMP_PASSWORD_ALPHABET", "").strip() or READABLE_ALPHABET,
        )
    except ValueError as exc:
        raise ValueError(f"TEMP_PASSWORD_LENGTH / TEMP_PASSWORD_ALPHABET: {exc}") from exc


class SecretHasher:
    """argon2id hashes of temporary passwords: enough to check one later, useless to read."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: TemporaryPassword) -> str:
        return str(self._hasher.hash(password.value))

    def matches(self, secret_hash: str, candidate: str) -> bool:
        try:
            return bool(self._hasher.verify(secret_hash, candidate))
        except (VerificationError, InvalidHashError):
            return False
