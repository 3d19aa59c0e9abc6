"""The worker's side of direct uploads (dogdetect.service.uploads): S3's notification says how
large the object is, so one that cannot be a photo ends ERROR before anything is read."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from dogdetect.domain.models import Job
from dogdetect.service.predict import PredictDeps, QueuedJob, process_batch

logger = logging.getLogger(__name__)


def size_refusal(job: Job, max_bytes: int) -> str | None:
    """Why the object S3 announced cannot be a photo (submit's words for the same), or None.
    A job without a size (one we queued) was checked by submit already."""
    if job.size is None:
        return None
    if job.size == 0:
        return "the upload is empty"
    if job.size > max_bytes:
        return f"the upload is larger than the limit of {max_bytes} bytes"
    return None


def process_jobs(jobs: Sequence[QueuedJob], deps: PredictDeps) -> list[QueuedJob]:
    """`process_batch`, after S3's word on the direct uploads' sizes; returns the jobs that
    failed (their messages go back to the queue)."""
    refused: dict[uuid.UUID, str] = {}
    for queued in jobs:
        reason = size_refusal(queued.job, deps.max_direct_upload_bytes)
        if reason is not None:
            refused[queued.job.prediction_id] = reason
            logger.info(
                "direct upload refused: %s",
                reason,
                extra={"correlation_id": str(queued.job.prediction_id)},
            )
    failed: list[QueuedJob] = []
    if refused:
        try:
            deps.repository.fail_many(refused)  # a finished prediction stays as it is
        except Exception:
            logger.exception("could not mark %d refused uploads ERROR", len(refused))
            failed = [q for q in jobs if q.job.prediction_id in refused]  # tried again
    rest = [q for q in jobs if q.job.prediction_id not in refused]
    return failed + (process_batch(rest, deps) if rest else [])
