"""A user's turn that a part of the product failed: it ends there, whole, and nothing of it is kept.

Rasa carries on when a part fails mid-turn: its tracker store wrapper (``FailSafeTrackerStore``)
answers a failed read with a fresh, empty conversation and keeps a failed write in memory only,
and its processor logs a failed action and goes on predicting without the action's events. The
user then gets an answer to a turn that was never stored, or "Sorry, I didn't catch that" in
place of a session start.

Inside a channel's turn (:func:`channel_turn`, entered by ``bot.channels.turns``), the tracker
store and the action-call path raise :class:`TurnFailed` instead. It is a ``BaseException``, as
asyncio's ``CancelledError`` is, so that none of Rasa's catch-alls (``except Exception``) stops
it: it ends the turn before anything is saved, and the channel's turn wrapper answers the user
and logs the part that failed. Outside a channel turn (Rasa's HTTP API, used by the agent
console), errors stay ordinary exceptions, and Rasa's API answers them with an error status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_in_channel_turn: ContextVar[bool] = ContextVar("lorex_in_channel_turn", default=False)


class TurnFailed(BaseException):
    """A part the turn needed failed: ``part`` names it for the operator, ``reason`` says how.
    Neither holds anything the user wrote."""

    def __init__(self, part: str, reason: str) -> None:
        super().__init__(f"{part}: {reason}")
        self.part = part
        self.reason = reason


@contextmanager
def channel_turn() -> Iterator[None]:
    """The block is a user's turn on a channel, which answers a :class:`TurnFailed`."""
    token = _in_channel_turn.set(True)
    try:
        yield
    finally:
        _in_channel_turn.reset(token)


def in_channel_turn() -> bool:
    return _in_channel_turn.get()


def end_turn_if_in_one(part: str, error: BaseException) -> None:
    """Inside a channel turn, raises :class:`TurnFailed` for ``error`` (a failure of ``part``);
    outside one, returns, and the caller raises ``error`` as it would have."""
    if in_channel_turn():
        raise TurnFailed(part, describe(error)) from error


def describe(error: BaseException) -> str:
    """What went wrong, for a log line: the kind of error and its short cause, never a message
    that can carry the conversation (a SQL error's text holds the statement's parameters)."""
    chain = [error]
    while len(chain) < 5 and (chain[-1].__cause__ or chain[-1].__context__):
        chain.append(chain[-1].__cause__ or chain[-1].__context__)  # type: ignore[arg-type]
    for cause in chain:
        if _is_database_error(cause):
            original = getattr(cause, "orig", None)
            detail = str(original).splitlines()[0][:120] if original is not None else ""
            return f"{type(original or cause).__name__}: {detail}".rstrip(": ")
        status = getattr(cause, "status", None)
        if isinstance(status, int):
            return f"answered with status {status}"
        if isinstance(cause, asyncio.TimeoutError):
            return "no answer in time"
    return " < ".join(type(cause).__name__ for cause in chain[:3])


def _is_database_error(error: BaseException) -> bool:
    # SQLAlchemy's DBAPIError, without importing SQLAlchemy here.
    return hasattr(error, "orig") and hasattr(error, "statement")
