"""The report: ``results.json`` (every figure), ``README.md`` and PNG plots, from one results dict.

Nothing here measures: it renders what ``bench/run.py`` measured, so a report can be rendered
again from its ``results.json`` (``python -m bench.report bench/results/results.json``) and its
numbers are never typed by hand.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib  # type: ignore[import-untyped]

from bench import cluster_report
from bench.ablation import ALL_ON, NONE_ON, gains

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # type: ignore[import-untyped]

# The targets.
STARTUP_TARGET_S = 30.0
RSS_TARGET_BYTES = 1.2e9
TRAINING_TARGET_S = 120.0
MACRO_F1_TARGET = 0.95
TYPED_ID_TARGET = 0.99
SPOKEN_ID_TARGET = 0.95
PHONE_P95_TARGET_MS = 150.0
LATENCY_RATIO_TARGET = 1.0
RASA_PROCESSES = ("Rasa server", "action server")

PASS, MISS, NOT_MEASURED = "pass", "**miss**", "not measured"
PHONE_TARGET_CONCURRENCY = 10

Results = dict[str, Any]

PHASE_NAMES = {
    "ours": "servers' load",
    "stock": "stock bot's training",
    "training": "training",
    "cross-validation": "cross-validation",
    "extraction": "Device ID extraction",
    "ablation": "ablation",
    "cluster": "cluster",
}


# ---------------------------------------------------------------------------------------------
# Small formatting helpers


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} s"


def _gb(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e9:.2f} GB"


def _ratio(ours: float | None, stock: float | None) -> float | None:
    if ours is None or not stock:
        return None
    return ours / stock


def _x(value: float | None) -> str:
    return "–" if value is None else f"×{value:.2f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _levels(results: Results, bot: str, channel: str) -> list[dict[str, Any]]:
    figures = results.get(bot) or {}
    levels: list[dict[str, Any]] = (figures.get("load") or {}).get(channel) or []
    return levels


def _by_concurrency(levels: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {level["concurrency"]: level for level in levels}


def _by_role(memory: list[dict[str, Any]] | None) -> dict[str, tuple[int, float, float]]:
    """Role → (processes, total resident bytes, largest single process)."""
    roles: dict[str, tuple[int, float, float]] = {}
    for m in memory or []:
        count, total, largest = roles.get(m["role"], (0, 0.0, 0.0))
        roles[m["role"]] = (count + 1, total + m["rss_bytes"], max(largest, m["rss_bytes"]))
    return roles


def _peak_rss(figures: dict[str, Any] | None, role: str) -> float | None:
    if not figures:
        return None
    values = [
        m["rss_bytes"]
        for key in ("memory_idle", "memory_after_load")
        for m in figures.get(key) or []
        if m["role"] == role
    ]
    return max(values) if values else None


# ---------------------------------------------------------------------------------------------
# Targets


def targets(results: Results) -> list[tuple[str, str, str, str]]:
    """(what, target, measured, verdict) for each of the issue's targets."""
    rows: list[tuple[str, str, str, str]] = []

    def verdict(ok: bool) -> str:
        return PASS if ok else MISS

    ours = _by_concurrency(_levels(results, "ours", "REST"))
    stock = _by_concurrency(_levels(results, "stock", "REST"))
    levels = results["plan"]["levels"]
    for concurrency in levels:
        o, s = ours.get(concurrency), stock.get(concurrency)
        what = f"Turn latency, REST, {concurrency} concurrent"
        target = "ratio to stock ≤ 1.0 (p50, p95, p99)"
        if not o or not s or o["p50_ms"] is None or s["p50_ms"] is None:
            rows.append((what, target, "–", NOT_MEASURED))
            continue
        ratios = [_ratio(o[f"p{q}_ms"], s[f"p{q}_ms"]) for q in (50, 95, 99)]
        measured = ", ".join(_x(r) for r in ratios)
        ok = all(r is not None and r <= LATENCY_RATIO_TARGET for r in ratios)
        rows.append((what, target, measured, verdict(ok)))

    phone = _by_concurrency(_levels(results, "ours", "phone")).get(PHONE_TARGET_CONCURRENCY)
    phone_p95 = (phone or {}).get("p95_ms")
    rows.append(
        (
            f"Phone webhook, {PHONE_TARGET_CONCURRENCY} concurrent calls",
            f"p95 < {PHONE_P95_TARGET_MS:.0f} ms server time",
            _ms(phone_p95),
            NOT_MEASURED if phone_p95 is None else verdict(phone_p95 < PHONE_P95_TARGET_MS),
        )
    )

    our_figures = results.get("ours")
    startup = (our_figures or {}).get("startup_s")
    rows.append(
        (
            "Start-up (start to first answer)",
            f"< {STARTUP_TARGET_S:.0f} s",
            _s(startup),
            NOT_MEASURED if startup is None else verdict(startup < STARTUP_TARGET_S),
        )
    )
    for role in RASA_PROCESSES:
        peak = _peak_rss(our_figures, role)
        rows.append(
            (
                f"Resident memory, {role} (idle and after load)",
                f"< {RSS_TARGET_BYTES / 1e9:.1f} GB",
                _gb(peak),
                NOT_MEASURED if peak is None else verdict(peak < RSS_TARGET_BYTES),
            )
        )
    scratch = (results.get("training") or {}).get("from_scratch_s")
    rows.append(
        (
            "Training from scratch",
            f"< {TRAINING_TARGET_S:.0f} s",
            _s(scratch),
            NOT_MEASURED if scratch is None else verdict(scratch < TRAINING_TARGET_S),
        )
    )
    cv = results.get("cross_validation")
    folds = results["plan"]["folds"]
    rows.append(
        (
            f"Intent macro-F1 ({folds}-fold cross-validation)",
            f"≥ {MACRO_F1_TARGET}",
            "–" if not cv else f"{cv['intent_macro_f1']:.3f}",
            NOT_MEASURED if not cv else verdict(cv["intent_macro_f1"] >= MACRO_F1_TARGET),
        )
    )
    typed = (results.get("extraction") or {}).get("typed")
    rows.append(
        (
            "Device ID exact match, typed variants",
            f"≥ {TYPED_ID_TARGET}",
            "–" if not typed else f"{typed['rate']:.3f} ({typed['exact']}/{typed['total']})",
            NOT_MEASURED if not typed else verdict(typed["rate"] >= TYPED_ID_TARGET),
        )
    )
    spoken = (results.get("extraction") or {}).get("spoken")
    rows.append(
        (
            "Device ID exact match, spoken transcripts",
            f"≥ {SPOKEN_ID_TARGET}",
            "–" if not spoken else f"{spoken['rate']:.3f} ({spoken['exact']}/{spoken['total']})",
            NOT_MEASURED if not spoken else verdict(spoken["rate"] >= SPOKEN_ID_TARGET),
        )
    )
    return rows


# ---------------------------------------------------------------------------------------------
# Plots


def _plot_latency(results: Results, out: Path) -> str | None:
    series = [
        ("ours, REST", _by_concurrency(_levels(results, "ours", "REST")), "tab:blue"),
        ("stock bot, REST", _by_concurrency(_levels(results, "stock", "REST")), "tab:gray"),
        ("ours, socket.io", _by_concurrency(_levels(results, "ours", "socket.io")), "tab:green"),
        ("ours, phone", _by_concurrency(_levels(results, "ours", "phone")), "tab:orange"),
    ]
    series = [s for s in series if s[1]]
    if not series:
        return None
    levels = results["plan"]["levels"]
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    width = 0.8 / len(series)
    shortest = float("inf")
    for axis, q in zip(axes, (50, 95, 99), strict=True):
        for index, (name, data, colour) in enumerate(series):
            xs = [i + (index - (len(series) - 1) / 2) * width for i in range(len(levels))]
            ys = [(data.get(c) or {}).get(f"p{q}_ms") or 0.0 for c in levels]
            shortest = min([shortest, *(y for y in ys if y > 0)])
            axis.bar(xs, ys, width=width, label=name, color=colour)
        if q == 95 and any(name == "ours, phone" for name, _, _ in series):
            axis.axhline(
                PHONE_P95_TARGET_MS,
                color="tab:red",
                linestyle="--",
                label=f"phone target {PHONE_P95_TARGET_MS:.0f} ms "
                f"({PHONE_TARGET_CONCURRENCY} calls)",
            )
            axis.legend(loc="upper left", fontsize="small")
        axis.set_title(f"p{q} turn latency")
        axis.set_xticks(range(len(levels)))
        axis.set_xticklabels([f"{c} conv." for c in levels])
        axis.grid(axis="y", alpha=0.3)
    # Logarithmic: a single conversation's few milliseconds and a saturated server's seconds.
    axes[0].set_yscale("log")
    if shortest < float("inf"):
        axes[0].set_ylim(bottom=shortest / 2)
    axes[0].set_ylabel("milliseconds (client-observed, loopback; log scale)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(out / "latency.png", dpi=110)
    plt.close(figure)
    return "latency.png"


def _plot_throughput(results: Results, out: Path) -> str | None:
    series = [
        ("ours, REST", _by_concurrency(_levels(results, "ours", "REST")), "tab:blue"),
        ("stock bot, REST", _by_concurrency(_levels(results, "stock", "REST")), "tab:gray"),
        ("ours, socket.io", _by_concurrency(_levels(results, "ours", "socket.io")), "tab:green"),
        ("ours, phone", _by_concurrency(_levels(results, "ours", "phone")), "tab:orange"),
    ]
    series = [s for s in series if s[1]]
    if not series:
        return None
    levels = results["plan"]["levels"]
    figure, axis = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(series)
    for index, (name, data, colour) in enumerate(series):
        xs = [i + (index - (len(series) - 1) / 2) * width for i in range(len(levels))]
        ys = [(data.get(c) or {}).get("throughput_turns_per_s") or 0.0 for c in levels]
        axis.bar(xs, ys, width=width, label=name, color=colour)
    axis.set_xticks(range(len(levels)))
    axis.set_xticklabels([f"{c} conv." for c in levels])
    axis.set_ylabel("answered turns per second")
    axis.set_title("Throughput")
    axis.grid(axis="y", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out / "throughput.png", dpi=110)
    plt.close(figure)
    return "throughput.png"


def _plot_memory(results: Results, out: Path) -> str | None:
    bars: list[tuple[str, float, float]] = []
    for bot in ("ours", "stock"):
        figures = results.get(bot) or {}
        after = _by_role(figures.get("memory_after_load"))
        for role, (_, total, _) in _by_role(figures.get("memory_idle")).items():
            bars.append((f"{bot}: {role}", total / 1e9, (after.get(role) or (0, 0.0, 0))[1] / 1e9))
    if not bars:
        return None
    figure, axis = plt.subplots(figsize=(8, 0.6 * len(bars) + 1.5))
    ys = range(len(bars))
    axis.barh([y + 0.2 for y in ys], [b[1] for b in bars], height=0.4, label="idle")
    axis.barh([y - 0.2 for y in ys], [b[2] for b in bars], height=0.4, label="after the load")
    axis.axvline(RSS_TARGET_BYTES / 1e9, color="tab:red", linestyle="--", label="target 1.2 GB")
    axis.set_yticks(list(ys))
    axis.set_yticklabels([b[0] for b in bars])
    axis.invert_yaxis()
    axis.set_xlabel("resident memory (GB)")
    axis.set_xlim(0, max(RSS_TARGET_BYTES / 1e9, *(max(b[1], b[2]) for b in bars)) * 1.3)
    axis.legend(loc="upper right")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "memory.png", dpi=110)
    plt.close(figure)
    return "memory.png"


def _plot_intents(results: Results, out: Path) -> str | None:
    cv = results.get("cross_validation")
    if not cv or not cv.get("per_intent"):
        return None
    items = sorted(cv["per_intent"].items(), key=lambda item: item[1].get("f1-score", 0.0))
    figure, axis = plt.subplots(figsize=(7, 0.3 * len(items) + 1.5))
    axis.barh([name for name, _ in items], [v.get("f1-score", 0.0) for _, v in items])
    axis.axvline(MACRO_F1_TARGET, color="tab:red", linestyle="--", label="macro-F1 target 0.95")
    axis.set_xlim(min(0.5, min(v.get("f1-score", 0.0) for _, v in items)), 1.0)
    axis.set_xlabel(f"F1 ({cv['folds']}-fold cross-validation)")
    axis.set_title("Intent F1")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out / "intents.png", dpi=110)
    plt.close(figure)
    return "intents.png"


def _plot_device_ids(results: Results, out: Path) -> str | None:
    typed = (results.get("extraction") or {}).get("typed")
    if not typed:
        return None
    categories = typed["categories"]
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(categories) + 1.5))
    axis.barh([c["category"] for c in categories], [c["rate"] for c in categories])
    axis.axvline(TYPED_ID_TARGET, color="tab:red", linestyle="--", label="target 0.99")
    axis.set_xlim(min(0.8, min(c["rate"] for c in categories)), 1.0)
    axis.invert_yaxis()
    axis.set_xlabel("exact-match rate")
    axis.set_title("Device ID extraction, typed variants")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out / "device_ids.png", dpi=110)
    plt.close(figure)
    return "device_ids.png"


def _plot_times(results: Results, out: Path) -> str | None:
    bars = [
        ("start-up, ours", (results.get("ours") or {}).get("startup_s"), STARTUP_TARGET_S),
        ("start-up, stock", (results.get("stock") or {}).get("startup_s"), None),
        (
            "training from scratch, ours",
            (results.get("training") or {}).get("from_scratch_s"),
            TRAINING_TARGET_S,
        ),
        ("training unchanged, ours", (results.get("training") or {}).get("unchanged_s"), None),
        ("training, stock (rasa init)", (results.get("stock") or {}).get("training_s"), None),
    ]
    bars = [b for b in bars if b[1] is not None]
    if not bars:
        return None
    figure, axis = plt.subplots(figsize=(8, 0.5 * len(bars) + 1.5))
    axis.barh([b[0] for b in bars], [b[1] for b in bars], color="tab:blue")
    for index, (_, _, target) in enumerate(bars):
        if target is not None:
            axis.plot([target, target], [index - 0.4, index + 0.4], color="tab:red", linewidth=2)
    axis.invert_yaxis()
    axis.set_xlabel("seconds (red mark: target)")
    axis.set_title("Start-up and training")
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(out / "times.png", dpi=110)
    plt.close(figure)
    return "times.png"


# ---------------------------------------------------------------------------------------------
# Markdown


def _image(name: str | None, alt: str) -> list[str]:
    return [f"![{alt}]({name})", ""] if name else []


def _phase_note(results: Results, phase: str) -> list[str]:
    info = results["phases"].get(phase)
    if not info or info["status"] == "done":
        return []
    summary = info.get("summary", "")
    reason = f": {summary} (details in results.json)" if summary else ""
    happened = "failed" if info["status"] == "failed" else f"was {info['status']}"
    return [f"*The {PHASE_NAMES.get(phase, phase)} phase {happened}{reason}*", ""]


def _machine(results: Results) -> list[str]:
    m = results["machine"]
    changed = " (with uncommitted changes)" if m.get("uncommitted_changes") else ""
    load = ", ".join(str(x) for x in m.get("load_average_at_start", []))
    return [
        f"- **Date**: {m['date']}; the whole run took {results.get('total_s', 0) / 60:.1f} minutes",
        f"- **Command**: `{m['command']}`"
        + (" (what `make bench` runs)" if m["command"] == "python -m bench.run" else ""),
        f"- **Code**: commit `{m['commit']}`{changed}",
        f"- **Machine**: {m['cpu_model']}, {m['usable_cores']} usable cores of {m['cores']}, "
        f"{m['memory_gb']} GB memory; load average at start {load}",
        f"- **Software**: {m['os']}, Python {m['python']}, Rasa {m['rasa']}, "
        f"rasa-sdk {m['rasa_sdk']}, TensorFlow {m['tensorflow']}",
    ]


def _speed(results: Results, images: dict[str, str | None]) -> list[str]:
    lines = ["## Speed per turn", ""]
    lines += _phase_note(results, "ours") + _phase_note(results, "stock")
    for bot in ("ours", "stock"):
        for channel, failure in ((results.get(bot) or {}).get("load_failures") or {}).items():
            lines += [f"*The {channel} load on {bot} failed: `{failure}`*", ""]
    plan = results["plan"]
    lines += [
        f"Each chat level runs {plan['warmup_s']:.0f} s of warm-up, then "
        f"{plan['duration_s']:.0f} s measured; on REST, ours and the stock bot take turns "
        "(ours, stock, stock, ours, each for half the time) so that a change in the machine's "
        "speed during the run weighs on both alike. Every simulated user holds whole conversations "
        "with a fresh sender, one message after the other as soon as the answer is back (no "
        "think time, so the server is saturated from 10 users on); latency is the "
        "client-observed time of one turn on loopback, for every turn in progress during the "
        "measured time (one begun in the warm-up and still waiting for its answer counts too, "
        "so a user a server keeps waiting is not left out), throughput the turns answered per "
        "second of measured time. Ratios are ours ÷ stock: below 1.0 we are faster (or, for "
        "throughput, slower).",
        "",
        "### REST: ours against the stock Rasa bot",
        "",
    ]
    ours = _by_concurrency(_levels(results, "ours", "REST"))
    stock = _by_concurrency(_levels(results, "stock", "REST"))
    rows = []
    for c in plan["levels"]:
        o, s = ours.get(c) or {}, stock.get(c) or {}
        rows.append(
            [
                c,
                " / ".join(_ms(o.get(f"p{q}_ms")) for q in (50, 95, 99)),
                " / ".join(_ms(s.get(f"p{q}_ms")) for q in (50, 95, 99)),
                " / ".join(_x(_ratio(o.get(f"p{q}_ms"), s.get(f"p{q}_ms"))) for q in (50, 95, 99)),
                f"{o.get('throughput_turns_per_s', '–')} / {s.get('throughput_turns_per_s', '–')}",
                _x(_ratio(o.get("throughput_turns_per_s"), s.get("throughput_turns_per_s"))),
                f"{o.get('errors', '–')} / {s.get('errors', '–')}",
                f"{o.get('unexpected', '–')} / {s.get('unexpected', '–')}",
            ]
        )
    lines += _table(
        [
            "concurrent",
            "ours p50 / p95 / p99",
            "stock p50 / p95 / p99",
            "ratio p50 / p95 / p99",
            "turns/s ours / stock",
            "throughput ratio",
            "errors ours / stock",
            "unexpected ours / stock",
        ],
        rows,
    )
    lines += ["", *_image(images.get("latency"), "latency percentiles per concurrency")]
    lines += _image(images.get("throughput"), "throughput per concurrency")
    lines += _turn_types(ours, "ours") + _turn_types(stock, "the stock bot")
    lines += _examples(list(ours.values()) + list(stock.values()))

    lines += ["### socket.io (ours; the stock bot does not enable it)", ""]
    socket = _by_concurrency(_levels(results, "ours", "socket.io"))
    if socket:
        lines += _table(
            ["concurrent", "p50", "p95", "p99", "turns/s", "errors", "unexpected"],
            [
                [
                    c,
                    _ms((socket.get(c) or {}).get("p50_ms")),
                    _ms((socket.get(c) or {}).get("p95_ms")),
                    _ms((socket.get(c) or {}).get("p99_ms")),
                    (socket.get(c) or {}).get("throughput_turns_per_s", "–"),
                    (socket.get(c) or {}).get("errors", "–"),
                    (socket.get(c) or {}).get("unexpected", "–"),
                ]
                for c in plan["levels"]
            ],
        )
        lines += [
            "",
            "Long-polling transport (the websocket transport does not work with the aiohttp "
            "Rasa pins); a turn ends when as many `bot_uttered` events have arrived as the same "
            "turn produced over REST.",
            "",
        ]
        lines += _examples(list(socket.values()))
    else:
        lines += ["Not measured.", ""]
    lines += _phone(results)
    return lines


def _phone(results: Results) -> list[str]:
    lines = [
        "### Phone webhook (ours; no stock counterpart)",
        "",
    ]
    phone = _by_concurrency(_levels(results, "ours", "phone"))
    if not phone:
        return [*lines, "Not measured.", ""]
    target = phone.get(PHONE_TARGET_CONCURRENCY) or {}
    p95 = target.get("p95_ms")
    verdict = (
        f"measured {_ms(p95)}: {PASS if p95 < PHONE_P95_TARGET_MS else MISS}"
        if p95 is not None
        else f"not measured in this run ({PHONE_TARGET_CONCURRENCY} concurrent is not one of "
        "its levels)"
    )
    lines += [
        f"Target: p95 under {PHONE_P95_TARGET_MS:.0f} ms of server time at "
        f"{PHONE_TARGET_CONCURRENCY} concurrent calls; {verdict}.",
        "",
        *_caller_pace(results["plan"]),
    ]
    lines += _table(
        ["concurrent calls", "turns timed", "p50", "p95", "p99", "turns/s", "errors", "unexpected"],
        [
            [
                c,
                (phone.get(c) or {}).get("turns", "–"),
                _ms((phone.get(c) or {}).get("p50_ms")),
                _ms((phone.get(c) or {}).get("p95_ms")),
                _ms((phone.get(c) or {}).get("p99_ms")),
                (phone.get(c) or {}).get("throughput_turns_per_s", "–"),
                (phone.get(c) or {}).get("errors", "–"),
                (phone.get(c) or {}).get("unexpected", "–"),
            ]
            for c in results["plan"]["levels"]
        ],
    )
    lines += [
        "",
        "Each simulated user is one call (a fresh `CallSid` and caller number): the call coming "
        "in, then one webhook request per answer to a `<Gather>` (`SpeechResult` or `Digits`), "
        "form-encoded and signed with `X-Twilio-Signature` for `PUBLIC_BASE_URL` + the path, "
        "as Twilio does; hanging up (the status callback) is not timed. A turn is one request "
        "to `/webhooks/phone/voice`, timed from sending it to having the whole TwiML answer; on "
        "loopback that is the server's time for the webhook (signature check, the channel's "
        "speech reading and registry look-ups, the dialogue when the turn reaches it). The "
        "calls: a forgotten password with the Device ID spoken (in one breath or group by "
        "group), read back and confirmed, the owner's details spoken or skipped, ending on "
        "hold; and a caller with a temporary password going through every reset step by keys "
        "and voice (repeat, back, help, silence).",
        "",
        "No ratio to the stock bot here: stock Rasa has no usable voice channel to compare "
        "with. `rasa init`'s project enables none, Rasa's `twilio` connector is Twilio "
        "messaging, and its `twilio_voice` connector checks no signature and has none of the "
        "Device ID read-back, keypad or queue handling, so a stock figure would time a "
        "different and much smaller job. The absolute target above is the yardstick.",
        "",
    ]
    lines += _turn_types(phone, "the phone webhook")
    lines += _examples(list(phone.values()))
    return lines


def _caller_pace(plan: dict[str, Any]) -> list[str]:
    pace = plan.get("caller_pace")
    if not pace:  # a report from before callers were paced
        return ["Callers answered at once (no think time).", ""]
    return [
        f"Each level runs {plan['warmup_s']:.0f} s of warm-up, then "
        f"{plan['phone_duration_s']:.0f} s measured; the calls start over the first "
        f"{pace['start_spread_s']:.0f} s. Unlike the chat users, callers are paced as Twilio "
        "paces a call: a call's next webhook comes only once the caller has answered. The "
        "caller is a quick one who talks over the prompt (our `<Gather>`s allow it): "
        f"{pace['reaction_s']:g} s to react, then {pace['spoken_word_s']:g} s a spoken word and "
        f"{pace['end_of_speech_s']:g} s of pause before Twilio posts the speech, or "
        f"{pace['key_press_s']:g} s a key; silence lasts the `<Gather>`'s shortest time-out. "
        "The turns per second are the load those calls make, not the most the server can "
        "take (the chat levels show that).",
        "",
    ]


def _turn_types(levels: dict[int, dict[str, Any]], who: str) -> list[str]:
    if not levels:
        return []
    top = levels[max(levels)]
    labels = top.get("median_ms_by_turn") or {}
    if not labels:
        return []
    lines = [f"Median latency by kind of turn for {who} at {max(levels)} concurrent:", ""]
    lines += _table(["turn", "median"], [[k, _ms(v)] for k, v in labels.items()])
    return [*lines, ""]


def _examples(levels: list[dict[str, Any]]) -> list[str]:
    lines = []
    for level in levels:
        for kind in ("error_examples", "unexpected_examples"):
            for example in level.get(kind) or []:
                lines.append(
                    f"- {level['bot']}, {level['channel']}, {level['concurrency']} concurrent, "
                    f"{kind.split('_')[0]}: `{example}`"
                )
    if not lines:
        return []
    return ["Examples of errors and unexpected answers:", "", *lines[:12], ""]


def _startup_memory(results: Results, images: dict[str, str | None]) -> list[str]:
    lines = ["## Start-up and memory", ""]
    ours, stock = results.get("ours") or {}, results.get("stock") or {}
    lines += _table(
        ["", "ours", "stock", "ratio"],
        [
            [
                "start to first answer",
                _s(ours.get("startup_s")),
                _s(stock.get("startup_s")),
                _x(_ratio(ours.get("startup_s"), stock.get("startup_s"))),
            ]
        ],
    )
    lines += [
        "",
        "From starting the process (ours: `python -m bot.cli run`, i.e. honcho with the action "
        "server and the Rasa server, as `make run` does, after the database is migrated and "
        'seeded; stock: `rasa run`) to the first answer to "hi" on the REST channel.',
        "",
    ]
    rows = []
    for bot, figures in (("ours", ours), ("stock", stock)):
        idle = _by_role(figures.get("memory_idle"))
        after = _by_role(figures.get("memory_after_load"))
        for role, (count, total, _) in idle.items():
            name = role if count == 1 else f"{role} ({count} processes)"
            rows.append([bot, name, _gb(total), _gb((after.get(role) or (0, None, 0))[1])])
    if rows:
        lines += _table(["bot", "process", "resident, idle", "resident, after the load"], rows)
        ratio = _ratio(_peak_rss(ours, "Rasa server"), _peak_rss(stock, "Rasa server"))
        lines += [
            "",
            f"Rasa server, ours ÷ stock (peak): {_x(ratio)}. Resident set size (psutil) of every "
            "process under the one started; honcho's `sh -c` wrappers (a few MB each) left out.",
            "",
        ]
    lines += _image(images.get("memory"), "resident memory per process")
    return lines


def _training(results: Results, images: dict[str, str | None]) -> list[str]:
    lines = ["## Training", ""]
    lines += _phase_note(results, "training")
    training = results.get("training") or {}
    stock = results.get("stock") or {}
    scratch, stock_s = training.get("from_scratch_s"), stock.get("training_s")
    lines += _table(
        ["", "seconds"],
        [
            ["ours, from scratch (`rasa train --force`, empty cache)", _s(scratch)],
            ["ours, nothing changed (`rasa train`, cache kept)", _s(training.get("unchanged_s"))],
            ["stock bot (`rasa init`'s project, `rasa train`)", _s(stock_s)],
            ["ours from scratch ÷ stock", _x(_ratio(scratch, stock_s))],
        ],
    )
    lines += ["", *_image(images.get("times"), "start-up and training times")]
    return lines


def _understanding(results: Results, images: dict[str, str | None]) -> list[str]:
    lines = ["## Understanding", "", "### NLU cross-validation", ""]
    lines += _phase_note(results, "cross-validation")
    cv = results.get("cross_validation")
    if cv:
        lines += [
            f"`rasa test nlu --cross-validation --folds {cv['folds']}` on `data/nlu` "
            f"({cv['examples']} examples) with the real `config.yml`, folds shuffled from seed "
            f"{cv['seed']}, through `bench/cross_validation.py` (Rasa as our server runs it, "
            f"without the training-set score Rasa also logs); took {_s(cv['seconds'])}.",
            "",
        ]
        lines += _table(
            ["intent accuracy", "intent macro-F1", "intent weighted F1"],
            [
                [
                    f"{cv['intent_accuracy']:.3f}",
                    f"{cv['intent_macro_f1']:.3f}",
                    f"{cv['intent_weighted_f1']:.3f}",
                ]
            ],
        )
        lines += ["", *_image(images.get("intents"), "F1 per intent")]
        if cv["confusions"]:
            lines += ["Most frequent confusions (true intent → predicted):", ""]
            lines += _table(
                ["true intent", "predicted", "times"], [list(row) for row in cv["confusions"][:10]]
            )
            lines.append("")
        lines += ["Entities: "]
        if cv["entities"] and cv["annotated_entities"]:
            lines[-1] += "F1 per entity extractor (micro average over entity types):"
            lines += [
                "",
                *_table(
                    ["extractor", "precision", "recall", "F1"],
                    [
                        [
                            name,
                            f"{v.get('precision', 0):.3f}",
                            f"{v.get('recall', 0):.3f}",
                            f"{v.get('f1-score', 0):.3f}",
                        ]
                        for name, v in cv["entities"].items()
                    ],
                ),
            ]
        else:
            lines[-1] += (
                "`data/nlu` annotates no entities (Device IDs are found by a rule-based component, "
                "not learnt), so cross-validation has no entity F1 to compute; the Device ID "
                "extraction below measures that entity."
            )
        lines.append("")
    lines += ["### Device ID extraction", ""]
    lines += _phase_note(results, "extraction")
    extraction = results.get("extraction") or {}
    typed = extraction.get("typed")
    if typed:
        lines += [
            "Typed variants of all registered IDs in `data/devices.csv`, through the extractor "
            f"the NLU component uses; exact match = the normalised value is the registered ID. "
            f"{typed['total']} cases in {typed['seconds']} s.",
            "",
        ]
        lines += _table(
            ["typed variant", "cases", "exact", "rate"],
            [[c["category"], c["total"], c["exact"], _pct(c["rate"])] for c in typed["categories"]]
            + [["**all typed**", typed["total"], typed["exact"], f"**{_pct(typed['rate'])}**"]],
        )
        lines += ["", *_image(images.get("device_ids"), "Device ID exact match per variant")]
        misses = [(c["category"], miss) for c in typed["categories"] for miss in c["misses"]]
        if misses:
            lines += ["Some misses (typed → expected, got):", ""]
            lines += [
                f"- {category}: `{text}` → `{expected}`, got `{got or 'nothing'}`"
                for category, (text, expected, got) in misses[:12]
            ]
            lines.append("")
    lines += _spoken(extraction.get("spoken"))
    return lines


def _spoken(spoken: dict[str, Any] | None) -> list[str]:
    lines = ["### Device ID by voice (spoken transcripts)", ""]
    if not spoken:
        return [*lines, "Not measured.", ""]
    lines += [
        "The phone issue's table of transcripts (`bench/spoken_table.py`, the rows "
        "`tests/test_phone_spoken.py` asserts), through the phone channel's own reading: "
        "`hear` the transcript, then `resolve` it against the real registry (SQLite seeded from "
        "`data/devices.csv`, confusable swaps bounded as in `phone.yml`). Exact match = the first "
        f"registered reading offered for the read-back is the expected ID. Target ≥ "
        f"{SPOKEN_ID_TARGET}; {spoken['total']} transcripts in {spoken['seconds']} s.",
        "",
    ]
    lines += _table(
        ["spoken transcripts", "cases", "exact", "rate"],
        [[c["category"], c["total"], c["exact"], _pct(c["rate"])] for c in spoken["categories"]]
        + [["**all spoken**", spoken["total"], spoken["exact"], f"**{_pct(spoken['rate'])}**"]],
    )
    lines.append("")
    misses = [(c["category"], miss) for c in spoken["categories"] for miss in c["misses"]]
    if misses:
        lines += ["Some misses (transcript → expected, got):", ""]
        lines += [
            f"- {category}: `{text}` → `{expected}`, got `{got}`"
            for category, (text, expected, got) in misses[:12]
        ]
        lines.append("")
    return lines


def _ablation(results: Results) -> list[str]:
    lines = ["## What each fix to Rasa saves", ""]
    lines += _phase_note(results, "ablation")
    figures = results.get("ablation")
    if not figures:
        return [*lines, "Not measured in this run.", ""]
    machine = figures.get("machine") or {}
    lines += [
        f"Each fix of `bot/patched_rasa.py` switched off alone (`RASA_PATCHES=-name`, the others "
        f"on), against every fix on, and every fix off: {figures['concurrency']} REST "
        f"conversations at once, {figures['duration_s']:.0f} s measured per configuration in two "
        "windows (after one unmeasured), the second round in the reverse order, every "
        "configuration's server running throughout. CPU is the Rasa server's and the action "
        "server's (user and system), per turn answered in the windows. A saving counts as "
        "beyond the noise when both rounds saved, each measured against every fix on in the "
        "same round, by more than the two rounds' savings differ. The turn-fault fixes "
        f"({', '.join(figures['turn_fault_fixes'])}) change "
        "failures, not costs, and stay on.",
        "",
    ]
    if machine:
        changed = " (with uncommitted changes)" if machine.get("uncommitted_changes") else ""
        lines += [
            f"Measured {machine['date']} with `{machine['command']}` at commit "
            f"`{machine['commit']}`{changed}.",
            "",
        ]
    by_name = {c["name"]: c for c in figures["configurations"]}
    base = by_name.get(ALL_ON)
    if base is None or base["cpu_ms_per_turn_total"] is None:
        return [*lines, "No turn was answered with every fix on: nothing to compare with.", ""]

    def cpu(c: dict[str, Any]) -> str:
        total, roles = c["cpu_ms_per_turn_total"], c["cpu_ms_per_turn"]
        if total is None:
            return "–"
        windows = " / ".join(f"{v:.1f}" for v in c["cpu_ms_per_turn_by_window"] if v is not None)
        return (
            f"{total:.1f} ({roles['Rasa server']:.1f} + {roles['action server']:.1f}; "
            f"windows {windows})"
        )

    rows = [
        [
            "every fix on",
            "`RASA_PATCHES=all`",
            base["turns_per_s"],
            cpu(base),
            "–",
            "–",
            _ms(base["p50_ms"]),
        ]
    ]
    for gain in gains(figures):
        c = by_name[gain["name"]]
        what = "every fix off" if gain["name"] == NONE_ON else f"`{gain['name']}` off"
        rows.append(
            [
                what,
                f"`RASA_PATCHES={c['rasa_patches']}`",
                c["turns_per_s"],
                cpu(c),
                f"{gain['saved_cpu_ms_per_turn']:.1f} ms ({gain['saved_share']:.0%}; rounds "
                + " / ".join(f"{v:.1f}" for v in gain["saved_by_round"])
                + ")",
                "yes" if gain["beyond_noise"] else "no",
                _ms(c["p50_ms"]),
            ]
        )
    lines += _table(
        [
            "configuration",
            "setting",
            "turns/s",
            "CPU ms per turn (Rasa + actions)",
            "the fix saves per turn",
            "beyond the noise",
            "p50",
        ],
        rows,
    )
    errors = sum(c["errors"] + c["unexpected"] for c in figures["configurations"])
    if errors:
        lines += ["", f"*{errors} turns failed or were unexpected across the configurations.*"]
    return [*lines, ""]


def _phases(results: Results) -> list[str]:
    lines = ["## How long each part took", ""]
    lines += _table(
        ["phase", "status", "seconds"],
        [[name, p["status"], f"{p['seconds']:.0f}"] for name, p in results["phases"].items()],
    )
    return [*lines, ""]


def markdown(results: Results, images: dict[str, str | None]) -> str:
    lines = ["# Benchmark report", ""]
    if results["plan"]["quick"]:
        lines += [
            "> **Quick smoke run** (`--quick`): tiny loads, few folds, cut epochs. These figures "
            "test the harness and mean nothing about the assistant.",
            "",
        ]
    lines += [*_machine(results), ""]
    lines += [
        "Rerun with `make bench` (it installs what it needs and rewrites this folder). Every "
        "figure here comes from `results.json` beside this file, written by the same run.",
        "",
        "## Targets",
        "",
    ]
    lines += _table(["what", "target", "measured", ""], targets(results))
    lines.append("")
    lines += _speed(results, images)
    lines += _ablation(results)
    lines += cluster_report.section(results.get("cluster"), _phase_note(results, "cluster"))
    lines += _startup_memory(results, images)
    lines += _training(results, images)
    lines += _understanding(results, images)
    lines += _phases(results)
    return "\n".join(lines).rstrip() + "\n"


def write(results: Results, out: Path) -> Path:
    """Write results.json, the plots and README.md into ``out``; the README's path."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    (out / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    images = {
        "latency": _plot_latency(results, out),
        "throughput": _plot_throughput(results, out),
        "memory": _plot_memory(results, out),
        "intents": _plot_intents(results, out),
        "device_ids": _plot_device_ids(results, out),
        "times": _plot_times(results, out),
    }
    readme = out / "README.md"
    readme.write_text(markdown(results, images))
    return readme


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/results/results.json")
    print(write(json.loads(source.read_text()), source.parent))
