"""Case codes: short references a person can read out on the phone, e.g. ``LX-4K7Q9M``.

The alphabet leaves out characters that look or sound alike (0/O, 1/I/L, 5/S, 8/B), so a code
read from a screen or heard on a call is typed back correctly. Codes are random, not sequential:
they must not reveal how many cases exist or let someone guess a neighbour's case.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

CASE_CODE_PREFIX = "LX-"
CASE_CODE_ALPHABET = "234679ACDEFGHJKMNPQRTUVWXYZ"
CASE_CODE_LENGTH = 6  # 27**6: about 387 million codes

CASE_CODE_RE = re.compile(
    rf"^{re.escape(CASE_CODE_PREFIX)}[{CASE_CODE_ALPHABET}]{{{CASE_CODE_LENGTH}}}$"
)

CodeGenerator = Callable[[], str]


def new_case_code() -> str:
    """A random case code; uniqueness is the store's job (it retries on a collision)."""
    body = "".join(secrets.choice(CASE_CODE_ALPHABET) for _ in range(CASE_CODE_LENGTH))
    return CASE_CODE_PREFIX + body


def normalise_case_code(text: str) -> str:
    """A code as people type it (``lx 4k7q9m``, ``4K7-Q9M``) in its stored form ``LX-4K7Q9M``.

    Text that cannot be a case code comes back upper-cased and compacted, so that a lookup
    simply finds nothing.
    """
    compact = re.sub(r"[\s\-_.]", "", text).upper()
    prefix = CASE_CODE_PREFIX.rstrip("-")
    if compact.startswith(prefix) and len(compact) == len(prefix) + CASE_CODE_LENGTH:
        compact = compact[len(prefix) :]
    if len(compact) == CASE_CODE_LENGTH:
        return CASE_CODE_PREFIX + compact
    return compact


def is_case_code(text: str) -> bool:
    return CASE_CODE_RE.match(text) is not None
