"""Accept an upload: validate, store, record, queue. Nothing half-done survives a failure.

Order: row (PENDING, not yet enqueued) -> S3 object -> SQS message -> row marked enqueued.
A failure after the row exists is compensated (row and object deleted) before the 503; if the
compensation itself cannot run, the sweeper finds the row by its missing `enqueued_at` and
either queues it (object present) or deletes it. See docs/decisions.md.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dogdetect.errors import DependencyUnavailable
from dogdetect.imaging import validate_upload
from dogdetect.models import Job, Prediction, image_key_for
from dogdetect.ports import ImageStorage, JobQueue, PredictionRepository

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmitDeps:
    repository: PredictionRepository
    storage: ImageStorage
    queue: JobQueue
    max_upload_bytes: int
    max_image_pixels: int


def submit_image(data: bytes, deps: SubmitDeps) -> Prediction:
    validate_upload(data, deps.max_upload_bytes, deps.max_image_pixels)
    prediction_id = uuid.uuid4()
    key = image_key_for(prediction_id)
    prediction = deps.repository.add_pending(prediction_id, key)
    stored = False
    try:
        deps.storage.put(key, data)
        stored = True
        deps.queue.send(Job(prediction_id, deps.storage.bucket, key))
    except DependencyUnavailable:
        _compensate(prediction_id, key, deps, stored)
        raise
    _mark_enqueued(prediction_id, deps)
    return prediction


def _compensate(prediction_id: uuid.UUID, key: str, deps: SubmitDeps, stored: bool) -> None:
    """Undo what the failed submit stored. A row left behind is deleted by the sweeper once
    its object is gone; an object left behind expires by the bucket's lifecycle rule. When the
    storage itself failed, it is not asked again: the client would wait a second timeout."""
    undo_steps: list[tuple[str, Callable[[], None]]] = [
        ("row", lambda: deps.repository.delete(prediction_id)),
    ]
    if stored:
        undo_steps.append(("object", lambda: deps.storage.delete(key)))
    for what, undo in undo_steps:
        try:
            undo()
        except DependencyUnavailable:
            logger.warning("compensation deferred", extra={"left_behind": what})


def _mark_enqueued(prediction_id: uuid.UUID, deps: SubmitDeps) -> None:
    # The message is out: the worker will process the row whatever happens here, so a
    # failure to note it must not turn an accepted upload into a 503.
    try:
        deps.repository.mark_enqueued(prediction_id)
    except DependencyUnavailable:
        logger.warning("enqueued mark deferred to the sweeper")
