"""The top of docs/benchmarks.md: the run, issue 10's targets table and what else this run
measured, one line each."""

from __future__ import annotations

from bench import figures, stats, targets, units
from bench.markdown import not_measured, table
from bench.result_files import Results
from bench.template_facts import TemplateFacts


def run_line(results: Results) -> str:
    machine, run = results.machine or {}, results.run or {}
    if not machine:
        return not_measured("machine")
    quick = " (quick smoke run: few images)" if machine.get("quick") else ""
    end = run.get("load_average_at_end", [stats.NAN])[0]
    return (
        f"Run of {machine['when'][:16].replace('T', ' ')} UTC on {machine['cpus']} CPUs, "
        f"Python {machine['python']}, {run.get('elapsed_s', stats.NAN):.0f} s in all{quick}. "
        f"Load average {machine['load_average_at_start'][0]:.1f} at the start and {end:.1f} "
        "at the end: the machine is shared, so absolute figures move between runs."
    )


def targets_table(results: Results, facts: TemplateFacts) -> str:
    rows = targets.rows(results, facts)
    return table(
        ["figure", "measured", "target", ""],
        [[r.figure, r.measured, r.target, r.verdict] for r in rows],
    )


def cold_start_parts(results: Results, facts: TemplateFacts) -> str:
    parts = figures.cold_start(results, facts)
    if not stats.known(parts.done_s):
        return ""
    init = (
        f"the new environment's init took {units.secs(parts.init_s)} and the rest "
        f"{units.secs(parts.rest_s)} ([below](#predict-cold-start))."
    )
    if not parts.window_s:
        return f"Predict's cold start is its init: {init}"
    return (
        "Predict's cold start competes first with the template's batching window: the event "
        f"source waits up to {units.secs(parts.window_s)} for a batch to fill before it invokes "
        "anything, so an upload that arrives alone waits that long whatever the function does; "
        + init
    )


def _versus(a: str, b: str) -> str:
    return f"{a} vs {b}"


def _engine(results: Results) -> list[str]:
    engine = (results.drain or {}).get("bare_engine", {})
    ips = figures.bare_engine_ips(results)
    ratio = stats.ratio(ips, figures.bare_model_ips(results))
    return [
        "bare OpenVINO engine: `OpenVinoYolo.detect` on the same images, decoded beforehand",
        engine.get("not_measured") or f"{units.ips(ips)} = {units.times(ratio)} the bare model",
    ]


def _decode(results: Results) -> list[str]:
    full, draft = figures.decode_s(results, "full_s"), figures.decode_s(results, "for_model_s")
    return [
        "12 MP phone photo decoded for the model: full decode vs `decode_for_model`",
        _versus(units.ms(full), units.ms(draft)),
    ]


def _phone_drain(results: Results) -> list[str]:
    drained, bare = figures.drain_ips(results, "phone"), figures.bare_model_ips(results, "phone")
    return [
        "predict drain rate of 12 MP photos",
        f"{units.ips(drained)} = {units.times(stats.ratio(drained, bare))} the bare model on "
        f"the same files ({units.ips(bare)})",
    ]


def _s3(results: Results) -> list[str]:
    """At the smallest delay that is not the local endpoint: S3 as Lambda sees it."""
    delays = [d for d in figures.s3_delays_s(results) if d > 0]
    delay = min(delays) if delays else stats.NAN
    one, four = figures.s3_batch_s(results, delay, 1), figures.s3_batch_s(results, delay, 4)
    batch = (results.s3_latency or {}).get("batch", "n/a")
    return [
        f"a batch of {batch} with S3 {units.ms(2 * delay)} away: fetch concurrency 1 vs 4",
        f"{_versus(units.ms(one), units.ms(four))} ({units.times(stats.ratio(one, four))} faster)",
    ]


def _engines_memory(results: Results) -> list[str]:
    ultralytics = figures.predict_peak_mb(results, "ultralytics")
    openvino = figures.predict_peak_mb(results, "openvino")
    return [
        "predict peak memory, ultralytics engine vs OpenVINO engine (function cold start)",
        _versus(units.megabytes(ultralytics), units.megabytes(openvino)),
    ]


def _cost(results: Results, facts: TemplateFacts) -> list[str]:
    spent = figures.cost_per_1000(results, facts)
    return [
        "Lambda cost of 1,000 images (predict's share), at the drain's rate",
        f"{units.usd(spent.usd)} ({units.usd(spent.usd_predict)})",
    ]


def also_table(results: Results, facts: TemplateFacts) -> str:
    rows = [
        _engine(results),
        _decode(results),
        _phone_drain(results),
        _s3(results),
        _engines_memory(results),
        _cost(results, facts),
    ]
    return table(["figure", "measured"], rows)
