"""docs/benchmarks.md from one run's results: bench/report_text.md's prose, its placeholders
filled with this run's tables and figures (string.Template: `${name}`, `$$` for a dollar)."""

from __future__ import annotations

from pathlib import Path
from string import Template

from bench import figures, pricing, sections, stats, summary, units
from bench.result_files import RESULTS, Results, load
from bench.template_facts import TemplateFacts
from bench.template_facts import read as read_template

BENCH = Path(__file__).resolve().parent
DOC = BENCH.parent / "docs" / "benchmarks.md"
TEXT = BENCH / "report_text.md"
TRIED = BENCH / "tried.md"
VCPU_MB = 1769  # Lambda: one vCPU's worth of memory


def fields(results: Results, facts: TemplateFacts) -> dict[str, str]:
    """Every placeholder of bench/report_text.md."""
    drain = results.drain or {}
    decode = results.decode or {}
    phone = decode.get("phone", {})
    s3 = results.s3_latency or {}
    scaling = (results.pipeline or {}).get("scaling", {})
    function_runs = (results.functions or {}).get("api", {}).get("submit", [])
    base = scaling.get("base_images", 0)
    memory = facts.memory_mb
    return {
        "run_line": summary.run_line(results),
        "targets_table": summary.targets_table(results, facts),
        "cold_start_parts": summary.cold_start_parts(results, facts),
        "also_table": summary.also_table(results, facts),
        "drain_images": str(drain.get("images", "n/a")),
        "drain_batches": str(drain.get("images", 0) // facts.batch_size),
        "batch_size": str(facts.batch_size),
        "phone_images": str(drain.get("phone_images", "n/a")),
        "drain_table": sections.drain_table(results),
        "stack_engine": str(drain.get("engine", "n/a")),
        "batching_window": f"{facts.batching_window_s} s",
        "cold_start_table": sections.cold_start_table(results, facts),
        "phone_size": f"{phone.get('width', '?')}x{phone.get('height', '?')}",
        "phone_quality": str(phone.get("quality", "n/a")),
        "phone_bytes": f"{phone.get('bytes', stats.NAN) / 1e6:.2f} MB",
        "min_side": str(decode.get("min_side", "n/a")),
        "decode_table": sections.decode_table(results),
        "s3_batch": str(s3.get("batch", "n/a")),
        "s3_delays": ", ".join(units.ms(d) for d in figures.s3_delays_s(results) if d) or "n/a",
        "s3_table": sections.s3_table(results),
        "throttle": f"{facts.throttle_rate_per_s:.0f} requests/s (burst {facts.throttle_burst})",
        "submit_table": sections.submit_table(results),
        "idle_line": sections.idle_line(results, facts),
        "function_repeats": str(len(function_runs)),
        "functions_table": sections.functions_table(results),
        "closure_text": sections.closure_text(results),
        "backends_table": sections.backends_table(results),
        "head_to_head": sections.head_to_head(results),
        "burst_sizes": ", ".join(str(base * int(f)) for f in scaling.get("runs", {})) or "n/a",
        "burst_concurrency": str(scaling.get("concurrency", "n/a")),
        "memory": f"predict {memory['predict']} MB, submit {memory['submit']} MB, "
        f"status {memory['status']} MB",
        "architecture": facts.architecture,
        "price_gb_second": f"{pricing.PRICE_PER_GB_SECOND[facts.architecture]:.10f}".rstrip("0"),
        "predict_vcpu": f"{memory['predict'] / VCPU_MB:.1f}",
        "predict_max_concurrency": str(facts.predict_max_concurrency or "unset"),
        "scaling_table": sections.scaling_table(results, facts),
        "waits_table": sections.waits_table(results),
        "waits_line": sections.waits_line(results),
        "drawings_total": str((results.drawings or {}).get("drawings_total", "n/a")),
        "drawings_table": sections.drawings_table(results),
        "drawings_line": sections.drawings_line(results),
        "webhooks_line": sections.webhooks_line(results),
        "tried": TRIED.read_text() if TRIED.exists() else "",
    }


def render(results: Results, facts: TemplateFacts) -> str:
    return Template(TEXT.read_text()).substitute(fields(results, facts))


def write(folder: Path = RESULTS) -> None:
    from bench import plots

    results, facts = load(folder), read_template()
    plots.draw(results, facts)
    DOC.write_text(render(results, facts).rstrip() + "\n")
