"""Predict's cold start as a client sees it: its execution environment killed (as Lambda
discards a container), then one upload, timed from its row's creation to DONE. Nothing is
subtracted; the parts are reported beside it: the template's batching window, which the event
source waits first for a batch to fill, and the new environment's init as the local runtime
logs it (imports, model load and warm-up)."""

from __future__ import annotations

from typing import Any

from bench import load
from bench.common import SHARED, Steps
from bench.stack_control import (
    kill_predict_workers,
    log_size,
    predict_workers,
    wait_for_init,
)

STEPS = 1


def once(stack: Any) -> dict[str, Any]:
    dog = SHARED / "images" / "dog.jpg"
    warm = load.upload_and_wait(stack.api_url, [dog], 1)  # warm, and the queue empty
    since = log_size(stack)
    killed = kill_predict_workers(stack)
    cold = load.upload_and_wait(stack.api_url, [dog], 1)
    return {
        "done_s": cold.done_latencies_s[0] if cold.done_latencies_s else None,
        "warm_done_s": warm.done_latencies_s[0] if warm.done_latencies_s else None,
        "init_s": wait_for_init(stack, since, "predict"),
        "killed_pids": killed,
        "new_pids": [p.pid for p in predict_workers(stack)],
        "errors": cold.errors,
    }


def measure(stack: Any, step: Steps, repeats: int) -> dict[str, Any]:
    step("predict cold start (worker killed)")
    runs = [once(stack) for _ in range(repeats)]
    step.done()
    return {"runs": runs}
