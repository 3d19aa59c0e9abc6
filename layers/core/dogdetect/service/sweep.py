"""Repair what a failed submit may leave: rows never marked enqueued after a grace period."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dogdetect.models import Job
from dogdetect.ports import ImageStorage, JobQueue, PredictionRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    deleted: int


def sweep_unenqueued(
    repository: PredictionRepository,
    storage: ImageStorage,
    queue: JobQueue,
    grace_seconds: int,
    limit: int = 100,
) -> SweepResult:
    requeued = deleted = 0
    for prediction in repository.unenqueued_before(grace_seconds, limit):
        if prediction.status.is_terminal or storage.exists(prediction.image_key):
            # A terminal row was processed (its message did go out); otherwise queue it now.
            if not prediction.status.is_terminal:
                queue.send(Job(prediction.id, storage.bucket, prediction.image_key))
                requeued += 1
            repository.mark_enqueued(prediction.id)
        else:
            repository.delete(prediction.id)
            deleted += 1
    if requeued or deleted:
        logger.info("sweep repaired uploads", extra={"requeued": requeued, "deleted": deleted})
    return SweepResult(requeued, deleted)
