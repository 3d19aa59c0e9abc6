"""One SQS batch through predict's own pipeline (`process_batch`), in process, with the
function's own wiring (its `predict_deps`) and storage at whatever endpoint the environment
names (the local one, or the latency proxy in front of it), at each fetch concurrency."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from typing import Any

from bench.worker_env import lambda_path


def s3_batch(args: dict[str, Any]) -> dict[str, Any]:
    """args: {"runs": [{"concurrency": c, "ids": [prediction ids, PENDING]}, ...]}; each run
    processes its own rows (a finished row would be skipped, not processed again)."""
    lambda_path("predict")
    try:
        from dogdetect.service.predict import QueuedJob, process_batch
    except ImportError as exc:
        return {"not_measured": f"the batch pipeline is not there: {exc}"}
    from dogdetect.config import Settings
    from dogdetect.domain.models import Job, image_key_for
    from dogdetect.entrypoints import predict as app  # what functions/predict/app.py runs

    deps = app.predict_deps()  # the function's own init: adapters, model, warm-up
    bucket = Settings().bucket_name
    out = []
    for run in args["runs"]:
        ids = [uuid.UUID(i) for i in run["ids"]]
        jobs = [QueuedJob(str(n), Job(i, bucket, image_key_for(i)), 1) for n, i in enumerate(ids)]
        batch_deps = replace(deps, fetch_concurrency=run["concurrency"])
        t = time.perf_counter()
        failed = process_batch(jobs, batch_deps)
        elapsed = time.perf_counter() - t
        out.append(
            {
                "concurrency": run["concurrency"],
                "images": len(jobs),
                "batch_s": elapsed,
                "failed": len(failed),
            }
        )
    return {"runs": out}
