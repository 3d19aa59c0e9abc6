"""sweep: on a schedule, repair uploads whose queue message may never have been sent, give up
on predictions that never got a result, and the rest of `dogdetect.service.sweep`. A sweep
still running makes the next one skip; a row that fails is counted and the sweep goes on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.sweep import SweepDeps, sweep

obs = observability("sweep")
METRICS = {
    "requeued": "UploadsRequeued",
    "deleted": "UploadsDeleted",
    "stuck_failed": "StuckPredictionsFailed",
    "skipped": "SweepsSkipped",
    "keys_expired": "IdempotencyKeysExpired",
    "webhooks_announced": "WebhooksAnnounced",
    "uploads_expired": "UploadsNeverReceived",
    "failed": "SweepFailures",
}
sweep_deps = use_cases.current(use_cases.sweep_deps)


def lambda_handler(
    event: dict[str, Any], context: Any, deps: Callable[[], SweepDeps] = sweep_deps
) -> dict[str, Any]:
    result = asdict(sweep(deps()))
    result.pop("failures")
    for field, metric in METRICS.items():
        obs.metrics.add_metric(name=metric, unit="Count", value=int(result[field]))
    return result


handler = instrument(lambda_handler, obs, adapters)
