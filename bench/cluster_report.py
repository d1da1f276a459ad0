"""The report's cluster section: what a turn costs in each deployment, and what that projects.

Rendered from ``results["cluster"]`` (``bench/cluster.py``) alone: every number in the table and
in the paragraph under it comes from there.
"""

from __future__ import annotations

from typing import Any

MAKE_RUN, ONE_ON_STORES, CLUSTER = "make_run", "postgres_redis", "make_cluster"
# Instances (one core each) the paragraph projects for.
PROJECTED_INSTANCES = (2, 4, 8)
# A load average at the phase's start above this (per core) means others were using the cores.
QUIET_LOAD_PER_CORE = 0.25


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def per_core(cpu_ms_per_turn: float | None) -> float | None:
    """Turns one core serves a second at this CPU cost per turn (nothing else on it)."""
    return 1000 / cpu_ms_per_turn if cpu_ms_per_turn else None


def busier_share(cluster: dict[str, Any]) -> float | None:
    """The median over windows of the busier Rasa server's share of the Rasa servers' CPU."""
    shares = sorted(
        w["rasa_server_cpu_shares"][0]
        for w in cluster["windows"]
        if len(w.get("rasa_server_cpu_shares") or []) > 1
    )
    return shares[len(shares) // 2] if shares else None


def _windows(d: dict[str, Any], field: str) -> str:
    return " / ".join(_f(w[field]) for w in d["windows"])


def _roles(d: dict[str, Any]) -> str:
    shown = {r: v for r, v in d["cpu_ms_per_turn_by_role"].items() if v and v >= 0.05}
    return ", ".join(f"{role} {_f(v)}" for role, v in shown.items())


def _row(d: dict[str, Any]) -> list[Any]:
    return [
        d["name"],
        f"{_f(d['turns_per_s'])} ({_windows(d, 'turns_per_s')})",
        f"**{_f(d['cpu_ms_per_turn'])}** ({_windows(d, 'cpu_ms_per_turn')})",
        _roles(d),
        _f(per_core(d["cpu_ms_per_turn"]), 0),
        _f(d["redis_ms_per_turn"], 2) if d["shared_stores"] else "–",
        _f(d.get("redis_commands_per_turn")) if d["shared_stores"] else "–",
        _f(d["postgres_ms_per_turn"]) if d["shared_stores"] else "–",
        _f(d["load_client_ms_per_turn"]),
        f"{_f(d['p50_ms'], 0)} / {_f(d['p95_ms'], 0)}",
        d["errors"] + d["unexpected"],
    ]


def _how(figures: dict[str, Any]) -> list[str]:
    machine = figures.get("machine") or {}
    load = figures.get("load_average_at_start") or []
    cores = figures.get("cores") or machine.get("usable_cores") or 1
    lines = [
        f"Three deployments under the same REST load, {figures['concurrency']} conversations at "
        "once, each message with a fresh `Idempotency-Key` header (the widget sends one; on the "
        "shared stores it costs a turn record on Redis, counted below): `make run` as it is; the "
        "same command on fresh PostgreSQL databases with `REDIS_URL` and `VAULT_KEY` set; and "
        "`make cluster` (`python -m bot.cli cluster`: two Rasa instances, each with its action "
        "server, behind HAProxy, round-robin). All three run throughout, idle between their "
        f"turns; each gets one unmeasured window, then one {figures['duration_s']:.0f} s window "
        f"in each of {figures['rounds']} rounds, every other round in the reverse order. Each "
        "figure is the median of a deployment's windows (each window's in brackets). CPU is user "
        "and system time of every process of the deployment (Rasa and action servers, HAProxy, "
        "console, supervisor), per turn answered in the window. Beside it: the Redis server's "
        "(one of the phase's own, so nothing else is counted), the deployment's PostgreSQL "
        "backends' (the server's shared WAL writer and checkpointer are left out), and the load "
        "client's, which runs on the same cores.",
        "",
    ]
    if machine:
        changed = " (with uncommitted changes)" if machine.get("uncommitted_changes") else ""
        lines += [
            f"Measured {machine['date']} with `{machine['command']}` at commit "
            f"`{machine['commit']}`{changed}, on {cores} cores; load average when the phase "
            f"began {', '.join(_f(x, 2) for x in load)}"
            + (
                ": the machine was shared with other work, which moves turns/s; CPU per turn "
                "is the figure to read."
                if load and load[0] > QUIET_LOAD_PER_CORE * cores
                else "."
            ),
            "",
        ]
    return lines


def projection(figures: dict[str, Any]) -> str:
    """The paragraph: CPU per turn of each deployment and what it projects for one instance a
    core, from the measured medians."""
    by_key = {d["key"]: d for d in figures["deployments"]}
    run, one, many = by_key.get(MAKE_RUN), by_key.get(ONE_ON_STORES), by_key.get(CLUSTER)
    if not (run and one and many) or not all(
        d["cpu_ms_per_turn"] and d["turns_per_s"] for d in (run, one, many)
    ):
        return "Not every deployment answered turns: nothing to project."
    cores = figures.get("cores") or 1
    a, b, c = run["cpu_ms_per_turn"], one["cpu_ms_per_turn"], many["cpu_ms_per_turn"]
    haproxy = many["cpu_ms_per_turn_by_role"].get("haproxy") or 0.0
    stores = (many["redis_ms_per_turn"] or 0.0) + (many["postgres_ms_per_turn"] or 0.0)
    per_instance = per_core(c) or 0.0
    projected = ", ".join(
        f"{n} instances about {n * per_instance:,.0f}" for n in PROJECTED_INSTANCES
    )
    sentences = [
        f"A turn costs {a:.1f} ms of CPU in `make run`, {b:.1f} ms in one instance on "
        f"PostgreSQL and Redis ({b - a:+.1f} ms in the servers' own processes for talking to "
        f"the stores instead of SQLite and memory), and {c:.1f} ms in `make cluster` "
        f"({c - b:+.1f} ms against one instance on the same stores, HAProxy's share "
        f"{haproxy:.1f} ms). The stores' own servers add "
        f"{one['redis_ms_per_turn'] or 0:.2f} ms (Redis) and "
        f"{one['postgres_ms_per_turn'] or 0:.1f} ms (PostgreSQL backends) per turn for one "
        f"instance, {many['redis_ms_per_turn'] or 0:.2f} and "
        f"{many['postgres_ms_per_turn'] or 0:.1f} ms for the cluster.",
        f"On this machine's {cores} cores everything runs side by side (the instances, the "
        "stores and the load client), so two instances cannot serve twice one's turns: "
        f"`make cluster` served {many['turns_per_s']:.1f} turns/s, one instance on the same "
        f"stores {one['turns_per_s']:.1f} ({many['turns_per_s'] / one['turns_per_s']:.2f}×), "
        f"`make run` {run['turns_per_s']:.1f}."
        + (
            f" HAProxy spread the turns: the busier of the two Rasa servers used "
            f"{share:.0%} of their CPU time (median window)."
            if (share := busier_share(many)) is not None
            else ""
        ),
        f"What the CPU per turn projects: one core does {per_instance:,.0f} turns/s of "
        f"`make cluster`'s work (1000 / {c:.1f} ms), so N instances with a core each would "
        f"serve N × {per_instance:,.0f} turns/s ({projected}), as long as the shared stores "
        "are not the bottleneck. At "
        f"{stores:.1f} ms of store CPU per turn, one core given to Redis and PostgreSQL keeps up "
        f"with about {1000 / stores:,.0f} turns/s, the work of about "
        f"{(1000 / stores) / per_instance:.0f} instance cores."
        if stores
        else f"What the CPU per turn projects: one core does {per_instance:,.0f} turns/s of "
        f"`make cluster`'s work, so N instances with a core each would serve N × "
        f"{per_instance:,.0f} turns/s ({projected}) if the shared stores keep up.",
        f"`make run` itself, at {per_core(a) or 0:,.0f} turns/s a core, stays one instance: its "
        "state lives in its own memory.",
    ]
    return " ".join(sentences)


def section(figures: dict[str, Any] | None, note: list[str]) -> list[str]:
    lines = ["## One instance or several: what a turn costs on shared stores", "", *note]
    if not figures:
        return [*lines, "Not measured in this run.", ""]
    lines += _how(figures)
    lines += _table(
        [
            "deployment",
            "turns/s",
            "CPU ms per turn",
            "by process (ms)",
            "turns/s per core",
            "Redis ms",
            "Redis commands",
            "PostgreSQL ms",
            "load client ms",
            "p50 / p95 ms",
            "failed",
        ],
        [_row(d) for d in figures["deployments"]],
    )
    lines += [
        "",
        "*Turns/s per core* is 1000 / CPU ms per turn: what one core would serve of that "
        "deployment's work alone. Redis, PostgreSQL and load client figures are per turn too.",
        "",
        projection(figures),
        "",
    ]
    return lines
