"""The plots of docs/benchmarks.md (docs/benchmarks/*.png), from one run's results. A plot
whose results are missing is left as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import figures, stats, targets
from bench.result_files import Results
from bench.template_facts import TemplateFacts

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"
SIZE = (6, 3.2)
DPI = 90


def _figure(name: str, draw: Callable[[Any], None]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=SIZE)
    draw(ax)
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    fig.savefig(FIGURES / name, dpi=DPI)
    plt.close(fig)


def throughput(results: Results) -> None:
    drain = results.drain or {}
    groups = [("photos", f"{drain.get('images')} photos"), ("phone", "12 MP phone photo")]
    series = [
        ("bare model (ultralytics)", lambda w: drain.get("bare", {}).get(w, {})),
        ("bare OpenVINO engine", lambda w: drain.get("bare_engine", {}) if w == "photos" else {}),
        ("stack draining its queue", lambda w: drain.get(w, {})),
    ]

    def draw(ax: Any) -> None:
        width = 0.8 / len(series)
        for i, (label, pick) in enumerate(series):
            values = [pick(w).get("throughput_ips", 0.0) for w, _ in groups]
            xs = [g + (i - 1) * width for g in range(len(groups))]
            ax.bar(xs, values, width, label=label)
        ax.set_xticks(range(len(groups)), [title for _, title in groups])
        ax.set_ylabel("images / s")
        ax.set_title("Bare model, bare engine and the drained queue")
        ax.legend(fontsize=8)

    _figure("throughput.png", draw)


def submit_latency(results: Results) -> None:
    paused = (results.pipeline or {})["submit_only_latencies_s"]
    concurrencies = list(paused)

    def draw(ax: Any) -> None:
        for j, q in enumerate((50, 95, 99)):
            values = [stats.pct(paused[c], q) * 1000 for c in concurrencies]
            ax.plot(concurrencies, values, marker="o", color=f"C{j}", label=f"p{q}")
        ax.axhline(targets.MAX_SUBMIT_P95_S * 1000, color="grey", linewidth=0.8, linestyle=":")
        ax.set_yscale("log")
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("submit latency (ms)")
        ax.set_title("POST /image_prediction, predict paused (dotted: p95 target)")
        ax.legend(fontsize=8)

    _figure("submit_latency.png", draw)


def cold_start(results: Results) -> None:
    functions = results.functions or {}
    bars = dict(functions["api"])
    bars.update({f"predict\n({e})": runs for e, runs in functions["predict"].items()})
    parts = [
        ("import_s", "import"),
        ("model_load_s", "model load + warm-up"),
        ("first_prediction_s", "first image"),
        ("first_invoke_s", "first invocation"),
    ]

    def draw(ax: Any) -> None:
        bottom = [0.0] * len(bars)
        for key, label in parts:
            values = [stats.median_of(runs, key) for runs in bars.values()]
            values = [v if stats.known(v) else 0.0 for v in values]
            ax.bar(list(bars), values, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("seconds")
        ax.set_title("Cold start of each function, in process (median)")
        ax.tick_params(axis="x", labelsize=8)
        ax.legend(fontsize=8)

    _figure("cold_start.png", draw)


def predict_cold_start(results: Results, facts: TemplateFacts) -> None:
    parts = figures.cold_start(results, facts)
    pieces = [
        ("batching window", parts.window_s),
        ("init (as logged)", parts.init_s),
        ("the rest", parts.rest_s),
    ]

    def draw(ax: Any) -> None:
        left = 0.0
        for label, seconds in pieces:
            value = seconds if stats.known(seconds) else 0.0
            ax.barh(["cold start"], [value], left=left, label=label)
            left += value
        ax.axvline(targets.MAX_COLD_START_S, color="black", linewidth=1.2, linestyle="--")
        ax.set_xlabel("seconds, submit -> DONE (dashed: the target)")
        ax.set_title("Predict cold start after its worker was killed (median)")
        ax.legend(fontsize=8, loc="lower right")

    _figure("predict_cold_start.png", draw)


def backends(results: Results) -> None:
    measured = {
        k: v
        for k, v in (results.backends or {}).items()
        if k != "head_to_head" and "latencies_s" in v
    }

    def draw(ax: Any) -> None:
        ax.boxplot(
            [[t * 1000 for t in v["latencies_s"]] for v in measured.values()], showfliers=False
        )
        ax.set_xticks(range(1, len(measured) + 1), list(measured))
        ax.set_ylabel("ms per image (warm)")
        ax.set_title("Backends through ultralytics, same photos")

    _figure("backends.png", draw)


def scaling(results: Results) -> None:
    runs = (results.pipeline or {})["scaling"]["runs"]
    factors = list(runs)

    def draw(ax1: Any) -> None:
        ax1.plot(factors, [runs[f]["throughput_ips"] for f in factors], marker="o", color="C0")
        ax1.set_ylabel("images / s", color="C0")
        ax1.set_xlabel("load (x base)")
        ax2 = ax1.twinx()
        for q, style in ((50, "-"), (95, "--")):
            latencies = [stats.pct(runs[f]["done_latencies_s"], q) for f in factors]
            ax2.plot(
                factors,
                latencies,
                marker="s",
                linestyle=style,
                color="C1",
                label=f"submit -> DONE p{q}",
            )
        ax2.set_ylabel("seconds", color="C1")
        ax2.legend(fontsize=8, loc="upper left")
        ax1.set_title("How the pipeline behaves as the load grows")

    _figure("scaling.png", draw)


def draw(results: Results, facts: TemplateFacts) -> None:
    if results.drain:
        throughput(results)
    if results.pipeline:
        submit_latency(results)
        scaling(results)
    if results.functions:
        cold_start(results)
    if results.cold_start:
        predict_cold_start(results, facts)
    if results.backends:
        backends(results)
