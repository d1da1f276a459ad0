"""Starting, timing and stopping the processes the benchmark measures.

Every process is started in its own process group and remembered; :func:`stop_all` (called by
``bench/run.py`` on the way out, also after Ctrl-C or an exception) stops each group that is
still running: SIGINT first (honcho passes it on to its servers), then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import requests

from bench.paths import RASA, REPO, rasa_env

_RUNNING: list[subprocess.Popen[bytes]] = []


class CommandFailed(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], log_path: Path
) -> subprocess.Popen[bytes]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its children
        )
    _RUNNING.append(process)
    return process


def _members(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The process and its descendants, as psutil handles (safe against pid reuse)."""
    try:
        leader = psutil.Process(process.pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _stop(process: subprocess.Popen[bytes]) -> None:
    members = _members(process) if process.poll() is None else []
    for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        # The leader is not reaped yet, so its pid (the group's id) cannot have been reused.
        os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    # A child that outlived its parent (or left the group) is stopped by itself.
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess):
            if member.is_running():
                member.kill()
    if process in _RUNNING:
        _RUNNING.remove(process)


def stop_all() -> None:
    """Stop every process group this module started that is still running."""
    for process in reversed(list(_RUNNING)):
        _stop(process)


def log_tail(path: Path, characters: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-characters:]
    except OSError:
        return ""


def run_timed(
    args: Sequence[str],
    *,
    log_path: Path,
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 3600.0,
) -> float:
    """Run a command to completion, its output in ``log_path``; the wall-clock seconds it took."""
    began = time.perf_counter()
    process = _start(args, cwd=cwd, env=env or rasa_env(), log_path=log_path)
    try:
        returncode = process.wait(timeout=timeout)
    finally:
        _stop(process)
    elapsed = time.perf_counter() - began
    if returncode != 0:
        raise CommandFailed(
            f"`{' '.join(args)}` exited with {returncode}; end of {log_path}:\n{log_tail(log_path)}"
        )
    return elapsed


# The address the phone channel believes Twilio calls (it signs and checks against this, as
# behind a tunnel); the load client reaches the server on loopback all the same.
PHONE_PUBLIC_BASE_URL = "https://lorex-bench.example.test"


@dataclass(frozen=True)
class PhoneWebhook:
    """What a Twilio stand-in needs to sign requests the server accepts."""

    public_base_url: str
    token: str


@dataclass
class Instance:
    """A running bot: its REST base URL and the process group behind it."""

    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    started: float  # time.perf_counter() just before the process was started
    log_path: Path
    # Other servers that must answer too before the bot counts as started (our action server).
    health_urls: tuple[str, ...] = ()
    phone: PhoneWebhook | None = None  # None: the bot has no phone channel

    def stop(self) -> None:
        _stop(self.process)

    def first_answer_seconds(self, timeout: float = 600.0) -> float:
        """Seconds from the start of the process to its first answer on the REST channel.

        An answer is HTTP 200 with a JSON list of messages to "hi" (a list, even an empty one:
        a barely trained model may have nothing to say), once every health URL answers too.
        """
        url = f"{self.base_url}/webhooks/rest/webhook"
        sender = f"bench-startup-{uuid.uuid4().hex[:8]}"
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise CommandFailed(
                    f"{self.name} exited with {self.process.returncode} while starting; "
                    f"end of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                if all(requests.get(h, timeout=5).status_code == 200 for h in self.health_urls):
                    reply = requests.post(url, json={"sender": sender, "message": "hi"}, timeout=10)
                    if reply.status_code == 200 and isinstance(reply.json(), list):
                        return time.perf_counter() - self.started
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.2)
        raise CommandFailed(
            f"{self.name} gave no answer within {timeout:.0f} s; end of {self.log_path}:\n"
            f"{log_tail(self.log_path)}"
        )

    def memory(self) -> list[ProcessMemory]:
        return process_memory(self.process.pid)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user and system) each server has used so far, by role."""
        return process_cpu_seconds(self.process.pid)


def start_lorex(folder: Path, extra_env: Mapping[str, str] | None = None) -> Instance:
    """Our assistant exactly as `make run` starts it (`python -m bot.cli run`: honcho with the
    Procfile), on free ports, with fresh SQLite files in ``folder``; migrated and seeded first.
    The phone channel is configured (``PUBLIC_BASE_URL``, ``TWILIO_AUTH_TOKEN``) with a fresh
    token, so signed requests from the load client are accepted. ``extra_env``: more settings
    (``RASA_PATCHES`` for the ablation; ``DATABASE_URL``, ``REDIS_URL``... for the cluster
    phase), which win over these."""
    from bot.serve import settings_from

    folder.mkdir(parents=True, exist_ok=True)
    settings = settings_from(
        {
            "RASA_PORT": str(free_port()),
            "ACTIONS_PORT": str(free_port()),
            "CONSOLE_PORT": str(free_port()),  # several instances run at once in the ablation
            "RASA_API_TOKEN": uuid.uuid4().hex,
            "DATABASE_URL": f"sqlite:///{folder / 'lorex.db'}",
            "TRACKER_STORE_URL": f"sqlite:///{folder / 'tracker.db'}",
        }
    )
    phone = PhoneWebhook(PHONE_PUBLIC_BASE_URL, uuid.uuid4().hex)
    env = rasa_env(
        **{
            **settings.environment(),
            "PUBLIC_BASE_URL": phone.public_base_url,
            "TWILIO_AUTH_TOKEN": phone.token,
            **(extra_env or {}),  # may replace the SQLite files (DATABASE_URL, ...)
        }
    )
    for command in ("migrate", "seed"):
        run_timed(
            [sys.executable, "-m", "bot.cli", command],
            env=env,
            log_path=folder / f"{command}.log",
            timeout=300,
        )
    log_path = folder / "servers.log"
    started = time.perf_counter()
    process = _start([sys.executable, "-m", "bot.cli", "run"], cwd=REPO, env=env, log_path=log_path)
    health = (f"http://127.0.0.1:{settings.actions_port}/health",)
    return Instance(
        "our assistant", settings.rasa_url, process, started, log_path, health, phone=phone
    )


def free_port_pair() -> int:
    """A free port p with p + 1 free too (the cluster's action servers take ACTIONS_PORT and the
    next ones)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as sock, contextlib.suppress(OSError):
            sock.bind(("127.0.0.1", port + 1))
            return port
    raise RuntimeError("no two free ports in a row")


def start_cluster(folder: Path, stores: Mapping[str, str]) -> Instance:
    """`make cluster`'s deployment (`python -m bot.cli cluster`: two Rasa instances, each with its
    action server, the console and HAProxy in front), on free ports, on the shared stores in
    ``stores`` (``DATABASE_URL``, ``TRACKER_STORE_URL``, ``REDIS_URL``, ``VAULT_KEY``); the
    command migrates and seeds them itself. Its base URL is HAProxy's."""
    from bot.cluster.deployment import health_checks
    from bot.serve import settings_from

    folder.mkdir(parents=True, exist_ok=True)
    phone = PhoneWebhook(PHONE_PUBLIC_BASE_URL, uuid.uuid4().hex)
    env = rasa_env(
        RASA_PORT=str(free_port()),
        CLUSTER_RASA_PORTS=f"{free_port()},{free_port()}",
        ACTIONS_PORT=str(free_port_pair()),
        CONSOLE_PORT=str(free_port()),
        RASA_API_TOKEN=uuid.uuid4().hex,
        PUBLIC_BASE_URL=phone.public_base_url,
        TWILIO_AUTH_TOKEN=phone.token,
        **stores,
    )
    settings = settings_from(env)
    log_path = folder / "cluster.log"
    started = time.perf_counter()
    process = _start(
        [sys.executable, "-m", "bot.cli", "cluster"], cwd=REPO, env=env, log_path=log_path
    )
    return Instance(
        "make cluster",
        settings.rasa_url,
        process,
        started,
        log_path,
        tuple(health_checks(settings)),
        phone=phone,
    )


def start_stock(project: Path) -> Instance:
    """The stock bot in ``project`` (made by ``rasa init``): `rasa run` with its own files."""
    port = free_port()
    log_path = project / "server.log"
    started = time.perf_counter()
    process = _start(
        [
            RASA,
            "run",
            "--model",
            "models",
            "--credentials",
            "credentials.yml",
            "--endpoints",
            "endpoints.yml",
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
            "--enable-api",
            "--auth-token",
            uuid.uuid4().hex,
        ],
        cwd=project,
        env=rasa_env(),
        log_path=log_path,
    )
    return Instance("stock Rasa bot", f"http://127.0.0.1:{port}", process, started, log_path)


@dataclass(frozen=True)
class ProcessMemory:
    role: str
    pid: int
    rss_bytes: int


def role_of(command: list[str]) -> str | None:
    """What a process of ours is, from its command line (None: a shell wrapper, not a server)."""
    if not command:
        return None
    if os.path.basename(command[0]) in {"sh", "bash", "dash"}:
        return None  # honcho's `sh -c` wrapper around each Procfile command: not a server
    text = " ".join(command)
    if "run actions" in text or "-m actions.server" in text:  # stock bot's, and ours
        return "action server"
    # After "run actions": both are `rasa run ...`; ours starts as `python -m bot.patched_rasa run`.
    if "rasa run" in text or "bot.patched_rasa run" in text:
        return "Rasa server"
    if "bot.cli announce" in text:
        return "ready announcer"
    if "honcho" in text:  # honcho itself and its one helper process per Procfile line
        return "honcho"
    if "bot.cli run" in text or "bot.cli cluster" in text:  # our supervisor (bot/supervisor.py)
        return "supervisor"
    if "bot.console" in text:
        return "console"
    return os.path.basename(command[0])


def process_cpu_seconds(root_pid: int) -> dict[str, float]:
    """CPU seconds (user and system) of a process's descendants, summed by role."""
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    found: dict[str, float] = {}
    for process in processes:
        try:
            role = role_of(process.cmdline())
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if role is not None:
            found[role] = found.get(role, 0.0) + times.user + times.system
    return found


def process_memory(root_pid: int) -> list[ProcessMemory]:
    """Resident memory of a process and all its descendants, by role."""
    try:
        root = psutil.Process(root_pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    found = []
    for process in processes:
        try:
            role = role_of(process.cmdline())
            rss = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if role is not None:
            found.append(ProcessMemory(role, process.pid, rss))
    return found
