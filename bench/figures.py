"""Single figures read out of one run's results (NaN when the run did not measure them), so
that the targets table, the summary and the sections all read them the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import pricing, stats
from bench.result_files import Results
from bench.template_facts import TemplateFacts

PHONE = "phone-12mp.jpg"  # bench/phone_photo.py's file name, as the decode results key it


def bare_model_ips(results: Results, which: str = "photos") -> float:
    """ultralytics in a plain loop on the files: `photos` or the 12 MP `phone` photo."""
    bare = (results.drain or {}).get("bare", {})
    return float(bare.get(which, {}).get("throughput_ips", stats.NAN))


def bare_engine_ips(results: Results) -> float:
    return float((results.drain or {}).get("bare_engine", {}).get("throughput_ips", stats.NAN))


def drain_ips(results: Results, which: str = "photos") -> float:
    return float((results.drain or {}).get(which, {}).get("throughput_ips", stats.NAN))


@dataclass(frozen=True)
class ColdStart:
    """Submit -> DONE of one image after the predict worker was killed, and its parts."""

    done_s: float
    init_s: float  # the new execution environment's init, as the local runtime logs it
    window_s: float  # the template's batching window, which the event source waits first

    @property
    def rest_s(self) -> float:
        return self.done_s - self.init_s - self.window_s


def cold_start(results: Results, facts: TemplateFacts) -> ColdStart:
    runs = (results.cold_start or {}).get("runs", [])
    return ColdStart(
        done_s=stats.median_of(runs, "done_s"),
        init_s=stats.median_of(runs, "init_s"),
        window_s=float(facts.batching_window_s),
    )


def predict_runs(results: Results, engine: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = (results.functions or {}).get("predict", {}).get(engine, [])
    return runs


def predict_peak_mb(results: Results, engine: str = "openvino") -> float:
    return stats.median_of(predict_runs(results, engine), "peak_rss_mb")


def api_imports_s(results: Results) -> dict[str, float]:
    api = (results.functions or {}).get("api", {})
    return {name: stats.median_of(api.get(name, []), "import_s") for name in ("submit", "status")}


def submit_paused_s(results: Results, concurrency: int) -> list[float]:
    paused = (results.pipeline or {}).get("submit_only_latencies_s", {})
    latencies: list[float] = paused.get(str(concurrency), [])
    return latencies


def s3_delays_s(results: Results) -> list[float]:
    """The delays each way S3 was measured at (0: the local endpoint directly)."""
    storages = (results.s3_latency or {}).get("storages", [])
    return [float(s["delay_each_way_s"]) for s in storages]


def s3_batch_s(results: Results, delay_s: float, concurrency: int) -> float:
    """Median time of one batch with S3 `delay_s` away each way, warm-up batches left out."""
    for storage in (results.s3_latency or {}).get("storages", []):
        if storage["delay_each_way_s"] == delay_s:
            runs = storage.get("runs", [])
            timed = [r for r in runs if r["concurrency"] == concurrency and not r.get("warm_up")]
            return stats.median_of(timed, "batch_s")
    return stats.NAN


def decode_s(results: Results, how: str, photo: str = PHONE) -> float:
    """Median decode time: `full_s` (decode_rgb) or `for_model_s` (decode_for_model)."""
    return stats.median((results.decode or {}).get(photo, {}).get(how, []))


def cost_per_1000(results: Results, facts: TemplateFacts) -> pricing.Cost:
    """Predict's time per image while draining the queue, one submit at concurrency 1 and one
    status poll (the bursts' mean)."""
    drained = (results.drain or {}).get("photos", {})
    bursts = (results.pipeline or {}).get("scaling", {}).get("runs", {}).values()
    durations = pricing.Durations(
        predict_s=stats.ratio(drained.get("elapsed_s", stats.NAN), drained.get("finished", 0)),
        submit_s=stats.mean(submit_paused_s(results, 1)),
        status_s=stats.mean(s for burst in bursts for s in burst["status_latencies_s"]),
    )
    return pricing.per_1000_images(durations, facts)
