"""sweep: on a schedule, repair uploads whose queue message may never have been sent, and give
up on predictions that never got a result. A sweep still running makes the next one skip."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from dogdetect.runtime.composition import Adapters, adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.service.sweep import sweep

obs = observability("sweep")


def lambda_handler(
    event: dict[str, Any], context: Any, deps: Callable[[], Adapters] = adapters
) -> dict[str, Any]:
    a = deps()
    result = sweep(
        a.repository,
        a.storage,
        a.queue,
        grace_seconds=a.settings.enqueue_grace_seconds,
        stuck_after_seconds=a.settings.stuck_after_seconds,
        notifications=a.notifications,
        upload_grace_seconds=a.settings.direct_upload_grace_seconds,
    )
    obs.metrics.add_metric(name="UploadsRequeued", unit="Count", value=result.requeued)
    obs.metrics.add_metric(name="UploadsDeleted", unit="Count", value=result.deleted)
    obs.metrics.add_metric(name="StuckPredictionsFailed", unit="Count", value=result.stuck_failed)
    obs.metrics.add_metric(name="SweepsSkipped", unit="Count", value=int(result.skipped))
    obs.metrics.add_metric(name="IdempotencyKeysExpired", unit="Count", value=result.keys_expired)
    obs.metrics.add_metric(name="WebhooksAnnounced", unit="Count", value=result.webhooks_announced)
    obs.metrics.add_metric(name="UploadsNeverReceived", unit="Count", value=result.uploads_expired)
    return asdict(result)


handler = instrument(lambda_handler, obs)
