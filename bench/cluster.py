"""The cluster phase: what a turn costs in `make run`, in one instance on PostgreSQL and Redis, and
in `make cluster`'s two instances behind HAProxy, under the same REST load, in one run.

The three deployments are started first and left idle between their turns (as the ablation does
with its servers): `make run` as it is (SQLite files, no Redis; ``servers.start_lorex``); the same
command on fresh PostgreSQL databases (``DATABASE_URL``, ``TRACKER_STORE_URL``) with ``REDIS_URL``
and ``VAULT_KEY`` set; and ``python -m bot.cli cluster`` on databases of its own
(``servers.start_cluster``). Redis is a server of the phase's own, each deployment on its own
database number; the databases are dropped at the end (``bench/stores.py``).

Each deployment takes the load once unmeasured, then once in each of ``rounds`` rounds, every
other round in the reverse order, so a machine whose speed drifts (a shared host) favours none.
Every message carries a fresh ``Idempotency-Key``, as the widget sends one: the turn is recorded
so that a copy is answered once (in memory for `make run`, a Redis round trip for the others).

For each window: turns answered per second, and CPU time (user and system, psutil) per turn
answered: every process of the deployment (Rasa servers, action servers, HAProxy, the console
and the supervisor, by role), and apart from it the Redis server's, the deployment's PostgreSQL
backends' and the load client's own (it runs on the same cores). The figures reported are each
deployment's medians over its windows.
"""

from __future__ import annotations

import asyncio
import base64
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import redis  # type: ignore[import-untyped]  # (redis-py 4.6 ships no types)

from bench import load, scripts, servers
from bench.stores import PostgresDatabases, PrivateRedis, backend_cpu_seconds, backends_used

REDIS_SERVER, POSTGRES_BACKENDS, LOAD_CLIENT = "Redis server", "PostgreSQL backends", "load client"
REDIS_COMMANDS = "Redis commands"  # a count, not seconds


@dataclass(frozen=True)
class Deployment:
    key: str
    name: str
    redis_database: int | None  # on the phase's own Redis server; None: no Redis
    instances: int


DEPLOYMENTS = (
    Deployment("make_run", "`make run` (SQLite, no Redis)", None, 1),
    Deployment("postgres_redis", "one instance on PostgreSQL + Redis", 1, 1),
    Deployment("make_cluster", "`make cluster` (two instances + HAProxy)", 2, 2),
)


@dataclass
class Running:
    deployment: Deployment
    instance: servers.Instance
    databases: tuple[str, ...]  # its PostgreSQL databases' names (none for SQLite)
    startup_s: float


@dataclass(frozen=True)
class Reading:
    """CPU seconds used so far, read at a window's edge."""

    by_role: dict[str, float]
    redis_s: float
    redis_commands: int
    backends: dict[int, float]
    client_s: float
    rasa_servers: dict[int, float]  # each Rasa server's, by pid


def _client_seconds() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def _rasa_servers(root_pid: int) -> dict[int, float]:
    try:
        root = psutil.Process(root_pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    found = {}
    for member in members:
        try:
            if servers.role_of(member.cmdline()) == "Rasa server":
                times = member.cpu_times()
                found[member.pid] = float(times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _shares(opened: Reading, closed: Reading) -> list[float]:
    """Each Rasa server's share of the Rasa servers' CPU time between two readings, largest
    first (how evenly the load balancer spread the turns)."""
    used = [s - opened.rasa_servers.get(pid, 0.0) for pid, s in closed.rasa_servers.items()]
    total = sum(used)
    return sorted((round(u / total, 3) for u in used), reverse=True) if total else []


def _read(running: Running, private_redis: PrivateRedis) -> Reading:
    return Reading(
        running.instance.cpu_seconds(),
        private_redis.cpu_seconds(),
        private_redis.commands(),
        backend_cpu_seconds(running.databases),
        _client_seconds(),
        _rasa_servers(running.instance.process.pid),
    )


def _used(opened: Reading, closed: Reading) -> tuple[dict[str, float], dict[str, float]]:
    """CPU seconds between two readings: the deployment's by role, and the others'."""
    roles = {role: closed.by_role[role] - opened.by_role.get(role, 0.0) for role in closed.by_role}
    others = {
        REDIS_SERVER: closed.redis_s - opened.redis_s,
        REDIS_COMMANDS: closed.redis_commands - opened.redis_commands,
        POSTGRES_BACKENDS: backends_used(opened.backends, closed.backends),
        LOAD_CLIENT: closed.client_s - opened.client_s,
    }
    return roles, others


def _vault_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _start(
    deployment: Deployment,
    work: Path,
    databases: PostgresDatabases,
    private_redis: PrivateRedis,
) -> Running:
    folder = work / deployment.key
    if deployment.redis_database is None:
        instance = servers.start_lorex(folder)
        names: tuple[str, ...] = ()
    else:
        redis_url = private_redis.url(deployment.redis_database)
        redis.Redis.from_url(redis_url).flushdb()
        stores = {
            "DATABASE_URL": databases.create(f"{deployment.key}_product"),
            "TRACKER_STORE_URL": databases.create(f"{deployment.key}_tracker"),
            "REDIS_URL": redis_url,
            "VAULT_KEY": _vault_key(),
        }
        names = tuple(databases.names[-2:])
        if deployment.instances == 1:
            instance = servers.start_lorex(folder, stores)
        else:
            instance = servers.start_cluster(folder, stores)
    startup_s = instance.first_answer_seconds()
    return Running(deployment, instance, names, startup_s)


def _window(
    running: Running,
    private_redis: PrivateRedis,
    sources: list[scripts.ScriptSource],
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    seed: int,
) -> tuple[load.LoadResult, dict[str, float], dict[str, float], list[float]]:
    readings: list[Reading] = []
    result = asyncio.run(
        load.run_load(
            bot="ours",
            channel=load.RestChannel(running.instance.base_url, idempotency_keys=True),
            sources=sources,
            concurrency=concurrency,
            warmup_s=warmup_s,
            duration_s=duration_s,
            seed=seed,
            at_window_edge=lambda: readings.append(_read(running, private_redis)),
        )
    )
    time.sleep(1.0)  # the last turns' actions finish before the next window
    opened, closed = readings
    roles, others = _used(opened, closed)
    return result, roles, others, _shares(opened, closed)


def _per_turn_ms(seconds: float, turns: int) -> float | None:
    return round(1000 * seconds / turns, 2) if turns else None


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


def _window_figures(
    result: load.LoadResult,
    roles: dict[str, float],
    others: dict[str, float],
    shares: list[float],
    stores: bool,
) -> dict[str, Any]:
    turns = result.answered_in_window
    return {
        "turns": turns,
        "seconds": round(result.duration_s, 2),
        "turns_per_s": round(result.throughput, 2),
        "cpu_ms_per_turn": _per_turn_ms(sum(roles.values()), turns),
        "cpu_ms_per_turn_by_role": {
            role: _per_turn_ms(seconds, turns) for role, seconds in sorted(roles.items())
        },
        "redis_ms_per_turn": _per_turn_ms(others[REDIS_SERVER], turns) if stores else None,
        "redis_commands_per_turn": (
            round(others[REDIS_COMMANDS] / turns, 1) if stores and turns else None
        ),
        "postgres_ms_per_turn": (
            _per_turn_ms(others[POSTGRES_BACKENDS], turns) if stores else None
        ),
        "load_client_ms_per_turn": _per_turn_ms(others[LOAD_CLIENT], turns),
        "rasa_server_cpu_shares": shares,
    }


def _summary(
    running: Running, windows: list[dict[str, Any]], results: list[load.LoadResult]
) -> dict[str, Any]:
    deployment = running.deployment
    latency = load.combined(results).summary()
    roles = sorted({role for w in windows for role in w["cpu_ms_per_turn_by_role"]})
    return {
        "key": deployment.key,
        "name": deployment.name,
        "instances": deployment.instances,
        "shared_stores": deployment.redis_database is not None,
        "startup_s": round(running.startup_s, 1),
        "turns": sum(w["turns"] for w in windows),
        "turns_per_s": _median([w["turns_per_s"] for w in windows]),
        "cpu_ms_per_turn": _median([w["cpu_ms_per_turn"] for w in windows]),
        "cpu_ms_per_turn_by_role": {
            role: _median([w["cpu_ms_per_turn_by_role"].get(role) for w in windows])
            for role in roles
        },
        "redis_ms_per_turn": _median([w["redis_ms_per_turn"] for w in windows]),
        "redis_commands_per_turn": _median([w["redis_commands_per_turn"] for w in windows]),
        "postgres_ms_per_turn": _median([w["postgres_ms_per_turn"] for w in windows]),
        "load_client_ms_per_turn": _median([w["load_client_ms_per_turn"] for w in windows]),
        "memory_bytes": sum(m.rss_bytes for m in running.instance.memory()),
        "p50_ms": latency["p50_ms"],
        "p95_ms": latency["p95_ms"],
        "errors": latency["errors"],
        "unexpected": latency["unexpected"],
        "error_examples": latency["error_examples"],
        "windows": windows,
    }


def measure(
    work: Path,
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    rounds: int,
    seed: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Every deployment's figures (see the module's docstring); ``duration_s`` per window."""
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    running: list[Running] = []
    databases = PostgresDatabases()
    private_redis: PrivateRedis | None = None
    windows: dict[str, list[dict[str, Any]]] = {d.key: [] for d in DEPLOYMENTS}
    results: dict[str, list[load.LoadResult]] = {d.key: [] for d in DEPLOYMENTS}
    sources = scripts.lorex_scripts()
    try:
        private_redis = PrivateRedis(work / "redis")
        for deployment in DEPLOYMENTS:
            running.append(_start(deployment, work, databases, private_redis))
            say(f"cluster: {deployment.name} started in {running[-1].startup_s:.1f} s")
        for each in running:  # unmeasured first, as in the ablation
            _window(each, private_redis, sources, concurrency, warmup_s, 1.0, seed)
        for round_number in range(rounds):
            order = running if round_number % 2 == 0 else list(reversed(running))
            for each in order:
                result, roles, others, shares = _window(
                    each, private_redis, sources, concurrency, warmup_s, duration_s, seed
                )
                key = each.deployment.key
                figures = _window_figures(
                    result, roles, others, shares, each.deployment.redis_database is not None
                )
                windows[key].append(figures)
                results[key].append(result)
                say(
                    f"cluster: {each.deployment.name}: {figures['turns_per_s']} turns/s, "
                    f"{figures['cpu_ms_per_turn']} CPU ms per turn, "
                    f"{result.errors} errors, {result.unexpected} unexpected"
                )
        summaries = [
            _summary(each, windows[each.deployment.key], results[each.deployment.key])
            for each in running
        ]
    finally:
        for each in running:
            each.instance.stop()
        if private_redis is not None:
            private_redis.stop()
        databases.drop_all()
    return {
        "concurrency": concurrency,
        "channel": "REST",
        "idempotency_keys": True,
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "rounds": rounds,
        "cores": len(os.sched_getaffinity(0)),
        "load_average_at_start": load_at_start,
        "deployments": summaries,
    }
