"""The benchmark report's arithmetic: statistics, verdicts, template facts, cost, and the
document filled from one run's results (or from none). No measurement runs here."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import figures, pricing, report, sizes, stats, targets, template_facts
from bench.result_files import PARTS, Results, load, save
from local.template import TEMPLATE

FACTS = template_facts.TemplateFacts(
    memory_mb={"submit": 1024, "status": 512, "predict": 2048},
    timeout_s={"submit": 29.0, "status": 10.0, "predict": 60.0},
    architecture="x86_64",
    batch_size=10,
    batching_window_s=1,
    predict_max_concurrency=5,
    throttle_rate_per_s=20.0,
    throttle_burst=50,
)


def run_results(**changes: Any) -> Results:
    """One run's results, shaped as `python -m bench` saves them."""
    latencies = {"status_latencies_s": [0.02], "submit_latencies_s": [0.05, 0.07]}
    burst = {"images": 8, "throughput_ips": 5.0, "done_latencies_s": [1.1, 1.3]}
    burst |= {"first_to_last_done_s": 0.7, **latencies}
    found = Results(
        machine={
            "when": "2026-11-29T21:26:00+00:00",
            "python": "3.11.7",
            "cpus": 2,
            "quick": False,
            "load_average_at_start": [0.3, 0.2, 0.1],
        },
        run={"elapsed_s": 300.0, "load_average_at_end": [2.0, 1.0, 1.0]},
        closure={
            "total_bytes": 420e6,
            "packages": {"openvino": 185e6, "numpy": 70e6},
            "has_torch": False,
            "source": "pip",
        },
        functions={
            "api": {
                "submit": [{"import_s": 0.4, "peak_rss_mb": 110}],
                "status": [{"import_s": 0.6, "peak_rss_mb": 100}],
            },
            "predict": {
                "openvino": [{"import_s": 0.5, "model_load_s": 0.3, "peak_rss_mb": 300}],
                "ultralytics": [{"import_s": 0.5, "model_load_s": 3.0, "peak_rss_mb": 900}],
            },
        },
        drain={
            "images": 60,
            "phone_images": 20,
            "bare": {"photos": {"throughput_ips": 30.0}, "phone": {"throughput_ips": 10.0}},
            "bare_engine": {"throughput_ips": 40.0},
            "photos": {"images": 60, "finished": 60, "errors": 0, "elapsed_s": 2.0},
            "phone": {"images": 20, "finished": 20, "errors": 0, "elapsed_s": 2.0},
            "predict_worker_peak_rss_mb": 320.0,
        },
        cold_start={"runs": [{"done_s": 1.8, "init_s": 0.5, "warm_done_s": 1.1}]},
        decode={
            "min_side": 640,
            "phone-12mp.jpg": {
                "full_s": [0.2],
                "for_model_s": [0.05],
                "for_model_shape": [756, 1008, 3],
            },
            "phone": {"width": 4032, "height": 3024, "bytes": 1_250_000, "quality": 90},
        },
        s3_latency={
            "batch": 10,
            "storages": [
                {"delay_each_way_s": 0.0, "runs": [{"concurrency": 1, "batch_s": 0.5}]},
                {
                    "delay_each_way_s": 0.02,
                    "runs": [
                        {"concurrency": 4, "batch_s": 9.0, "warm_up": True},
                        {"concurrency": 1, "batch_s": 0.9, "warm_up": False},
                        {"concurrency": 4, "batch_s": 0.6, "warm_up": False},
                    ],
                },
                {"delay_each_way_s": 0.1, "not_measured": "the batch pipeline is not there"},
            ],
        },
        pipeline={
            "submit_only_latencies_s": {"1": [0.03, 0.04], "8": [0.05] * 18 + [0.2, 0.2]},
            "idle_done_latencies_s": [1.1, 1.2],
            "scaling": {"base_images": 8, "concurrency": 8, "runs": {"1": burst}},
        },
    )
    found.drain["photos"]["throughput_ips"] = 30.0  # type: ignore[index]
    found.drain["phone"]["throughput_ips"] = 10.0  # type: ignore[index]
    return replace(found, **changes)


def test_percentiles_interpolate_between_ranks_and_are_nan_without_values() -> None:
    assert stats.pct([1, 2, 3, 4, 5], 50) == 3
    assert stats.pct([0, 10], 95) == pytest.approx(9.5)
    assert math.isnan(stats.pct([], 95))


def test_a_median_over_runs_skips_the_runs_without_the_figure() -> None:
    runs = [{"import_s": 1.0}, {"other": 5}, {"import_s": 3.0}, {"import_s": None}]
    assert stats.median_of(runs, "import_s") == 2.0
    assert math.isnan(stats.median_of([], "import_s"))


def test_a_ratio_to_nothing_is_unknown_not_an_error() -> None:
    assert stats.ratio(30, 15) == 2.0
    assert math.isnan(stats.ratio(30, 0))
    assert math.isnan(stats.rate(10, float("nan")))


def test_each_target_row_says_met_missed_or_not_measured() -> None:
    rows = {r.figure: r for r in targets.rows(run_results(), FACTS)}
    verdicts = {figure.split(":")[0]: row.verdict for figure, row in rows.items()}
    assert verdicts == {
        "bare model": "reference",
        "predict drain rate, queue pre-filled": "**met**",  # 30 / 30 img/s = 1.00x
        "predict cold start": "**missed**",  # 1.8 s
        "predict peak memory": "**met**",  # 300 and 320 MB
        "predict image's installed runtime closure": "**met**",
        "submit p95 at concurrency 8, predict paused": "**missed**",  # p95 among the two 200 ms
        "submit and status cold import": "**missed**",  # status 600 ms
    }
    nothing = targets.rows(Results(), FACTS)
    assert [r.verdict for r in nothing] == ["reference"] + ["not measured"] * 6


def test_the_drain_ratio_is_against_the_bare_model_of_the_same_run() -> None:
    slower = run_results()
    slower.drain["photos"]["throughput_ips"] = 15.0  # type: ignore[index]
    row = targets.drain_rate(slower)
    assert row.met is False
    assert "0.50x the bare model" in row.measured


def test_peak_memory_is_judged_on_the_larger_of_cold_start_and_the_stack_worker() -> None:
    heavy_worker = run_results()
    heavy_worker.drain["predict_worker_peak_rss_mb"] = 400.0  # type: ignore[index]
    assert targets.peak_memory(heavy_worker).met is False


def test_torch_in_the_closure_misses_whatever_its_size() -> None:
    with_torch = run_results(closure={"total_bytes": 1e6, "has_torch": True, "source": "venv"})
    assert targets.runtime_closure(with_torch).met is False


def test_the_cold_start_parts_take_the_template_batching_window() -> None:
    parts = figures.cold_start(run_results(), replace(FACTS, batching_window_s=2))
    assert (parts.done_s, parts.init_s, parts.window_s) == (1.8, 0.5, 2.0)
    assert parts.rest_s == pytest.approx(-0.7)


def test_warm_up_batches_are_left_out_of_the_s3_figures() -> None:
    assert figures.s3_batch_s(run_results(), 0.02, 4) == 0.6
    assert math.isnan(figures.s3_batch_s(run_results(), 0.5, 4))  # a delay not measured


def test_function_properties_resolve_parameter_defaults_and_globals() -> None:
    document = {
        "Parameters": {"PredictMemorySize": {"Default": 3008}},
        "Globals": {"Function": {"MemorySize": 512, "Timeout": 15}},
        "Resources": {
            "Predict": {"Properties": {"MemorySize": {"Ref": "PredictMemorySize"}}},
            "Submit": {"Properties": {"MemorySize": 1024}},
            "Status": {"Properties": {}},
        },
    }
    memory = {
        name: template_facts.function_property(document, name, "MemorySize")
        for name in ("Predict", "Submit", "Status")
    }
    assert memory == {"Predict": 3008, "Submit": 1024, "Status": 512}
    assert template_facts.architecture(document, "Predict") == "x86_64"  # Lambda's default


def test_the_facts_are_the_template_s_own() -> None:
    class CloudFormation(yaml.SafeLoader):  # short tags (!Ref, ...) read as plain values
        pass

    CloudFormation.add_multi_constructor("!", lambda loader, suffix, node: None)
    raw = yaml.load(TEMPLATE.read_text(), Loader=CloudFormation)
    predict = raw["Resources"]["PredictFunction"]["Properties"]
    source = predict["Events"]["Jobs"]["Properties"]
    facts = template_facts.read()
    assert facts.memory_mb["predict"] == raw["Parameters"]["PredictMemorySize"]["Default"]
    assert facts.timeout_s["predict"] == predict["Timeout"]
    assert facts.batch_size == source["BatchSize"]
    assert facts.batching_window_s == source["MaximumBatchingWindowInSeconds"]
    assert facts.predict_max_concurrency == source["ScalingConfig"]["MaximumConcurrency"]


def test_cost_grows_with_the_memory_the_template_gives_and_falls_with_the_batch() -> None:
    durations = pricing.Durations(predict_s=0.1, submit_s=0.05, status_s=0.02)
    base = pricing.per_1000_images(durations, FACTS)
    doubled = {**FACTS.memory_mb, "predict": 4096}
    more_memory = pricing.per_1000_images(durations, replace(FACTS, memory_mb=doubled))
    predict_compute = base.usd_predict - 100 * pricing.PRICE_PER_REQUEST  # 1,000 / batch of 10
    assert more_memory.usd_predict == pytest.approx(base.usd_predict + predict_compute)
    bigger_batch = pricing.per_1000_images(durations, replace(FACTS, batch_size=20))
    assert base.usd_predict - bigger_batch.usd_predict == pytest.approx(50 * 0.20 / 1e6)


def test_the_report_fills_every_placeholder_from_a_run() -> None:
    text = report.render(run_results(), FACTS)
    assert "$" + "{" not in text
    targets_section = text.split("## Targets", 1)[1].split("## ", 1)[0]
    assert "| predict drain rate, queue pre-filled | 30.0 img/s = 1.00x the bare model" in text
    assert targets_section.count("**missed**") == 3
    assert "1,800 ms" not in targets_section and "1.80 s (batching window 1.00 s" in text


def test_the_report_says_what_a_run_did_not_measure() -> None:
    text = report.render(Results(), FACTS)
    assert "$" + "{" not in text
    assert text.count("*Not measured in this run*") >= 8


def test_results_round_trip_through_their_folder(tmp_path: Path) -> None:
    save("drain", {"images": 60}, tmp_path)
    loaded = load(tmp_path)
    assert loaded.drain == {"images": 60}
    assert all(getattr(loaded, part) is None for part in PARTS if part != "drain")
    with pytest.raises(ValueError):
        save("sizes", {}, tmp_path)


def test_requirement_names_follow_includes_and_skip_comments(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("# the layer\nboto3>=1.40,<2\nPyYAML>=6  # for yaml\n")
    (tmp_path / "req.txt").write_text(
        "-r base.txt\nopenvino==2026.4.1\nopencv_python.headless==5.0\n"
        'pywin32>=300; sys_platform == "win32"\n'
    )
    names = sizes.requirement_names(tmp_path / "req.txt")
    assert names == ["boto3", "pyyaml", "openvino", "opencv-python-headless"]


def test_without_a_batching_window_the_cold_start_is_its_init() -> None:
    with_window = report.render(run_results(), FACTS)
    assert "competes first with the template's batching window" in with_window
    text = report.render(run_results(), replace(FACTS, batching_window_s=0))
    assert "competes first" not in text
    assert "Predict's cold start is its init: the new environment's init took" in text
