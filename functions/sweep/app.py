"""sweep: on a schedule, repair uploads whose queue message may never have been sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from dogdetect.observability import instrument, observability
from dogdetect.service.sweep import sweep_unenqueued
from dogdetect.wiring import Adapters, adapters

obs = observability("sweep")


def lambda_handler(
    event: dict[str, Any], context: Any, deps: Callable[[], Adapters] = adapters
) -> dict[str, int]:
    a = deps()
    result = sweep_unenqueued(
        a.repository, a.storage, a.queue, grace_seconds=a.settings.enqueue_grace_seconds
    )
    obs.metrics.add_metric(name="UploadsRequeued", unit="Count", value=result.requeued)
    return asdict(result)


handler = instrument(lambda_handler, obs)
