"""Where our servers spend their time under load: ``python -m bench.profiling``.

Starts our assistant as the benchmark does (``servers.start_lorex``), runs one load level on one
channel, and meanwhile samples the Rasa server and the action server with py-spy. For each server
it prints the functions found in the most samples (with their callees, and on their own) and
keeps the raw stacks in ``bench/.work/profiling/`` (collapsed-stack text: speedscope.app and
``flamegraph.pl`` read it).

py-spy reads another process's memory: it needs root or ``CAP_SYS_PTRACE``. Samples are taken
of running threads only, except that the event loop waiting in ``select`` shows as Sanic's
``serve``: the share there is the server being idle.

    .venv/bin/python -m bench.profiling --channel REST --concurrency 10
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import load, scripts, servers
from bench.paths import VENV_BIN, WORK

SERVERS = ("Rasa server", "action server")
# "frame (path/to/module.py:123)" -> "frame (module path)": one entry per function.
_FRAME_LINE = re.compile(r":\d+\)$")
_SITE_PACKAGES = re.compile(r"\(\S*/site-packages/")


def _function(frame: str) -> str:
    return _SITE_PACKAGES.sub("(", _FRAME_LINE.sub(")", frame))


def summarise(collapsed: Path, top: int) -> list[str]:
    """The ``top`` functions by share of samples, with callees (inclusive) and on their own."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_function(frame) for frame in stack.split(";")]
        for function in set(frames):
            inclusive[function] += samples
        own[frames[-1]] += samples
    if not total:
        return ["no samples"]
    lines = [f"{total} samples; with callees:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["on their own:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return lines


def _channel(
    name: str, instance: servers.Instance
) -> tuple[load.Channel, list[scripts.ScriptSource]]:
    if name == "REST":
        return load.RestChannel(instance.base_url), scripts.lorex_scripts()
    if name == "phone":
        assert instance.phone is not None
        return load.PhoneChannel(instance.base_url, instance.phone), scripts.phone_scripts()
    raise SystemExit(f"no profile for the {name!r} channel (REST or phone)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profiling", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--channel", default="REST", choices=["REST", "phone"])
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds sampled")
    parser.add_argument("--rate", type=int, default=200, help="samples a second")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)

    py_spy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed: make bench installs it (bench/requirements.in)")
    work = WORK / "profiling"
    if work.exists():
        shutil.rmtree(work)
    instance = servers.start_lorex(work / "servers")
    try:
        instance.first_answer_seconds()
        pids = {m.role: m.pid for m in instance.memory()}
        outputs = {
            role: work / f"{args.channel}-{args.concurrency}-{role.split()[0]}.txt"
            for role in SERVERS
        }
        samplers = [
            subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--format",
                    "raw",
                    "--nonblocking",
                    "--rate",
                    str(args.rate),
                    "--duration",
                    str(int(args.duration)),
                    "--pid",
                    str(pids[role]),
                    "--output",
                    str(outputs[role]),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for role in SERVERS
        ]
        time.sleep(1.0)  # py-spy attaches
        channel, sources = _channel(args.channel, instance)
        result = asyncio.run(
            load.run_load(
                bot="ours",
                channel=channel,
                sources=sources,
                concurrency=args.concurrency,
                warmup_s=1.0,
                duration_s=args.duration - 2.0,
                seed=1,
            )
        )
        for sampler in samplers:
            _, error = sampler.communicate()
            if sampler.returncode != 0:
                raise SystemExit(f"py-spy failed: {error.decode(errors='replace').strip()}")
    finally:
        instance.stop()
    summary = result.summary()
    print(
        f"{args.channel} x{args.concurrency}: p50 {summary['p50_ms']} ms, p95 {summary['p95_ms']} "
        f"ms, p99 {summary['p99_ms']} ms, {summary['throughput_turns_per_s']} turns/s"
    )
    for role in SERVERS:
        print(f"\n## {role} ({outputs[role]})")
        print("\n".join(summarise(outputs[role], args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
