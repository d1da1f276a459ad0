"""What three fixes of :mod:`bot.patched_rasa` save, measured in one process, A against B.

The ablation (bench/ablation.py) runs one server per configuration under load; a server's CPU per
turn there moves by up to 1 ms from round to round and from one server to another of the same
configuration, more than ``graph_in_process``, ``kept_connections`` or ``action_call_events``
each save. Here each is timed in alternating blocks of the same process (CPU time of this process,
plus, for the calls, that of a real rasa_sdk action server), Rasa's code against the fix:

- ``graph_in_process``: one NLU run and one policy run of the real model;
- ``kept_connections``: one call to rasa_sdk's server on loopback (its ``/health``: the rest of a
  call is the same either way);
- ``action_call_events``: making and reading one action call, by the session's length in turns.

``python -m bench.fix_costs`` (under a minute) prints the median of each block's time per
run, and of the saving of each pair of blocks, with the smallest and largest.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psutil  # type: ignore[import-untyped]
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    DefinePrevUserUtteredFeaturization,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker

from bench.paths import REPO
from bench.servers import free_port
from bot import patched_rasa

BLOCKS = 10


def compare(name: str, rasas: Callable[[], float], ours: Callable[[], float]) -> None:
    """Alternating blocks; each callable runs one block and returns its ms per run."""
    rasa_ms, our_ms = [], []
    for _ in range(BLOCKS):
        rasa_ms.append(rasas())
        our_ms.append(ours())
    saved = [a - b for a, b in zip(rasa_ms, our_ms, strict=True)]
    print(
        f"{name}: Rasa's {statistics.median(rasa_ms):.3f} ms, ours "
        f"{statistics.median(our_ms):.3f} ms; saved {statistics.median(saved):.3f} ms "
        f"(smallest {min(saved):.3f}, largest {max(saved):.3f}, "
        f"{sum(s > 0 for s in saved)} of {BLOCKS} blocks saved)",
        flush=True,
    )


@contextmanager
def replaced(owner: Any, attribute: str, value: Any) -> Iterator[None]:
    original = owner.__dict__[attribute]
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


def timed(run: Callable[[], Any], runs: int) -> float:
    started = time.process_time()
    for _ in range(runs):
        run()
    return (time.process_time() - started) / runs * 1000


def graph_runs() -> None:
    agent = Agent.load(str(REPO / "models" / "lorex.tar.gz"))
    processor = agent.processor
    assert processor is not None and agent.domain is not None
    events = [ActionExecuted("action_listen"), UserUttered("done", {"name": "step_done"})]
    tracker = DialogueStateTracker.from_events("owner", events, agent.domain.slots)
    runs: dict[str, Callable[[], Any]] = {
        "NLU run": lambda: processor._parse_message_with_graph(
            UserMessage("I forgot my recorder's password"), tracker
        ),
        "policy run": lambda: processor._predict_next_with_tracker(tracker),
    }
    for name, run in runs.items():
        run()

        def rasas(run: Callable[[], Any] = run) -> float:
            return timed(run, 100)

        def ours(run: Callable[[], Any] = run) -> float:
            with replaced(DaskGraphRunner, "run", patched_rasa._run_graph):
                return timed(run, 100)

        compare(f"graph_in_process, per {name}", rasas, ours)


def action_server_calls() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        health = f"http://127.0.0.1:{port}/health"
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(health, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        process = psutil.Process(server.pid)
        endpoint = EndpointConfig(health)

        def block() -> float:
            # This process's CPU and the action server's, per call.
            def server_cpu() -> float:
                times = [p.cpu_times() for p in [process, *process.children(recursive=True)]]
                return float(sum(t.user + t.system for t in times))

            async def calls() -> None:
                for _ in range(300):
                    await endpoint.request(method="get")
                kept = patched_rasa._connectors.pop(asyncio.get_running_loop(), None)
                if kept is not None:
                    await kept.close()

            before, started = server_cpu(), time.process_time()
            asyncio.run(calls())
            used: float = time.process_time() - started + server_cpu() - before
            return used / 300 * 1000

        def ours() -> float:
            with replaced(EndpointConfig, "session", patched_rasa._session):
                return block()

        compare("kept_connections, per call (both processes)", block, ours)
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def action_call_payloads() -> None:
    domain = Domain.load(REPO / "domain")
    parse_data = {
        "intent": {"name": "step_done", "confidence": 0.99},
        "entities": [],
        "text": "done",
        "intent_ranking": [{"name": f"intent_{n}", "confidence": 0.01} for n in range(10)],
    }
    step = "Connect a monitor to the recorder with an HDMI or VGA cable, and plug a USB mouse in. "

    def turn(n: int) -> list[Event]:
        return [
            UserUttered("done", parse_data["intent"], [], parse_data),  # type: ignore[arg-type]
            DefinePrevUserUtteredFeaturization(False),
            ActionExecuted("action_converse", policy="ConversationPolicy", confidence=1.0),
            SlotSet("reset_step", float(n)),
            BotUttered(step, {"custom": {"data": {"type": "reset_step", "body": step}}}),
            ActionExecuted("action_listen"),
        ]

    endpoint = EndpointConfig("http://127.0.0.1:5055/webhook", enable_selective_domain=True)
    action = RemoteAction("action_converse", endpoint)
    for turns in (5, 20, 50):
        events = [ActionExecuted("action_session_start"), SessionStarted()]
        events += [event for n in range(turns) for event in turn(n)]
        tracker = DialogueStateTracker.from_events("owner", events, domain.slots)

        def call(tracker: DialogueStateTracker = tracker) -> None:
            # The Rasa server makes and sends it; the action server reads it (rasa_sdk).
            body = json.dumps(action._action_call_format(tracker, domain))
            Tracker.from_dict(json.loads(body)["tracker"])

        def rasas(call: Callable[[], None] = call) -> float:
            return timed(call, 50)

        def ours(call: Callable[[], None] = call) -> float:
            with replaced(RemoteAction, "_action_call_format", patched_rasa._action_call_format):
                return timed(call, 50)

        compare(f"action_call_events, per call after {turns} turns", rasas, ours)


def main() -> None:
    graph_runs()
    action_server_calls()
    action_call_payloads()


if __name__ == "__main__":
    main()
