"""What each fix of :mod:`bot.patched_rasa` saves, measured alone, in one run.

One server per configuration, all started first and left idle between their turns: every fix on (as
the product runs), each speed fix off alone (``RASA_PATCHES=-name``: the others stay on), and every
fix off (Rasa unpatched). Each takes the same REST load once unmeasured, then in turn in two
measured rounds (``rounds``: more), every other one in the reverse order, so that a machine whose
speed drifts (a shared host) slows or speeds every configuration alike. A saving of a few tenths
of a millisecond needs more rounds than two to show: on 2026-12-04 a server's CPU per turn moved
by up to 1 ms from one round to the next, and a second server of the same configuration
differed from the first by 0.1 ms (median of 8 rounds). For each window: turns answered per
second, and the CPU time the Rasa server and the action server used in it per turn answered
(psutil: user and system time of each process). CPU per turn is the figure to read on a
saturated machine: it is what a turn costs whatever else is running, where turns per second also
move with the load beside it.

The two turn-fault fixes (``failed_action_ends_turn``, ``action_call_timeout``) change what happens
when the action server fails, not what a turn costs: they stay on here, and
``tests/security/test_turn_faults.py`` shows what they do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import load, scripts, servers
from bot.settings import RASA_PATCH_NAMES, RASA_TURN_FAULT_PATCH_NAMES

SPEED_FIXES = tuple(name for name in RASA_PATCH_NAMES if name not in RASA_TURN_FAULT_PATCH_NAMES)
ALL_ON = "all on"
NONE_ON = "none (Rasa unpatched)"
ROLES = ("Rasa server", "action server")


@dataclass(frozen=True)
class Configuration:
    name: str  # ALL_ON, NONE_ON or the fix that is off
    rasa_patches: str  # the RASA_PATCHES value it runs with


def configurations() -> list[Configuration]:
    return [
        Configuration(ALL_ON, "all"),
        *(Configuration(fix, f"-{fix}") for fix in SPEED_FIXES),
        Configuration(NONE_ON, "none"),
    ]


@dataclass
class Windows:
    """One configuration's measuring windows."""

    turns: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    cpu_s: dict[str, list[float]] = field(default_factory=lambda: {role: [] for role in ROLES})
    results: list[load.LoadResult] = field(default_factory=list)

    def add(self, result: load.LoadResult, cpu_s: dict[str, float]) -> None:
        self.results.append(result)
        self.turns.append(result.answered_in_window)
        self.seconds.append(result.duration_s)
        for role in ROLES:
            self.cpu_s[role].append(cpu_s.get(role, 0.0))

    def summary(self, name: str, rasa_patches: str) -> dict[str, Any]:
        turns = sum(self.turns)
        latency = load.combined(self.results).summary()

        def per_turn(role: str) -> float | None:
            return round(1000 * sum(self.cpu_s[role]) / turns, 2) if turns else None

        per_window = [
            round(1000 * sum(self.cpu_s[role][n] for role in ROLES) / t, 2) if t else None
            for n, t in enumerate(self.turns)
        ]
        return {
            "name": name,
            "rasa_patches": rasa_patches,
            "turns": turns,
            "turns_per_s": round(turns / sum(self.seconds), 2) if self.seconds else None,
            "cpu_ms_per_turn": {role: per_turn(role) for role in ROLES},
            "cpu_ms_per_turn_total": (
                round(sum(per_turn(role) or 0.0 for role in ROLES), 2) if turns else None
            ),
            "cpu_ms_per_turn_by_window": per_window,
            "cpu_ms_per_turn_by_role_and_window": {
                role: [
                    round(1000 * self.cpu_s[role][n] / t, 2) if t else None
                    for n, t in enumerate(self.turns)
                ]
                for role in ROLES
            },
            "p50_ms": latency["p50_ms"],
            "p95_ms": latency["p95_ms"],
            "errors": latency["errors"],
            "unexpected": latency["unexpected"],
        }


def measure(
    work: Path,
    *,
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    seed: int,
    say: Callable[[str], None],
    rounds: int = 2,
    chosen: list[Configuration] | None = None,
) -> dict[str, Any]:
    """Every configuration's figures (see the module's docstring); ``duration_s`` is measured
    per configuration, split evenly between ``rounds`` rounds, every other one in the reverse
    order. ``chosen``: the configurations to measure (all of :func:`configurations` unless
    given; :func:`gains` compares each with the one named ``ALL_ON``)."""
    chosen = chosen or configurations()
    instances: dict[str, servers.Instance] = {}
    windows = {c.name: Windows() for c in chosen}
    sources = scripts.lorex_scripts()
    try:
        for n, configuration in enumerate(chosen):
            instance = servers.start_lorex(
                work / f"config-{n}", {"RASA_PATCHES": configuration.rasa_patches}
            )
            instances[configuration.name] = instance
            startup = instance.first_answer_seconds()
            say(f"ablation: {configuration.name} started in {startup:.1f} s")
        # Unmeasured first: each server's first load ran slower (measured 2026-12-04: the
        # first window of the run at 83 turns/s, the same server's later one at 127).
        for configuration in chosen:
            _window(instances[configuration.name], sources, concurrency, warmup_s, 1.0, seed)
        for round_number in range(rounds):
            round_order = chosen if round_number % 2 == 0 else list(reversed(chosen))
            for configuration in round_order:
                instance = instances[configuration.name]
                result, cpu_s = _window(
                    instance, sources, concurrency, warmup_s, duration_s / rounds, seed
                )
                windows[configuration.name].add(result, cpu_s)
                used = sum(cpu_s.values())
                say(
                    f"ablation: {configuration.name}: {result.throughput:.1f} turns/s, "
                    f"{1000 * used / max(result.answered_in_window, 1):.1f} CPU ms per turn"
                )
    finally:
        for instance in instances.values():
            instance.stop()
    return {
        "concurrency": concurrency,
        "channel": "REST",
        "warmup_s": warmup_s,
        "duration_s": duration_s,
        "turn_fault_fixes": list(RASA_TURN_FAULT_PATCH_NAMES),
        "configurations": [windows[c.name].summary(c.name, c.rasa_patches) for c in chosen],
    }


def _window(
    instance: servers.Instance,
    sources: list[scripts.ScriptSource],
    concurrency: int,
    warmup_s: float,
    duration_s: float,
    seed: int,
) -> tuple[load.LoadResult, dict[str, float]]:
    """One measuring window; the CPU seconds each server used inside it, by role."""
    readings: list[dict[str, float]] = []
    result = asyncio.run(
        load.run_load(
            bot="ours",
            channel=load.RestChannel(instance.base_url),
            sources=sources,
            concurrency=concurrency,
            warmup_s=warmup_s,
            duration_s=duration_s,
            seed=seed,
            at_window_edge=lambda: readings.append(instance.cpu_seconds()),
        )
    )
    time.sleep(1.0)  # the last turns' actions finish before the next window
    opened, closed = readings
    return result, {role: closed.get(role, 0.0) - opened.get(role, 0.0) for role in ROLES}


def gains(ablation: dict[str, Any]) -> list[dict[str, Any]]:
    """For each fix measured: what turning it off alone costs, against every fix on."""
    by_name = {c["name"]: c for c in ablation["configurations"]}
    base = by_name.get(ALL_ON)
    if not base or base["cpu_ms_per_turn_total"] is None:
        return []
    rows = []
    for name, figures in by_name.items():
        if name == ALL_ON or figures["cpu_ms_per_turn_total"] is None:
            continue
        saved = figures["cpu_ms_per_turn_total"] - base["cpu_ms_per_turn_total"]
        # Each round's own saving: the machine's drift between rounds cancels within a round.
        by_round = [
            round(off - on, 2)
            for off, on in zip(
                figures["cpu_ms_per_turn_by_window"],
                base["cpu_ms_per_turn_by_window"],
                strict=False,
            )
            if off is not None and on is not None
        ]
        rows.append(
            {
                "name": name,
                "saved_cpu_ms_per_turn": round(saved, 2),
                "saved_share": round(saved / figures["cpu_ms_per_turn_total"], 3),
                "saved_by_round": by_round,
                "turns_per_s_off": figures["turns_per_s"],
                "turns_per_s_on": base["turns_per_s"],
                # Beyond the noise: both rounds saved, by more than they differ from each other.
                "beyond_noise": len(by_round) > 1
                and min(by_round) > 0
                and saved > max(by_round) - min(by_round),
            }
        )
    return rows
