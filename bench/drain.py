"""How fast the stack drains a full queue, against the bare model measured right before.

The bare model is ultralytics predicting the same JPEG files in a loop (the reference), beside
the OpenVINO engine alone on arrays decoded beforehand (raw engine speed). Then the stack's
poller is paused, the images are submitted, the poller resumed, and the drain is timed from
the resume to the last row DONE (the rows' own `updated_at`): submit's cost is left out, as
in the cloud, where predict runs on machines of its own."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench import load
from bench.common import OPENVINO_MODEL, Steps, cycle, photos, run_worker
from bench.stack_control import peak_rss_mb, predict_engine, predict_paused, predict_workers

SUBMIT_CONCURRENCY = 8
DRAIN_TIMEOUT_S = 600
STEPS = 4


def drain(stack: Any, paths: list[Path]) -> dict[str, Any]:
    load.wait_idle(stack.api_url, photos()[0])  # only these images in the queue
    with load.client(stack.api_url, SUBMIT_CONCURRENCY) as http:
        with predict_paused(stack):
            submitted = load.submit_all(http, paths, SUBMIT_CONCURRENCY)
        resumed_at = time.time()  # the rows' clock is this machine's wall clock too
        rows = load.wait_done(http, submitted.ids, DRAIN_TIMEOUT_S)
    done = [load.timestamp(row["updated_at"]) for row in rows]
    elapsed = max(done) - resumed_at if done else float("nan")
    return {
        "images": len(paths),
        "finished": len(rows),
        "errors": submitted.errors + sum(row["status"] != "DONE" for row in rows),
        "elapsed_s": elapsed,
        # > 0 when the poller was held back while the queue filled (a check of the method)
        "first_done_after_resume_s": min(done) - resumed_at if done else float("nan"),
        "throughput_ips": len(rows) / elapsed if done else float("nan"),
    }


def measure(stack: Any, step: Steps, n: int, phone: Path, phone_n: int) -> dict[str, Any]:
    pics = [str(p) for p in cycle(photos(), n)]
    phones = [str(phone)] * phone_n
    out: dict[str, Any] = {"images": n, "phone_images": phone_n, "engine": predict_engine(stack)}
    step("bare model (ultralytics)")
    out["bare"] = run_worker(
        "bare", {"model": str(OPENVINO_MODEL), "sets": {"photos": pics, "phone": phones}}
    )
    step.done()
    step("bare OpenVINO engine")
    out["bare_engine"] = run_worker("bare_engine", {"model": str(OPENVINO_MODEL), "photos": pics})
    step.done()
    step("drain, queue pre-filled")
    out["photos"] = drain(stack, [Path(p) for p in pics])
    step.done()
    step("drain, 12 MP photos")
    out["phone"] = drain(stack, [phone] * phone_n)
    step.done()
    workers = predict_workers(stack)
    out["predict_worker_peak_rss_mb"] = peak_rss_mb(workers[0]) if workers else None
    return out
