"""The stack under HTTP load: submit -> DONE of lone uploads on an idle stack, submit latency
with predict paused, and bursts of growing size (how latency and cost grow with the load)."""

from __future__ import annotations

from typing import Any

from bench import load
from bench.common import Steps, cycle, photos
from bench.stack_control import predict_paused

CONCURRENCIES = (1, 8, 32)
LOAD_FACTORS = (1, 4, 16)
BURST_BASE = 8
BURST_CONCURRENCY = 8


def warm_up(stack: Any) -> None:
    """Every function warm, the queue empty."""
    pics = photos()
    load.wait_idle(stack.api_url, pics[0])
    load.upload_and_wait(stack.api_url, cycle(pics, 8), 8)


def idle_latencies(stack: Any, n: int) -> list[float]:
    """Submit -> DONE of `n` uploads one at a time, each waited for."""
    latencies: list[float] = []
    for path in cycle(photos(), n):
        latencies += load.upload_and_wait(stack.api_url, [path], 1).done_latencies_s
    return latencies


def submit_latencies(stack: Any, n: int) -> dict[str, list[float]]:
    """Submit alone (predict paused, as in the cloud where it runs elsewhere), by concurrency."""
    found: dict[str, list[float]] = {}
    with predict_paused(stack):
        for c in CONCURRENCIES:
            found[str(c)] = load.submit_only(stack.api_url, cycle(photos(), n), c).latencies_s
    load.wait_idle(stack.api_url, photos()[0])  # what queued up is drained before going on
    return found


def bursts(stack: Any, step: Steps) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    for factor in LOAD_FACTORS:
        step(f"load x{factor}")
        run = load.upload_and_wait(
            stack.api_url, cycle(photos(), BURST_BASE * factor), BURST_CONCURRENCY
        )
        runs[str(factor)] = run.as_dict()
        step.done()
    return {"base_images": BURST_BASE, "concurrency": BURST_CONCURRENCY, "runs": runs}


STEPS = 3 + len(LOAD_FACTORS)  # measure, then bursts


def measure(stack: Any, step: Steps, n: int, idle_n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"images_per_run": n}
    step("warm-up")
    warm_up(stack)
    step.done()
    step("submit -> DONE, idle")
    out["idle_done_latencies_s"] = idle_latencies(stack, idle_n)
    step.done()
    step("submit latency (predict paused)")
    out["submit_only_latencies_s"] = submit_latencies(stack, n)
    step.done()
    return out
