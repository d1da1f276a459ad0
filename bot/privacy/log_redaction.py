"""Keeping what users type out of Rasa's logs.

Rasa 3.6 logs a user's message in full when handling it fails (``rest.message.received.failure
text=...``), and its JSON tracebacks list every frame's local variables, the message's text among
them. A password typed into the chat would then sit in the server log. Rasa's logging is
structlog, configured once at start-up; two changes to its processor chain close that:

- first in the chain, a processor that replaces the values of the keys Rasa puts user text
  under (the keys Rasa's own anonymizer lists: ``text``, ``user_message``, ``slot_values`` ...);
- the JSON renderer's traceback processor is replaced by the same one without local variables.

(Rasa's anonymization plugin hook would cover the first, but Rasa then also reloads the tracker
from the store at every turn to anonymize its events for an event broker we do not have.)

Errors keep their event name, exception type, message and frames: enough to find the fault.
"""

from __future__ import annotations

import threading
from typing import Any

import structlog
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer

REDACTED = "[redacted]"
# rasa/utils/log_utils.py's _anonymizer keys: where Rasa's log events carry what users said.
USER_TEXT_KEYS = frozenset(
    {
        "text",
        "response_text",
        "user_text",
        "slot_values",
        "parse_data_text",
        "parse_data_entities",
        "prediction_events",
        "tracker_latest_message",
        "prefilled_slots",
        "message",
        "response",
        "slot_candidates",
        "rasa_event",
        "rasa_events",
        "tracker_states",
        "current_states",
        "old_states",
        "successes",
        "current_entity",
        "next_entity",
        "states",
        "entity",
        "token_text",
        "user_message",
        "json_message",
    }
)

_lock = threading.Lock()


def redact_user_text(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: user text out, everything else as it was."""
    for key in USER_TEXT_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


def redact_user_text_in_logs() -> None:
    """Change the structlog chain Rasa configured (idempotent); call in a process once Rasa has
    configured its logging."""
    with _lock:
        # Changed in place: loggers Rasa has already used keep a reference to this very list.
        processors: list[Any] = structlog.get_config()["processors"]
        if redact_user_text not in processors:
            processors.insert(0, redact_user_text)
        for index, processor in enumerate(processors):
            if processor is structlog.processors.dict_tracebacks:
                processors[index] = ExceptionRenderer(ExceptionDictTransformer(show_locals=False))
