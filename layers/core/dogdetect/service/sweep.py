"""Repair what a failed submit may leave (rows never marked enqueued after a grace period), and
give up on predictions that never got a result. One sweep at a time."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from dogdetect.domain.idempotency import KEY_TTL_SECONDS
from dogdetect.domain.models import Job
from dogdetect.domain.ports import ImageStorage, JobQueue, NotificationQueue, PredictionRepository
from dogdetect.service.announce import announce_overdue
from dogdetect.service.uploads import settle_overdue_uploads

logger = logging.getLogger(__name__)


SWEEP_LOCK = "dogdetect.sweep"
# Idempotency keys can come at the API's rate (20/s, 1,200 a minute): each sweep may delete
# more than that, so expired keys never pile up.
EXPIRED_KEYS_PER_SWEEP = 5000


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    deleted: int
    stuck_failed: int = 0
    skipped: bool = False  # another sweep was running: this one did nothing
    keys_expired: int = 0  # idempotency keys older than a day, deleted
    webhooks_announced: int = 0  # finished predictions whose webhook nobody had announced
    uploads_expired: int = 0  # direct uploads whose URL expired unused: ERROR


def stuck_reason(stuck_after_seconds: int) -> str:
    return (
        f"gave up: no result {stuck_after_seconds} seconds after the prediction was queued "
        "or last picked up by a worker"
    )


def sweep(
    repository: PredictionRepository,
    storage: ImageStorage,
    queue: JobQueue,
    grace_seconds: int,
    stuck_after_seconds: int,
    limit: int = 100,
    notifications: NotificationQueue | None = None,
    upload_grace_seconds: int = 300,
) -> SweepResult:
    """The scheduled sweep. Two never overlap (a slow one and the next minute's would both
    requeue the same upload): the second skips and says so. With `notifications`, it also
    announces the webhooks of finished predictions nobody announced."""
    with repository.exclusive(SWEEP_LOCK) as acquired:
        if not acquired:
            logger.info("sweep skipped: another sweep is running")
            return SweepResult(0, 0, skipped=True)
        repaired = sweep_unenqueued(repository, storage, queue, grace_seconds, limit)
        stuck = repository.fail_stuck(stuck_after_seconds, stuck_reason(stuck_after_seconds), limit)
        no_upload = settle_overdue_uploads(repository, storage, upload_grace_seconds, limit)
        expired = repository.delete_expired_keys(KEY_TTL_SECONDS, EXPIRED_KEYS_PER_SWEEP)
        # Rows the finishing code did not announce, and those fail_stuck just ended (the next
        # sweep, once they are `grace_seconds` old).
        announced = (
            announce_overdue(repository, notifications, grace_seconds, limit)
            if notifications is not None
            else 0
        )
    if stuck:
        logger.warning("sweep gave up on stuck predictions", extra={"stuck_failed": stuck})
    return replace(
        repaired,
        stuck_failed=stuck,
        keys_expired=expired,
        webhooks_announced=announced,
        uploads_expired=no_upload,
    )


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
