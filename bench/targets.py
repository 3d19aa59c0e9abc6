"""Issue 10's table: each figure as this run measured it, its target, met or missed.

The thresholds are the issue's; the figures come from one run (bench/figures.py) and the
batching window from infra/template.yaml."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import figures, stats, units
from bench.result_files import Results
from bench.template_facts import TemplateFacts

MIN_DRAIN_RATIO = 1.0  # x the bare model's images per second
MAX_COLD_START_S = 1.0
MAX_PEAK_MEMORY_MB = 350.0
MAX_CLOSURE_BYTES = 500e6
MAX_SUBMIT_P95_S = 0.100
SUBMIT_CONCURRENCY = 8
MAX_API_IMPORT_S = 0.5
REFERENCE = "the reference"


@dataclass(frozen=True)
class Row:
    figure: str
    measured: str
    target: str
    met: bool | None  # None: the reference, or not measured in this run

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "reference" if self.target == REFERENCE else "not measured"
        return "**met**" if self.met else "**missed**"


def judge(value: float, ok: Callable[[float], bool]) -> bool | None:
    """Whether a measured value meets its target; None when it was not measured."""
    return ok(value) if stats.known(value) else None


def bare_model(results: Results) -> Row:
    return Row(
        "bare model: ultralytics predicting the same JPEG files in a loop",
        units.ips(figures.bare_model_ips(results)),
        REFERENCE,
        None,
    )


def drain_rate(results: Results) -> Row:
    drained = figures.drain_ips(results)
    ratio = stats.ratio(drained, figures.bare_model_ips(results))
    return Row(
        "predict drain rate, queue pre-filled",
        f"{units.ips(drained)} = {units.times(ratio)} the bare model",
        f">= {MIN_DRAIN_RATIO:.1f}x",
        judge(ratio, lambda r: r >= MIN_DRAIN_RATIO),
    )


def cold_start(results: Results, facts: TemplateFacts) -> Row:
    parts = figures.cold_start(results, facts)
    measured = units.secs(parts.done_s)
    if stats.known(parts.done_s):
        measured += (
            f" (batching window {units.secs(parts.window_s)} + init {units.secs(parts.init_s)}"
            f" + the rest {units.secs(parts.rest_s)})"
        )
    return Row(
        "predict cold start: worker killed, restarted, first image DONE",
        measured,
        f"<= {MAX_COLD_START_S:.1f} s",
        judge(parts.done_s, lambda s: s <= MAX_COLD_START_S),
    )


def peak_memory(results: Results) -> Row:
    """Judged on the larger of the function's cold start and the stack's worker after the
    drains (batches of decoded images held at once): Lambda's memory must fit both."""
    cold = figures.predict_peak_mb(results)
    worker = (results.drain or {}).get("predict_worker_peak_rss_mb")
    measured = f"{units.megabytes(cold)} (OpenVINO engine: import, model load, first image)"
    worst = cold
    if worker is not None:
        measured += f"; {units.megabytes(worker)} in the stack's predict worker after the drains"
        worst = max(cold, float(worker)) if stats.known(cold) else float(worker)
    return Row(
        "predict peak memory",
        measured,
        f"<= {MAX_PEAK_MEMORY_MB:.0f} MB",
        judge(worst, lambda mb: mb <= MAX_PEAK_MEMORY_MB),
    )


def runtime_closure(results: Results) -> Row:
    closure = results.closure or {}
    total = float(closure.get("total_bytes", stats.NAN))
    has_torch = bool(closure.get("has_torch"))
    measured = units.NOT_MEASURED
    if closure:
        measured = f"{units.mb(total)}, {'with' if has_torch else 'no'} torch ({closure['source']})"
    fits = judge(total, lambda b: b <= MAX_CLOSURE_BYTES)
    return Row(
        "predict image's installed runtime closure",
        measured,
        f"<= {units.mb(MAX_CLOSURE_BYTES)}, no torch",
        None if fits is None else fits and not has_torch,
    )


def submit_latency(results: Results) -> Row:
    latencies = figures.submit_paused_s(results, SUBMIT_CONCURRENCY)
    p95, p50 = stats.pct(latencies, 95), stats.pct(latencies, 50)
    return Row(
        f"submit p95 at concurrency {SUBMIT_CONCURRENCY}, predict paused",
        f"{units.ms(p95)} (p50 {units.ms(p50)})",
        f"<= {units.ms(MAX_SUBMIT_P95_S)}",
        judge(p95, lambda s: s <= MAX_SUBMIT_P95_S),
    )


def api_import(results: Results) -> Row:
    imports = figures.api_imports_s(results)
    known = all(stats.known(s) for s in imports.values())
    worst = max(imports.values()) if known else stats.NAN
    return Row(
        "submit and status cold import",
        ", ".join(f"{name} {units.ms(s)}" for name, s in imports.items()),
        f"<= {units.ms(MAX_API_IMPORT_S)}",
        judge(worst, lambda s: s <= MAX_API_IMPORT_S),
    )


def rows(results: Results, facts: TemplateFacts) -> list[Row]:
    return [
        bare_model(results),
        drain_rate(results),
        cold_start(results, facts),
        peak_memory(results),
        runtime_closure(results),
        submit_latency(results),
        api_import(results),
    ]
