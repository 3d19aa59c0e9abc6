"""The scheduled sweep: repair what a failed submit may leave (rows never marked enqueued after
a grace period), give up on predictions that never got a result, end the direct uploads that
never came, expire idempotency keys, and announce the webhooks nobody announced. One sweep at
a time.

A failure stays in its row: a row whose repair fails (its storage or queue call raised) is
logged with its id and counted in `failed`, and the sweep goes on to the next row; a step that
fails as a whole is logged and counted the same way, and the next step still runs. The row is
left as it was, so the next sweep tries it again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from dogdetect.domain.idempotency import KEY_TTL_SECONDS
from dogdetect.domain.models import Job, Prediction, Status, incoming_key_for
from dogdetect.domain.ports import ImageStorage, JobQueue, NotificationQueue, SweepRecords
from dogdetect.service.notify import announce_overdue

logger = logging.getLogger(__name__)

SWEEP_LOCK = "dogdetect.sweep"
# Idempotency keys can come at the API's rate (20/s, 1,200 a minute): each sweep may delete
# more than that, so expired keys never pile up.
EXPIRED_KEYS_PER_SWEEP = 5000
NO_UPLOAD_RECEIVED = "no upload received"


@dataclass(frozen=True)
class SweepDeps:
    repository: SweepRecords
    storage: ImageStorage
    queue: JobQueue
    notifications: NotificationQueue
    grace_seconds: int  # ENQUEUE_GRACE_SECONDS: a row younger than this may still be queued
    stuck_after_seconds: int
    upload_grace_seconds: int  # after a presigned POST expires, for an upload on its way
    limit: int = 100  # rows per step and sweep


@dataclass
class SweepResult:
    requeued: int = 0
    deleted: int = 0
    stuck_failed: int = 0
    skipped: bool = False  # another sweep was running: this one did nothing
    keys_expired: int = 0  # idempotency keys older than a day, deleted
    webhooks_announced: int = 0  # finished predictions whose webhook nobody had announced
    uploads_expired: int = 0  # direct uploads whose URL expired unused: ERROR
    failed: int = 0  # rows (or whole steps) whose repair failed: logged, tried next sweep
    failures: list[str] = field(default_factory=list, repr=False, compare=False)


def stuck_reason(stuck_after_seconds: int) -> str:
    return (
        f"gave up: no result {stuck_after_seconds} seconds after the prediction was queued "
        "or last picked up by a worker"
    )


def sweep(deps: SweepDeps) -> SweepResult:
    """The scheduled sweep. Two never overlap (a slow one and the next minute's would both
    requeue the same upload): the second skips and says so."""
    result = SweepResult()
    with deps.repository.exclusive(SWEEP_LOCK) as acquired:
        if not acquired:
            logger.info("sweep skipped: another sweep is running")
            return SweepResult(skipped=True)
        _step("unenqueued rows", result, lambda: sweep_unenqueued(deps, result))
        _step("stuck rows", result, lambda: _fail_stuck(deps, result))
        _step("overdue uploads", result, lambda: settle_overdue_uploads(deps, result))
        _step("idempotency keys", result, lambda: _expire_keys(deps, result))
        # Rows the finishing code did not announce, and those fail_stuck just ended (the
        # next sweep, once they are `grace_seconds` old).
        _step("webhooks", result, lambda: _announce(deps, result))
    if result.failed:
        logger.warning("sweep finished with failures", extra={"failed": result.failed})
    return result


def _step(name: str, result: SweepResult, run: Callable[[], None]) -> None:
    try:
        run()
    except Exception:
        logger.exception("sweep step failed: %s", name)
        result.failed += 1
        result.failures.append(name)


def _row_failed(what: str, prediction: Prediction, result: SweepResult) -> None:
    pid = str(prediction.id)
    logger.exception("sweep: %s failed for %s", what, pid, extra={"prediction_id": pid})
    result.failed += 1
    result.failures.append(f"{what} {prediction.id}")


def sweep_unenqueued(deps: SweepDeps, result: SweepResult) -> None:
    for prediction in deps.repository.unenqueued_before(deps.grace_seconds, deps.limit):
        try:
            _repair_unenqueued(prediction, deps, result)
        except Exception:
            _row_failed("requeue", prediction, result)
    if result.requeued or result.deleted:
        logger.info(
            "sweep repaired uploads",
            extra={"requeued": result.requeued, "deleted": result.deleted},
        )


def _repair_unenqueued(prediction: Prediction, deps: SweepDeps, result: SweepResult) -> None:
    if prediction.status.is_terminal:
        # It was processed, so its message did go out; only the mark was lost.
        deps.repository.mark_enqueued(prediction.id)
    elif deps.storage.exists(prediction.image_key):
        deps.queue.send(Job(prediction.id, deps.storage.bucket, prediction.image_key))
        deps.repository.mark_enqueued(prediction.id)
        result.requeued += 1
    else:
        deps.repository.remove(prediction.id)
        result.deleted += 1


def _fail_stuck(deps: SweepDeps, result: SweepResult) -> None:
    reason = stuck_reason(deps.stuck_after_seconds)
    result.stuck_failed = deps.repository.fail_stuck(deps.stuck_after_seconds, reason, deps.limit)
    if result.stuck_failed:
        logger.warning(
            "sweep gave up on stuck predictions", extra={"stuck_failed": result.stuck_failed}
        )


def settle_overdue_uploads(deps: SweepDeps, result: SweepResult) -> None:
    """Direct uploads (`dogdetect.service.uploads`) whose URL expired, and the grace for an
    upload still on its way: a row with no object ends ERROR "no upload received"; a row whose
    photo came is marked enqueued, as if we had queued it (S3 did), so the stuck-row rule
    watches it."""
    for prediction in deps.repository.uploads_overdue(deps.upload_grace_seconds, deps.limit):
        try:
            waiting = prediction.status is Status.PENDING
            if waiting and not _upload_came(prediction, deps):
                result.uploads_expired += deps.repository.fail(prediction.id, NO_UPLOAD_RECEIVED)
            # Settled either way: an ERROR is final; a photo that came was queued by S3.
            deps.repository.mark_enqueued(prediction.id)
        except Exception:
            _row_failed("settle upload", prediction, result)
    if result.uploads_expired:
        logger.info(
            "direct uploads never received", extra={"uploads_expired": result.uploads_expired}
        )


def _upload_came(prediction: Prediction, deps: SweepDeps) -> bool:
    """In the drop box still (the worker has yet to take it), or accepted already."""
    drop_box = incoming_key_for(prediction.id)
    return deps.storage.exists(drop_box) or deps.storage.exists(prediction.image_key)


def _expire_keys(deps: SweepDeps, result: SweepResult) -> None:
    result.keys_expired = deps.repository.delete_expired_keys(
        KEY_TTL_SECONDS, EXPIRED_KEYS_PER_SWEEP
    )


def _announce(deps: SweepDeps, result: SweepResult) -> None:
    result.webhooks_announced = announce_overdue(
        deps.repository, deps.notifications, deps.grace_seconds, deps.limit
    )


def requeue_unfinished(
    repository: SweepRecords, storage: ImageStorage, queue: JobQueue, limit: int = 10_000
) -> int:
    """After the queue lost its messages (a local stack restarted from scratch), queue every
    unfinished prediction again. Safe to repeat: a finished row ignores its message."""
    unfinished = repository.unfinished(limit)
    for prediction in unfinished:
        queue.send(Job(prediction.id, storage.bucket, prediction.image_key))
    return len(unfinished)
