"""After the queue lost its messages (a local stack restarted from scratch), queue every
unfinished prediction again. Safe to repeat: a finished row ignores its message."""

from __future__ import annotations

from dogdetect.domain.models import Job
from dogdetect.domain.ports import ImageStorage, JobQueue, PredictionRepository


def requeue_unfinished(
    repository: PredictionRepository, storage: ImageStorage, queue: JobQueue, limit: int = 10_000
) -> int:
    unfinished = repository.unfinished(limit)
    for prediction in unfinished:
        queue.send(Job(prediction.id, storage.bucket, prediction.image_key))
    return len(unfinished)
