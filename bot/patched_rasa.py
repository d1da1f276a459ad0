"""Rasa's command line with our fixes to Rasa 3.6 applied first.

The Procfile starts the Rasa server as ``python -m bot.patched_rasa run …``; ``python -m
bot.patched_rasa shell`` and ``… test`` run the same fixes. Each fix is here because Rasa 3.6 has
no extension point for it (where one exists, it is used instead: the dialogue is a policy
registered with the recipe, bot.dialogue.rasa_policy, and the fixes to RulePolicy went with it;
the intents that buttons and keys send are parsed by the channels into ``UserMessage.parse_data``,
bot.channels.chat_input.intent_parse_data), and each keeps Rasa's behaviour but one: the action
server is sent fewer events (said below). ``tests/test_patched_rasa.py`` checks each against
Rasa's own code.

Each fix has a name and its own switch: ``RASA_PATCHES`` (bot.settings) lists the ones on, all by
default, so ``RASA_PATCHES=-parse_memo`` runs Rasa's own code for that part alone and
``RASA_PATCHES=none`` runs Rasa unpatched. Every fix was checked against Rasa ``RASA_CHECKED``
only: on another version, start-up stops unless every fix is off. What each saves is measured
alone, with the others on (``python -m bench.run --only ablation``, bench/results/README.md); a
share of time below is the Rasa server's under load when the fix was written (py-spy,
``bench/profiling.py``). A fix that measured no gain is dropped: ``event_classes`` (a remembered
``Event.resolve_by_type``) saved 0.1 to 0.4 ms of a 10 ms turn on 2026-12-04. The others each
save a few tenths of a millisecond of a 10 ms turn or more; under load, one server per
configuration, a server's CPU per turn moves by up to 1 ms from round to round and from one
server to another of the same configuration, so below a millisecond a fix's gain is measured in
process as well, A against B in alternating blocks of the same process (``python -m
bench.fix_costs``; said for each below).

- ``action_answer_check``, action server answers: Rasa checks each one with
  ``jsonschema.validate``, which first checks the schema itself against the JSON Schema
  meta-schema. That costs about 13 ms per custom action call here (py-spy: half the Rasa server's
  CPU under load), against about 0.6 ms for the same check with a validator built once. The
  validator below is built from the same schema, raises the same errors with the same message, and
  checks the schema once, at first use. Most of what is left goes on the schema's ``oneOf`` over 23
  kinds of event, each tried on every event (and each mismatch building an error). An answer is
  first checked against the one kind its ``event`` names, which accepts exactly what the ``oneOf``
  accepts (the other kinds each require another name); only an answer that fails that goes through
  the whole schema, for Rasa's own error.
- ``action_call_events``, what the action server is sent: Rasa sends the whole session's events
  with every action call (about 120 in a guided reset; a session lasts until the owner is silent
  for an hour). Our actions, and rasa_sdk's forms, read the conversation's state (slots,
  latest message, active form), which is all sent, and no further back in the events than the
  owner's latest message. The events sent start there. What it saves grows with the session, so
  the ablation's conversations (15 turns) show little of it (about 0.1 ms of a turn): Rasa's call
  grows by about 3.7 kB a turn, and the CPU of making and reading it by 0.03 ms (in process: 0.6
  ms saved per call at 20 turns, 1.5 ms at 50); after about 280 turns the call is over the 1 MB
  the action server takes (``MAX_BODY_BYTES`` in actions/server.py), and every turn would fail
  (tests/test_patched_rasa.py). Rasa 3.6 has no setting for what a call carries but the domain.
- ``graph_in_process``, running the model's graph: Rasa hands each run (the NLU pipeline once a
  turn, the policies once an action) to dask's scheduler, whose set-up for a graph of a dozen nodes
  that run one after the other was about a twentieth of the server's time. The graph below is run
  in the same process, each node once, after the nodes it needs, with the same inputs and errors.
  Rasa 3.6 loads the model with ``DaskGraphRunner`` named in its code, not in a setting. It saves
  0.37 ms of CPU per NLU run and 0.15 ms per policy run (in process, every one of 10 alternating
  blocks saving); under load about 0.3 ms of a 10.3 ms turn (Rasa server, 7 of 8 rounds).
- ``kept_connections``, calls to the action server: Rasa opens a new connection for each one (a new
  aiohttp session with a connector of its own, closed once the answer is read), and the action
  server takes each new connection in too; that was about a twentieth of the Rasa server's time.
  The sessions below share one connector per event loop, which keeps connections open between calls
  (for less time than the action server keeps them, so it is never the one to drop a connection
  that is about to be reused); it is closed when the server stops. It saves 0.41 ms of CPU per
  call, the Rasa server's and the action server's together (rasa_sdk's server, in process, every
  one of 10 alternating blocks saving); it brings its own hazard, which the last fix below guards.
- ``parse_memo``: the NLU pipeline runs once per wording of the navigation messages a guided reset
  is made of ("done", "go back"), not once per step: :mod:`bot.nlu.parse_memo` says why and what is
  kept. The buttons' and keys' intents no longer reach it (the channels parse them); it still saved
  1.0 to 1.7 ms of a 10 ms turn of typed messages on 2026-12-04.

Three more change what Rasa does when the action server fails (issue 13, finding 10). The first
two can also be switched off together with ``RASA_TURN_FAULT_PATCHES=off``; the third is part of
``kept_connections``, which needs it:

- ``failed_action_ends_turn``: a failed action call ends the user's turn: inside a channel's turn,
  ``RemoteAction.run``'s error becomes :class:`bot.turn_failures.TurnFailed`, which Rasa's
  processor does not catch. Rasa's processor would log it and carry on predicting without the
  action's events: a failed session start answered "Sorry, I didn't catch that" and was never done.
  A form's rejection of a value (``ActionExecutionRejection``) is part of the dialogue and is left
  to Rasa. A call that takes over a second gives its turn's place to the next turn while it waits
  (:func:`bot.channels.turns.waiting_elsewhere`).
- ``action_call_timeout``: an action call is given up after ``ACTION_CALL_TIMEOUT_SECONDS`` (10 s),
  not Rasa's five minutes: a hung action server held a user (and one of the turns at once) that
  long.
- A kept connection the action server has closed (it was restarted while the Rasa server was
  busy, so the close was not seen yet) is not used: a connection taken from the pool is first
  checked for an end-of-stream from the peer, and a closed one is dropped and the call goes on
  another. Nothing was sent on the dropped one, so no call that may have run is ever sent twice;
  a call that fails once sent is not repeated. Rasa's own code needs no such check (it opens a
  connection per call): this is what the turn-fault suite (tests/security/test_turn_faults.py,
  the restarted action server) uses ``kept_connections`` for, and it goes if that fix goes.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import select
import weakref
from dataclasses import dataclass
from typing import Any

import aiohttp
import rasa
import rasa.core.actions.action
import rasa.core.run
from jsonschema import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig
from sanic import Sanic

from bot.channels.turns import waiting_elsewhere
from bot.nlu.parse_memo import ParseMemo
from bot.settings import DEFAULT_ACTION_CALL_TIMEOUT as DEFAULT_ACTION_CALL_TIMEOUT
from bot.settings import RASA_TURN_FAULT_PATCH_NAMES, process_settings
from bot.turn_failures import end_turn_if_in_one


@functools.cache
def _action_response_validator() -> Validator:
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@dataclass(frozen=True)
class _EventKindValidators:
    """The action answer's schema without the events' ``oneOf`` (``answer``), and for each kind
    of event the event schema with only that kind's alternative (``by_kind``)."""

    answer: Validator
    by_kind: dict[str, Validator]

    def accept(self, result: Any) -> bool:
        if not self.answer.is_valid(result):
            return False
        for event in result.get("events") or []:
            validator = self.by_kind.get(event["event"])
            if validator is None or not validator.is_valid(event):
                return False
        return True


@functools.cache
def _event_kind_validators() -> _EventKindValidators | None:
    """None where Rasa's schema is not a ``oneOf`` told apart by each alternative's constant
    ``event``: then every answer goes through the whole schema."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    events = schema["properties"]["events"]
    event_schema = events["items"]
    common = {key: value for key, value in event_schema.items() if key != "oneOf"}
    by_kind: dict[str, Validator] = {}
    for alternative in event_schema.get("oneOf", []):
        kind = alternative.get("properties", {}).get("event", {}).get("const")
        if not isinstance(kind, str) or kind in by_kind:
            return None
        by_kind[kind] = validator_class({"allOf": [common, alternative]})
    if not by_kind:
        return None
    answer = copy.deepcopy(schema)
    answer["properties"]["events"] = {**events, "items": common}
    return _EventKindValidators(validator_class(answer), by_kind)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    # What RemoteAction._validate_action_result does, less the per-call schema check.
    quick = _event_kind_validators()
    if quick is not None and quick.accept(result):
        return True
    try:
        _action_response_validator().validate(result)
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


_rasa_action_call_format = RemoteAction._action_call_format


def _action_call_format(
    self: RemoteAction, tracker: DialogueStateTracker, domain: Domain
) -> dict[str, Any]:
    # What this saves grows with the session, up to the action server's 1 MB body limit, which
    # Rasa's whole session outgrows in a long one (the module's docstring).
    call: dict[str, Any] = _rasa_action_call_format(self, tracker, domain)
    recent = reversed(tracker.events)
    turn_length = next((n for n, e in enumerate(recent, 1) if isinstance(e, UserUttered)), None)
    if turn_length is not None:
        call["tracker"]["events"] = call["tracker"]["events"][-turn_length:]
    return call


_rasa_parse_message_with_graph = MessageProcessor._parse_message_with_graph
# One memo per loaded model: a new model (``PUT /model``) comes with a new processor.
_parse_memos: weakref.WeakKeyDictionary[MessageProcessor, ParseMemo] = weakref.WeakKeyDictionary()


def _parse_message_with_graph(
    self: MessageProcessor,
    message: UserMessage,
    tracker: DialogueStateTracker,
    only_output_properties: bool = True,
) -> dict[str, Any]:
    if not only_output_properties or not isinstance(message.text, str):
        unmemoised: dict[str, Any] = _rasa_parse_message_with_graph(
            self, message, tracker, only_output_properties
        )
        return unmemoised
    memo = _parse_memos.setdefault(self, ParseMemo())
    parse_data = memo.get(message.text)
    if parse_data is None:
        parse_data = _rasa_parse_message_with_graph(self, message, tracker)
        memo.keep(message.text, parse_data)
    return parse_data


def _run_graph(
    self: DaskGraphRunner,
    inputs: dict[str, Any] | None = None,
    targets: list[str] | None = None,
) -> dict[str, Any]:
    # DaskGraphRunner.run, with the graph it builds for dask run here: a task is a node and the
    # names of the tasks whose results it takes; an input is a (name, value) pair, run as is.
    run_targets = targets if targets else self._graph_schema.target_names
    run_graph = self._build_dask_graph(self._graph_schema.minimal_graph_schema(run_targets))
    if inputs:
        self._add_inputs_to_graph(inputs, run_graph)
    results: dict[str, Any] = {}

    def result_of(key: str) -> Any:
        if key not in results:
            node, *needs = run_graph[key]
            results[key] = node(*map(result_of, needs)) if callable(node) else run_graph[key]
        return results[key]

    try:
        return dict(result_of(target) for target in run_targets)
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error


# Seconds an idle connection is kept: under Sanic's 5 (the action server closes one idle longer).
KEEP_IDLE_CONNECTIONS = 2.0
_connectors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.TCPConnector] = (
    weakref.WeakKeyDictionary()
)


class _LiveConnections(aiohttp.TCPConnector):
    """A connector that hands out no kept connection the peer has already closed."""

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> Any:
        # Each closed one is dropped from the pool; a new connection ends the search.
        for _ in range(self.limit or 100):
            connection = await super().connect(req, traces, timeout)
            if not _closed_by_peer(connection.transport):
                return connection
            connection.close()
        return await super().connect(req, traces, timeout)


def _closed_by_peer(transport: asyncio.BaseTransport | None) -> bool:
    # An idle HTTP/1.1 connection has nothing to read: anything readable is the peer's close
    # (or a reset, or bytes no request asked for), and the connection cannot carry a call.
    if transport is None or transport.is_closing():
        return True
    sock = transport.get_extra_info("socket")
    if sock is None:
        return False
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _session(self: EndpointConfig) -> aiohttp.ClientSession:
    # EndpointConfig.session, on the event loop's shared connector, which it does not close.
    loop = asyncio.get_running_loop()
    connector = _connectors.get(loop)
    if connector is None or connector.closed:
        connector = _connectors[loop] = _LiveConnections(keepalive_timeout=KEEP_IDLE_CONNECTIONS)
    auth = None
    if self.basic_auth:
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
    return aiohttp.ClientSession(
        headers=self.headers,
        auth=auth,
        timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        connector=connector,
        connector_owner=False,
    )


_rasa_run_remote_action = RemoteAction.run


async def _run_remote_action(
    self: RemoteAction,
    output_channel: OutputChannel,
    nlg: NaturalLanguageGenerator,
    tracker: DialogueStateTracker,
    domain: Domain,
) -> list[Event]:
    # RemoteAction.run; inside a channel's turn, a failed call ends the turn, and a slow one
    # gives the turn's place to another meanwhile (bot.channels.turns).
    try:
        events: list[Event] = await waiting_elsewhere(
            _rasa_run_remote_action(self, output_channel, nlg, tracker, domain)
        )
    except ActionExecutionRejection:
        raise
    except Exception as error:
        end_turn_if_in_one(f"action server, {self.name()}", error)
        raise
    return events


_rasa_close_resources = rasa.core.run.close_resources


async def _close_resources(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
    # rasa.core.run.close_resources, the server's "after_server_stop" listener, and then the
    # connections kept open.
    await _rasa_close_resources(app, loop)
    connector = _connectors.pop(loop, None)
    if connector is not None:
        await connector.close()


RASA_CHECKED = "3.6.21"
# What one fix sets: (class or module, attribute, our value).
Patch = tuple[Any, str, Any]
TURN_FAULT_FIXES = frozenset(RASA_TURN_FAULT_PATCH_NAMES)


def action_call_timeout() -> float:
    """``ACTION_CALL_TIMEOUT_SECONDS``, from the Rasa process's settings (bot.settings)."""
    return process_settings().action_call_timeout


def fixes() -> dict[str, list[Patch]]:
    """Each fix by its name in ``RASA_PATCHES`` (bot.settings.RASA_PATCH_NAMES, in that order),
    with what it sets."""
    return {
        "action_answer_check": [(RemoteAction, "_validate_action_result", _validate_action_result)],
        "action_call_events": [(RemoteAction, "_action_call_format", _action_call_format)],
        "graph_in_process": [(DaskGraphRunner, "run", _run_graph)],
        "kept_connections": [
            (EndpointConfig, "session", _session),
            (rasa.core.run, "close_resources", _close_resources),
        ],
        "parse_memo": [(MessageProcessor, "_parse_message_with_graph", _parse_message_with_graph)],
        "failed_action_ends_turn": [(RemoteAction, "run", _run_remote_action)],
        "action_call_timeout": [
            (rasa.core.actions.action, "DEFAULT_REQUEST_TIMEOUT", action_call_timeout())
        ],
    }


def switched_on() -> frozenset[str]:
    """The fixes this process's settings turn on: ``RASA_PATCHES``, less the turn-fault ones
    where ``RASA_TURN_FAULT_PATCHES=off``."""
    settings = process_settings()
    if settings.turn_fault_patches:
        return settings.rasa_patches
    return settings.rasa_patches - TURN_FAULT_FIXES


def patches() -> list[Patch]:
    """What :func:`apply` sets, for the fixes switched on; checked against Rasa
    ``RASA_CHECKED``: on another version with any fix on, a ``RuntimeError`` says what to do."""
    on = switched_on()
    if on and rasa.__version__ != RASA_CHECKED:
        raise RuntimeError(
            f"bot.patched_rasa's fixes were checked against Rasa {RASA_CHECKED}, "
            f"not {rasa.__version__}: run tests/test_patched_rasa.py and "
            "tests/security/test_turn_faults.py, then update RASA_CHECKED, or set "
            "RASA_PATCHES=none"
        )
    return [patch for name, fix in fixes().items() if name in on for patch in fix]


def apply() -> None:
    for owner, attribute, replacement in patches():
        setattr(owner, attribute, replacement)


def main() -> None:
    from rasa.__main__ import main as rasa_main

    apply()
    rasa_main()


if __name__ == "__main__":
    main()
