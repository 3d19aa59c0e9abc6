"""The benchmark page's arithmetic and its template: statistics, verdicts, template facts, cost,
the per-image breakdown, and the page rendered from one run's results (or from none). No
measurement runs here."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
import yaml

from bench import report
from bench.common import median_of, pct, ratio
from local.template import TEMPLATE

FACTS = report.Facts(
    memory_mb={"submit": 1024, "status": 512, "predict": 2048},
    architecture="x86_64",
    batch_size=10,
    batching_window_s=0,
    predict_max_concurrency=5,
    throttle_rate_per_s=20.0,
    throttle_burst=50,
)


def ips(value: float, **more: Any) -> dict[str, Any]:
    return {"throughput_ips": value, **more}


def batch_run(concurrency: int, warm_up: bool = False) -> dict[str, Any]:
    parts = {"fetch": 0.1, "decode": 0.05, "letterbox": 0.02, "detect": 0.32, "postprocess": 0.03}
    return {"concurrency": concurrency, "warm_up": warm_up, "images": 10, "batch_s": 0.5,
            "sqs_receive_s": 0.02, "sqs_delete_s": 0.01, "pipe_s": 0.002, "failed": 0,
            "parts_s": {**parts, "sql": 0.04}}  # fmt: skip


def run_results() -> dict[str, Any]:
    """One run's results, shaped as `python -m bench` saves them."""
    burst = {"images": 8, "throughput_ips": 5.0, "done_latencies_s": [1.1, 1.3],
             "first_to_last_done_s": 0.7, "status_latencies_s": [0.02],
             "submit_latencies_s": [0.05, 0.07]}  # fmt: skip
    drained = ips(20.0, images=150, finished=150, errors=0, elapsed_s=7.5, load_average=1.0)
    return {
        "machine": {"when": "2026-12-06T21:26:00+00:00", "python": "3.11.7", "cpus": 2,
                    "quick": False, "load_average_at_start": [0.3, 0.2, 0.1]},
        "run": {"elapsed_s": 300.0, "load_average_at_end": [2.0, 1.0, 1.0]},
        "closure": {"total_bytes": 420e6, "packages": {"openvino": 96e6}, "has_torch": False,
                    "source": ".aws-sam-test/predict-runtime.json"},
        "functions": {
            "submit": [{"import_s": 0.4, "peak_rss_mb": 110, "at_import": []}],
            "status": [{"import_s": 0.6, "peak_rss_mb": 100, "at_import": []}],
            "predict (openvino)": [{"import_s": 0.5, "model_load_s": 0.3, "peak_rss_mb": 300,
                                    "at_import": [], "after_load": ["numpy", "openvino"]}],
        },
        "engine": {
            "images": 150, "raw": ips(32.0, elapsed_s=6.0),
            "pinned_pair": [ips(23.0), ips(23.0)], "pinned_alone": ips(23.5),
            "engine": {"detect": ips(30.0), "decode_and_detect": ips(26.0)},
            "raw_after_drain": ips(31.0),
            "ultralytics": {"photos": ips(25.0), "phone": ips(10.0)},
        },
        "drain": {"photos": {**drained, "inits_during_s": [], "environments": 2, "cpus": 2,
                             "cpu_s_by_role": {"predict environments": 6.0,
                                               "AWS endpoint (moto)": 0.75}},
                  "photos_runs_ips": [19.0, 20.0, 18.5],
                  "phone": ips(15.0, images=20, finished=20, errors=0, elapsed_s=1.3,
                               load_average=1.0, inits_during_s=[], environments=2),
                  "peak_rss_mb": 320.0},
        "cold_start": {"runs": [{"done_s": 1.8, "init_s": 1.5, "warm_done_s": 0.06,
                                 "killed": 2, "errors": 0, "load_average": 1.2}]},
        "batches": {"batch": 10, "storages": [
            {"delay_each_way_s": 0.0, "runs": [batch_run(4, True), batch_run(1), batch_run(4)]},
            {"delay_each_way_s": 0.02, "runs": [batch_run(4, True), batch_run(1), batch_run(4)]},
        ]},
        "pipeline": {"submit_only_latencies_s": {"1": [0.03, 0.04], "8": [0.05] * 18 + [0.9, 0.9]},
                     "submit_attempt_latencies_s": {"1": [0.03, 0.04],
                                                    "8": [0.05] * 18 + [0.2, 0.2]},
                     "submit_throttled": {"1": 0, "8": 3},
                     "floor_c8_latencies_s": [0.1] * 20,
                     "scaling": {"base_images": 8, "concurrency": 8, "runs": {"1": burst}}},
    }  # fmt: skip


def test_statistics_are_nan_without_values_never_an_error() -> None:
    assert pct([1, 2, 3, 4, 5], 50) == 3
    assert pct([0, 10], 95) == pytest.approx(9.5)
    assert math.isnan(pct([], 95))
    assert median_of([{"a": 1.0}, {"b": 5}, {"a": 3.0}, {"a": None}], "a") == 2.0
    assert math.isnan(ratio(30, 0)) and math.isnan(ratio(float("nan"), 2))


def test_the_drain_is_judged_against_raw_openvino_of_the_same_run() -> None:
    found = report.figures(run_results(), FACTS)
    assert found["drain_vs_raw"] == pytest.approx(20 / 32)  # missed: < 0.8x
    assert found["drain_vs_pair"] == pytest.approx(20 / 46)
    assert found["drain_vs_ultralytics"] == pytest.approx(0.8)
    assert found["met"] == {"drain": False, "cold": False, "peak": True, "closure": True,
                            "submit": False, "import": False}  # fmt: skip
    faster = run_results()
    faster["drain"]["photos"]["throughput_ips"] = 26.0
    assert report.figures(faster, FACTS)["met"]["drain"] is True


def test_submit_is_judged_per_accepted_attempt_against_the_emulators_floor() -> None:
    found = report.figures(run_results(), FACTS)
    assert found["submit_p95_s"] == pytest.approx(0.2)  # the attempt's, not the backing off's
    assert found["submit_vs_floor"] == pytest.approx(2.0) and found["met"]["submit"] is False
    near = run_results()
    near["pipeline"]["floor_c8_latencies_s"] = [0.14] * 20
    assert report.figures(near, FACTS)["met"]["submit"] is True  # 0.2 / 0.14 = 1.43x


def test_the_drain_s_cpu_is_per_image_beside_what_the_machine_had() -> None:
    cpu = report.figures(run_results(), FACTS)["cpu_ms_per_image"]
    assert cpu["predict environments"] == pytest.approx(40.0)  # 6 s / 150 images
    assert cpu["all"] == pytest.approx(45.0)
    assert cpu["the machine"] == pytest.approx(100.0)  # 2 cores x 7.5 s / 150
    text = report.render(run_results(), FACTS)
    assert "| predict environments | 40.0 ms |" in text
    assert "| **all of them** | **45.0 ms** |" in text
    assert "the best of 3 drains (19.0 img/s, 20.0 img/s, 18.5 img/s" in text


def test_peak_memory_is_judged_on_the_larger_of_cold_start_and_the_stack() -> None:
    heavy = run_results()
    heavy["drain"]["peak_rss_mb"] = 400.0
    assert report.figures(heavy, FACTS)["met"]["peak"] is False


def test_the_breakdown_is_per_image_and_leaves_warm_ups_and_other_concurrencies_out() -> None:
    found = report.figures(run_results(), FACTS)["breakdown"]
    assert found["batches"] == 1  # one timed batch at the largest concurrency, no delay
    assert found["inference"] == pytest.approx((0.32 - 0.02 - 0.03) / 10)
    assert found["sql"] == pytest.approx(0.004)
    assert found["end_to_end"] == pytest.approx((0.02 + 0.002 + 0.5 + 0.01) / 10)
    rows = report.figures(run_results(), FACTS)["s3"]
    assert [r["delay_s"] for r in rows] == [0.0, 0.02] and rows[1]["gain"] == 1.0


def test_cost_grows_with_the_memory_the_template_gives_and_falls_with_the_batch() -> None:
    base = report.cost_per_1000(FACTS, 0.1, 0.05, 0.02)
    doubled = replace(FACTS, memory_mb={**FACTS.memory_mb, "predict": 4096})
    compute = base["predict_usd"] - 100 * report.PRICE_PER_REQUEST  # 1,000 / batch of 10
    more = report.cost_per_1000(doubled, 0.1, 0.05, 0.02)
    assert more["predict_usd"] == pytest.approx(base["predict_usd"] + compute)
    bigger = report.cost_per_1000(replace(FACTS, batch_size=20), 0.1, 0.05, 0.02)
    assert base["predict_usd"] - bigger["predict_usd"] == pytest.approx(50 * 0.20 / 1e6)


def test_the_facts_are_the_template_s_own() -> None:
    class CloudFormation(yaml.SafeLoader):  # short tags (!Ref, ...) read as plain values
        pass

    CloudFormation.add_multi_constructor("!", lambda loader, suffix, node: None)
    raw = yaml.load(TEMPLATE.read_text(), Loader=CloudFormation)
    source = raw["Resources"]["PredictFunction"]["Properties"]["Events"]["Jobs"]["Properties"]
    facts = report.facts()
    assert facts.memory_mb["predict"] == raw["Parameters"]["PredictMemorySize"]["Default"]
    assert facts.batch_size == source["BatchSize"]
    assert facts.batching_window_s == source["MaximumBatchingWindowInSeconds"]
    concurrency = raw["Parameters"]["PredictMaxConcurrency"]["Default"]
    assert facts.predict_max_concurrency == concurrency


def test_the_page_shows_each_target_and_a_missed_one_with_its_reason() -> None:
    text = report.render(run_results(), FACTS)
    targets = text.split("## Targets", 1)[1].split("## ", 1)[0]
    assert "20.0 img/s = **0.62x raw OpenVINO** (32.0 img/s" in targets
    assert "**missed** ([why](#drain))" in targets
    assert "| 0.43x of 46.0 img/s |" in targets
    assert targets.count("**missed**") == 4 and targets.count("**met**") == 2
    assert "| inference | 27.0 ms |" in text


def test_the_page_says_what_a_run_did_not_measure() -> None:
    text = report.render({}, FACTS)  # StrictUndefined: a figure the page reads wrongly fails
    assert text.count("*Not measured in this run*") >= 10
    assert "not measured |" in text
