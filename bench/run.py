"""The benchmark: ``python -m bench.run`` (what ``make bench`` runs) or ``--quick`` for a smoke run.

What it does, in order (each phase is timed; one that fails is reported as failed and the rest
still run):

1. Device ID extraction: typed variants of every registered ID, and the phone issue's spoken
   transcripts through the phone channel's reading and the real registry (reported apart).
2. The stock Rasa bot (``rasa init``'s project, made in a scratch folder): training.
3. Both servers: ours started as ``make run`` starts it, then the stock bot; seconds to the
   first answer and resident memory at idle of each; the REST load at each concurrency on both,
   taking turns (``REST_ORDER``); our socket.io and phone (Twilio webhook, signed requests)
   loads; memory after the load.
4. The ablation of our fixes to Rasa (``bench/ablation.py``): each fix of ``bot.patched_rasa``
   switched off alone, turns/s and CPU milliseconds per turn against every fix on, in one run.
5. The cluster (``bench/cluster.py``): `make run`, one instance on PostgreSQL and Redis, and
   `make cluster`'s two instances behind HAProxy, the same REST load on each in turn in three
   rounds; turns/s and CPU milliseconds per turn of each (and of the shared stores), in one run.
6. Our training time: from scratch and with nothing changed.
7. NLU cross-validation with the real ``config.yml``.

The load tests come first so a slow cross-validation cannot push them out. Every started server
is stopped on the way out, also after Ctrl-C or an error. The report (Markdown, PNG plots and the
raw figures as JSON) goes to ``bench/results/``; ``--quick`` writes to ``bench/.work/quick/results``
instead (its figures mean nothing: tiny loads, 2 folds, cut epochs), so it never replaces the
committed report. ``--only`` runs the phases it names and puts their figures into the report
already at ``--out`` (the others' figures stay as they were): ``--only ablation`` renews the
ablation table alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from bench import ablation, cluster, load, report, scripts, servers, training, understanding
from bench.machine import describe
from bench.paths import QUIET_RASA, REPO, RESULTS, WORK

T = TypeVar("T")
# Ctrl-C inside asyncio.run can come out as the main task's CancelledError instead.
INTERRUPTED = (KeyboardInterrupt, asyncio.CancelledError)


@dataclass(frozen=True)
class Plan:
    quick: bool
    folds: int
    levels: tuple[int, ...]
    warmup_s: float
    duration_s: float
    # Paced calls make a few requests a second: a longer window for as many turns.
    phone_duration_s: float
    settle_s: float
    seed: int
    skip: frozenset[str]
    # Given with --only: the phases run, whose figures replace theirs in the report at ``out``.
    only: frozenset[str]
    ablation_concurrency: int
    ablation_duration_s: float
    cluster_concurrency: int
    cluster_duration_s: float  # per window: each deployment gets one window a round
    cluster_rounds: int
    work: Path
    out: Path


PHASES = ("extraction", "stock", "ours", "ablation", "cluster", "training", "cross-validation")
# Where each phase's figures go in results.json.
RESULT_KEYS = {
    "extraction": "extraction",
    "stock": "stock",
    "ours": "ours",
    "ablation": "ablation",
    "cluster": "cluster",
    "training": "training",
    "cross-validation": "cross_validation",
}


def plan_from(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run of the harness")
    parser.add_argument("--folds", type=int, help="cross-validation folds (default 5; quick 2)")
    parser.add_argument(
        "--levels", help="concurrent conversations, comma-separated (default 1,10,50; quick 1,5)"
    )
    parser.add_argument(
        "--duration", type=float, help="seconds measured per chat level (default 15)"
    )
    parser.add_argument(
        "--phone-duration", type=float, help="seconds measured per phone level (default 30)"
    )
    parser.add_argument(
        "--ablation-duration",
        type=float,
        help="seconds measured per configuration in the ablation (default 20; quick 2)",
    )
    parser.add_argument(
        "--cluster-duration",
        type=float,
        help="seconds measured per deployment and round in the cluster phase (default 15; quick 2)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--skip", default="", help=f"phases to leave out, comma-separated: {', '.join(PHASES)}"
    )
    parser.add_argument(
        "--only",
        default="",
        help="the only phases to run, comma-separated; their figures replace theirs in the "
        "report already at --out",
    )
    parser.add_argument("--out", type=Path, help="where the report goes")
    args = parser.parse_args(argv)
    skip = frozenset(filter(None, (s.strip() for s in args.skip.split(","))))
    only = frozenset(filter(None, (s.strip() for s in args.only.split(","))))
    for option, named in (("--skip", skip), ("--only", only)):
        if unknown := named - set(PHASES):
            parser.error(f"unknown phase(s) for {option}: {', '.join(sorted(unknown))}")
    if only and not only - skip:
        parser.error("--skip leaves out every phase --only names")
    only -= skip
    if only:
        skip |= set(PHASES) - only
    quick: bool = args.quick
    # A scratch folder per set of phases: an `--only` run wipes its own, not another's running.
    work = WORK / "-".join(["quick" if quick else "full", *sorted(only)])
    levels = args.levels or ("1,5" if quick else "1,10,50")
    return Plan(
        quick=quick,
        folds=args.folds or (2 if quick else 5),
        levels=tuple(int(level) for level in levels.split(",")),
        warmup_s=1.0 if quick else 3.0,
        duration_s=args.duration or (3.0 if quick else 15.0),
        phone_duration_s=args.phone_duration or (6.0 if quick else 30.0),
        settle_s=1.0 if quick else 5.0,
        seed=args.seed,
        skip=skip,
        only=only,
        ablation_concurrency=5 if quick else 10,
        ablation_duration_s=args.ablation_duration or (2.0 if quick else 20.0),
        cluster_concurrency=5 if quick else 10,
        cluster_duration_s=args.cluster_duration or (2.0 if quick else 15.0),
        cluster_rounds=3,
        work=work,
        out=args.out or (WORK / "quick" / "results" if quick else RESULTS),
    )


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_phase(results: dict[str, Any], name: str, plan: Plan, action: Callable[[], T]) -> T | None:
    if name in plan.skip:
        results["phases"][name] = {"status": "skipped", "seconds": 0.0}
        say(f"{name}: skipped")
        return None
    say(f"{name} ...")
    began = time.perf_counter()
    status, summary, error, value = "done", "", "", None
    try:
        value = action()
    except INTERRUPTED:
        seconds = round(time.perf_counter() - began, 1)
        results["phases"][name] = {"status": "interrupted", "seconds": seconds}
        raise
    except Exception as exc:
        status, summary = "failed", (str(exc).strip().splitlines() or [repr(exc)])[0]
        error = f"{exc}\n{traceback.format_exc(limit=4)}"[-3000:]
        say(f"{name} failed: {summary}")
    seconds = time.perf_counter() - began
    results["phases"][name] = {
        "status": status,
        "seconds": round(seconds, 1),
        "summary": summary,
        "error": error,
    }
    say(f"{name}: {status} in {seconds:.0f} s")
    return value


def _memory(instance: servers.Instance) -> list[dict[str, Any]]:
    return [asdict(m) for m in instance.memory()]


def _started(plan: Plan, instance: servers.Instance) -> dict[str, Any]:
    """Start-up time and idle memory of a server just started."""
    figures: dict[str, Any] = {"startup_s": round(instance.first_answer_seconds(), 2)}
    say(f"{instance.name} answered {figures['startup_s']:.1f} s after starting")
    time.sleep(plan.settle_s)
    figures["memory_idle"] = _memory(instance)
    figures["load"] = {}
    return figures


def _say_level(bot: str, channel_name: str, summary: dict[str, Any]) -> None:
    say(
        f"{bot} {channel_name} x{summary['concurrency']}: p50 {summary['p50_ms']} ms, "
        f"p95 {summary['p95_ms']} ms, {summary['throughput_turns_per_s']} turns/s, "
        f"{summary['errors']} errors, {summary['unexpected']} unexpected"
    )


def _window(
    plan: Plan,
    instance: servers.Instance,
    sources: list[scripts.ScriptSource],
    channel_name: str,
    bot: str,
    concurrency: int,
    duration_s: float,
) -> load.LoadResult:
    result = asyncio.run(
        load.run_load(
            bot=bot,
            channel=_channel(channel_name, instance, sources, plan),
            sources=sources,
            concurrency=concurrency,
            warmup_s=plan.warmup_s,
            duration_s=duration_s,
            seed=plan.seed,
        )
    )
    time.sleep(1.0)
    return result


def _load_levels(
    plan: Plan,
    instance: servers.Instance,
    sources: list[scripts.ScriptSource],
    channel_name: str,
    bot: str,
) -> list[dict[str, Any]]:
    duration_s = plan.phone_duration_s if channel_name == "phone" else plan.duration_s
    levels = []
    for concurrency in plan.levels:
        summary = _window(
            plan, instance, sources, channel_name, bot, concurrency, duration_s
        ).summary()
        levels.append(summary)
        _say_level(bot, channel_name, summary)
    return levels


# Ours and the stock bot take turns at each REST level, each for half the window twice, in the
# order ours, stock, stock, ours: a machine whose speed drifts during the run (a shared host)
# then slows or speeds both alike instead of favouring whichever ran at the better moment.
REST_ORDER = ("ours", "stock", "stock", "ours")


def _rest_levels_side_by_side(
    plan: Plan, bots: dict[str, tuple[servers.Instance, list[scripts.ScriptSource]]]
) -> dict[str, list[dict[str, Any]]]:
    order = [bot for bot in REST_ORDER if bot in bots]
    windows_per_bot = {bot: order.count(bot) for bot in bots}
    levels: dict[str, list[dict[str, Any]]] = {bot: [] for bot in bots}
    for concurrency in plan.levels:
        windows: dict[str, list[load.LoadResult]] = {bot: [] for bot in bots}
        for bot in order:
            instance, sources = bots[bot]
            duration_s = plan.duration_s / windows_per_bot[bot]
            windows[bot].append(
                _window(plan, instance, sources, "REST", bot, concurrency, duration_s)
            )
        for bot, results in windows.items():
            summary = load.combined(results).summary()
            levels[bot].append(summary)
            _say_level(bot, "REST", summary)
    return levels


def measure_servers(plan: Plan, stock_project: Path | None) -> dict[str, Any]:
    """Both servers (the stock bot unless its phase failed or was skipped): start-up and idle
    memory of each, started one after the other; the REST levels side by side; our socket.io
    and phone levels; memory after the load."""
    instances: dict[str, servers.Instance] = {}
    figures: dict[str, dict[str, Any]] = {}
    try:
        instances["ours"] = servers.start_lorex(plan.work / "ours")
        figures["ours"] = _started(plan, instances["ours"])
        if stock_project is not None:
            instances["stock"] = servers.start_stock(stock_project)
            figures["stock"] = _started(plan, instances["stock"])
        chat = scripts.lorex_scripts()
        rest_sources = {"ours": chat, "stock": scripts.stock_scripts()}
        channels: dict[str, Callable[[], Any]] = {
            "REST": lambda: _rest_levels_side_by_side(
                plan, {bot: (instances[bot], rest_sources[bot]) for bot in instances}
            ),
            "socket.io": lambda: {
                "ours": _load_levels(plan, instances["ours"], chat, "socket.io", "ours")
            },
            "phone": lambda: {
                "ours": _load_levels(
                    plan, instances["ours"], scripts.phone_scripts(), "phone", "ours"
                )
            },
        }
        for channel_name, measure in channels.items():
            try:
                for bot, levels in measure().items():
                    figures[bot]["load"][channel_name] = levels
            except Exception as exc:  # one channel failing must not lose the others' figures
                figures["ours"].setdefault("load_failures", {})[channel_name] = repr(exc)
                say(f"{channel_name} load failed: {exc!r}")
        for bot, instance in instances.items():
            figures[bot]["memory_after_load"] = _memory(instance)
    finally:
        for instance in instances.values():
            instance.stop()
    return figures


def _channel(
    name: str, instance: servers.Instance, sources: list[scripts.ScriptSource], plan: Plan
) -> load.Channel:
    if name == "REST":
        return load.RestChannel(instance.base_url)
    if name == "socket.io":
        counts = asyncio.run(load.reply_counts(instance.base_url, sources, plan.seed))
        return load.SocketIOChannel(instance.base_url, counts)
    if name == "phone":
        if instance.phone is None:
            raise ValueError(f"{instance.name} has no phone channel")
        return load.PhoneChannel(instance.base_url, instance.phone)
    raise ValueError(f"no load client for the {name} channel")


def measure_ablation(plan: Plan) -> dict[str, Any]:
    return ablation.measure(
        plan.work / "ablation",
        concurrency=plan.ablation_concurrency,
        warmup_s=plan.warmup_s,
        duration_s=plan.ablation_duration_s,
        seed=plan.seed,
        say=say,
    )


def measure_cluster(plan: Plan) -> dict[str, Any]:
    return cluster.measure(
        plan.work / "cluster",
        concurrency=plan.cluster_concurrency,
        warmup_s=plan.warmup_s,
        duration_s=plan.cluster_duration_s,
        rounds=plan.cluster_rounds,
        seed=plan.seed,
        say=say,
    )


def prepare_stock(plan: Plan) -> tuple[Path, dict[str, Any]]:
    project = training.make_stock_project(plan.work / "stock")
    train_s = training.train_stock(project, plan.quick)
    say(f"stock bot trained in {train_s:.0f} s")
    return project, {"training_s": round(train_s, 1)}


def our_config(plan: Plan) -> Path:
    config = REPO / "config.yml"
    if plan.quick:
        return training.quick_config(config, plan.work / "quick-config.yml")
    return config


def measure_training(plan: Plan) -> dict[str, Any]:
    times = training.train_ours(plan.work / "training", our_config(plan))
    if "cross-validation" not in plan.skip:
        # Each fold trains on (folds - 1) / folds of the data: a rough guide, printed early.
        estimate = plan.folds * times.from_scratch_s * (plan.folds - 1) / plan.folds
        say(f"cross-validation will take roughly {estimate / 60:.0f} minutes")
    return {
        "from_scratch_s": round(times.from_scratch_s, 1),
        "unchanged_s": round(times.unchanged_s, 1),
    }


def measure_cross_validation(plan: Plan) -> dict[str, Any]:
    result = understanding.cross_validate(plan.work, our_config(plan), plan.folds, plan.seed)
    return asdict(result)


def measure_extraction(plan: Plan) -> dict[str, Any]:
    typed = understanding.score_extraction(understanding.typed_variants(plan.seed))
    spoken = understanding.score_spoken(plan.work / "spoken", understanding.spoken_cases())
    return {"typed": _extraction_summary(typed), "spoken": _extraction_summary(spoken)}


def _extraction_summary(result: understanding.ExtractionResult) -> dict[str, Any]:
    return {
        "total": result.total,
        "exact": result.exact,
        "rate": result.rate,
        "seconds": round(result.seconds, 2),
        "categories": [
            {
                "category": c.category,
                "total": c.total,
                "exact": c.exact,
                "rate": c.rate,
                "misses": [list(miss) for miss in c.misses[:5]],
                "miss_count": len(c.misses),
            }
            for c in result.categories
        ],
    }


def _into_earlier_report(results: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The report at ``plan.out`` with the figures of the phases run (``--only``) replaced."""
    earlier_path = plan.out / "results.json"
    if not earlier_path.is_file():
        return results
    earlier: dict[str, Any] = json.loads(earlier_path.read_text())
    for phase in plan.only:
        earlier[RESULT_KEYS[phase]] = results.get(RESULT_KEYS[phase])
        earlier["phases"][phase] = results["phases"][phase]
    return earlier


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    plan = plan_from(argv)
    os.environ.update(QUIET_RASA)  # spaCy imports TensorFlow here too (through thinc)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    command = "python -m bench.run " + shlex.join(sys.argv[1:] if argv is None else list(argv))
    if plan.work.exists():
        shutil.rmtree(plan.work)
    plan.work.mkdir(parents=True)
    results: dict[str, Any] = {
        "machine": describe(command.strip()),
        "plan": {
            "quick": plan.quick,
            "folds": plan.folds,
            "levels": list(plan.levels),
            "warmup_s": plan.warmup_s,
            "duration_s": plan.duration_s,
            "phone_duration_s": plan.phone_duration_s,
            "caller_pace": load.caller_pace(),
            "seed": plan.seed,
            "skipped": sorted(plan.skip),
        },
        "phases": {},
    }
    say(f"{'quick smoke run' if plan.quick else 'benchmark'}; scratch space {plan.work}")
    began = time.perf_counter()
    interrupted = False
    try:
        results["extraction"] = run_phase(
            results, "extraction", plan, lambda: measure_extraction(plan)
        )
        # The stock bot is trained first so that both servers can run side by side.
        stock = run_phase(results, "stock", plan, lambda: prepare_stock(plan))
        stock_project, results["stock"] = stock if stock is not None else (None, None)
        served = run_phase(results, "ours", plan, lambda: measure_servers(plan, stock_project))
        served = served or {}
        results["ours"] = served.get("ours")
        if results["stock"] is not None:
            results["stock"].update(served.get("stock") or {})
        results["ablation"] = run_phase(results, "ablation", plan, lambda: measure_ablation(plan))
        if results["ablation"] is not None:
            results["ablation"]["machine"] = results["machine"]  # --only may run it alone
        results["cluster"] = run_phase(results, "cluster", plan, lambda: measure_cluster(plan))
        if results["cluster"] is not None:
            results["cluster"]["machine"] = results["machine"]
        results["training"] = run_phase(results, "training", plan, lambda: measure_training(plan))
        results["cross_validation"] = run_phase(
            results, "cross-validation", plan, lambda: measure_cross_validation(plan)
        )
    except INTERRUPTED:
        interrupted = True
        say("interrupted: stopping every server")
    finally:
        servers.stop_all()
    results["total_s"] = round(time.perf_counter() - began, 1)
    out = plan.work / "interrupted-results" if interrupted else plan.out
    say(f"finished in {results['total_s']:.0f} s")
    if plan.only and not interrupted:
        results = _into_earlier_report(results, plan)
    written = report.write(results, out)
    shown = written.relative_to(REPO) if written.is_relative_to(REPO) else written
    print(f"\nThe report is at {shown}")
    if interrupted:
        return 130
    failed = [name for name, p in results["phases"].items() if p["status"] == "failed"]
    if failed:
        print(f"These phases failed (see the report): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
