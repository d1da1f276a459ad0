"""Checks on a chat message's text before it reaches the dialogue."""

from __future__ import annotations


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a message, or None when it can.

    JSON may carry a lone surrogate (``"\\ud800"``), which no encoder can write: NLU, the
    tracker store and the logs would fail on it.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the message is not valid Unicode text (it contains a lone surrogate)"
    return None
