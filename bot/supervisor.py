"""Keeping the product's processes running: a process that dies is started again, alone.

honcho (which ran the Procfile before) stops every process when one exits, and restarts nothing:
killing the action server stopped the whole product. Neither honcho's ``Manager`` nor the
``supervisor`` package fits: the first has no restart, the second is a daemon with its own
configuration and log files, and prints no name before each line on the terminal. So this is a
small asyncio supervisor that keeps what honcho did well, and uses honcho's own parts for it: the
Procfile (``honcho.environ.parse_procfile``) and the ``HH:MM:SS name | line`` output
(``honcho.printer``).

- Each program runs as ``sh -c "exec <command>"``: the shell expands ``${VARIABLES}``, as with
  honcho, then becomes the program, so its pid is the server's (a Procfile line is therefore one
  command; write ``sh -c '...'`` for more). It runs in its own process group, with its output
  and errors relayed line by line under its name.
- When one exits while the product runs, what is left of its process group is killed (so a
  restarted server finds its port free) and it is started again after a delay that doubles
  with each quick death (1 s, 2 s, 4 s ... at most 30 s), so a program that dies at start-up does
  not spin; a run of 30 s or more counts as a good start, and the delay starts over.
- A program with a health URL is also started again when it stops answering: once it has
  answered the URL, it is asked every ``HealthChecks.every`` seconds, and one that has not
  answered for ``unhealthy_after`` seconds (a stuck event loop, a deadlock: alive, and useless)
  is killed (SIGKILL to its group) and started again like one that died.
- SIGINT (Ctrl-C) or SIGTERM stops everything: each program's stop signal (SIGTERM unless it
  says) to its group, SIGKILL after ``STOP_SECONDS`` (or at a second Ctrl-C). The exit code is
  128 + the signal's number.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from honcho.colour import get_colours
from honcho.environ import parse_procfile
from honcho.printer import Message, Printer

STOP_SECONDS = 10.0  # how long a program may take to stop before it is killed
OUTPUT_GRACE_SECONDS = 1.0  # output still in the pipe when a program exits
SYSTEM = "system"  # the name the supervisor's own lines carry


@dataclass(frozen=True)
class Program:
    name: str
    command: str  # a shell command line, as written in the Procfile
    # Variables of this program's own, over the supervisor's (`make cluster` runs the Procfile's
    # Rasa line twice, on two ports).
    env: Mapping[str, str] = field(default_factory=dict)
    # What asks it to stop: SIGTERM, or the signal of its own graceful stop (HAProxy's SIGUSR1
    # finishes the requests in progress).
    stop_signal: int = signal.SIGTERM
    # Where it answers 200 when well (None: being alive is all that is checked).
    health_url: str | None = None


def programs_from_procfile(path: Path) -> list[Program]:
    procfile = parse_procfile(path.read_text())
    return [Program(name, command) for name, command in procfile.processes.items()]


@dataclass(frozen=True)
class Backoff:
    """The delay before starting a program again, after ``failures`` quick deaths in a row."""

    first: float = 1.0
    longest: float = 30.0
    settled: float = 30.0  # a run at least this long was a good start: the delay starts over

    def delay(self, failures: int) -> float:
        return float(min(self.first * 2 ** max(failures - 1, 0), self.longest))


@dataclass(frozen=True)
class HealthChecks:
    """How programs with a health URL are watched (seconds)."""

    every: float = 5.0
    timeout: float = 5.0  # one check's request
    # Longer than a Rasa server's slowest moment (a model loaded again, a burst of turns).
    unhealthy_after: float = 60.0


class Supervisor:
    """Runs ``programs`` until SIGINT or SIGTERM, starting again any that exits.

    ``when_started``: a coroutine run once the programs are started (the ready announcement);
    what it prints goes through the same output, under the name ``ready``.
    """

    def __init__(
        self,
        programs: Sequence[Program],
        *,
        env: Mapping[str, str],
        cwd: Path,
        output: TextIO = sys.stdout,
        backoff: Backoff = Backoff(),
        health: HealthChecks = HealthChecks(),
        when_started: Callable[[Callable[[str], None]], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        self._programs = list(programs)
        self._env = dict(env)
        self._cwd = cwd
        self._backoff = backoff
        self._health = health
        self._when_started = when_started
        self._printer = Printer(output)
        self._printer.width = max(len(name) for name in [SYSTEM, "ready", *self._names()])
        colours = get_colours()
        self._colours = {name: next(colours) for name in self._names()}
        self._children: dict[str, asyncio.subprocess.Process] = {}
        self._stopping: asyncio.Event | None = None
        self._signal: int | None = None

    def _names(self) -> list[str]:
        return [program.name for program in self._programs]

    async def run(self) -> int:
        """Supervise until a stop signal; the exit code (128 + the signal's number)."""
        self._stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            keepers = [asyncio.create_task(self._keep_running(p)) for p in self._programs]
            announcing = (
                asyncio.create_task(self._when_started(self._ready_line))
                if self._when_started
                else None
            )
            await self._stopping.wait()
            if announcing:
                announcing.cancel()
            await self._stop_all()
            await asyncio.gather(*keepers, return_exceptions=True)
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        return 128 + (self._signal or signal.SIGTERM)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        self._on_signal(signum)

    def _on_signal(self, signum: int) -> None:
        assert self._stopping is not None
        if self._stopping.is_set():  # a second Ctrl-C: no more waiting
            self._system(f"{signal.Signals(signum).name} received again: killing every program")
            self._signal_all(signal.SIGKILL)
            return
        self._signal = signum
        self._system(f"{signal.Signals(signum).name} received: stopping every program")
        self._stopping.set()

    async def _keep_running(self, program: Program) -> None:
        assert self._stopping is not None
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            returncode = await self._run_once(program)
            if self._stopping.is_set():
                self._system(f"{program.name} stopped (rc={returncode})")
                return
            ran = time.monotonic() - started
            failures = 1 if ran >= self._backoff.settled else failures + 1
            delay = self._backoff.delay(failures)
            self._system(
                f"{program.name} exited (rc={returncode}) after {ran:.0f} s; "
                f"starting it again in {delay:g} s"
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_once(self, program: Program) -> int:
        child = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            f"exec {program.command}",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**self._env, **program.env},
            cwd=self._cwd,
            start_new_session=True,  # its own group: Ctrl-C reaches the supervisor only
        )
        self._children[program.name] = child
        self._system(f"{program.name} started (pid={child.pid})")
        assert self._stopping is not None
        if self._stopping.is_set():  # the stop came while it was being started
            _signal_group(child.pid, program.stop_signal)
        assert child.stdout is not None
        relay = asyncio.create_task(self._relay(program.name, child.stdout))
        watch = (
            asyncio.create_task(self._watch_health(program, child.pid))
            if program.health_url
            else None
        )
        returncode = await child.wait()
        if watch is not None:
            watch.cancel()
        # Whatever the program left in its group (a helper holding its port, say) goes with it.
        _signal_group(child.pid, signal.SIGKILL)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(relay, OUTPUT_GRACE_SECONDS)
        relay.cancel()
        del self._children[program.name]
        return returncode

    async def _watch_health(self, program: Program, pid: int) -> None:
        """Kill ``program`` (its group) if it stops answering its health URL for too long."""
        assert program.health_url is not None
        checks = self._health
        while not await asyncio.to_thread(_answers, program.health_url, checks.timeout):
            await asyncio.sleep(checks.every)  # still starting: not judged yet
        self._system(f"{program.name} answers its health check")
        last_answer = time.monotonic()
        while True:
            await asyncio.sleep(checks.every)
            if await asyncio.to_thread(_answers, program.health_url, checks.timeout):
                last_answer = time.monotonic()
            elif time.monotonic() - last_answer >= checks.unhealthy_after:
                self._system(
                    f"{program.name} has not answered its health check for "
                    f"{checks.unhealthy_after:g} s: killing it"
                )
                _signal_group(pid, signal.SIGKILL)
                return

    async def _relay(self, name: str, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the stream's limit: pass on what is there
                line = await stream.read(2**16)
            if not line:
                return
            self._write(name, line, self._colours.get(name))

    async def _stop_all(self) -> None:
        stop_signals = {program.name: program.stop_signal for program in self._programs}
        for name, child in self._children.items():
            _signal_group(child.pid, stop_signals.get(name, signal.SIGTERM))
        waiting = [child.wait() for child in self._children.values()]
        if not waiting:
            return
        _, pending = await asyncio.wait(
            [asyncio.ensure_future(w) for w in waiting], timeout=STOP_SECONDS
        )
        if pending:
            self._system(f"still running after {STOP_SECONDS:.0f} s: killing")
            self._signal_all(signal.SIGKILL)
            await asyncio.wait(pending)

    def _signal_all(self, signum: int) -> None:
        for child in self._children.values():
            _signal_group(child.pid, signum)

    def _ready_line(self, text: str) -> None:
        self._write("ready", text, None)

    def _system(self, text: str) -> None:
        self._write(SYSTEM, text, None)

    def _write(self, name: str, data: str | bytes, colour: str | None) -> None:
        self._printer.write(Message("line", data, datetime.datetime.now(), name, colour))


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _answers(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
