"""Accept an upload: validate, store, record, queue. Nothing half-done survives a failure.

Order: row (PENDING, not yet enqueued) and S3 object at once -> SQS message -> row marked
enqueued. No worker sees the row or the object before the message, so the two may be written
together (one round trip saved on every upload). A failure after either exists is compensated
(row and object deleted) before the 503; if the compensation itself cannot run, the sweeper
finds the row by its missing `enqueued_at` and either queues it (object present) or deletes
it, and an object without a row expires by the bucket's lifecycle rule. See docs/decisions.md.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.models import Job, Prediction, image_key_for
from dogdetect.domain.ports import ImageStorage, JobQueue, PredictionRepository
from dogdetect.domain.webhooks.urls import validate_webhook_url
from dogdetect.image.decode import validate_upload

logger = logging.getLogger(__name__)
# Runs an upload's S3 put beside its row's insert. Lambda serves one request at a time per
# environment; the local stack and tests may run a few in one process.
_PUTS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="submit-put")


@dataclass(frozen=True)
class SubmitDeps:
    repository: PredictionRepository
    storage: ImageStorage
    queue: JobQueue
    max_upload_bytes: int
    max_image_pixels: int
    allow_http_webhooks: bool = False  # ALLOW_HTTP_WEBHOOKS: `make local` only
    background: Executor = _PUTS


def submit_image(data: bytes, deps: SubmitDeps, webhook_url: str | None = None) -> Prediction:
    validate_upload(data, deps.max_upload_bytes, deps.max_image_pixels)
    check_webhook(webhook_url, deps)
    prediction_id = uuid.uuid4()
    key = image_key_for(prediction_id)
    prediction = _record_and_store(
        lambda: deps.repository.add_pending(prediction_id, key, webhook_url), key, data, deps
    )
    queue_stored(prediction, deps)
    return prediction


def _record_and_store(
    add_row: Callable[[], Prediction], key: str, data: bytes, deps: SubmitDeps
) -> Prediction:
    """The row and the object at once (the put in a thread of `deps.background`). When one
    fails, what the other stored is undone; a storage that failed is not asked again."""
    put = deps.background.submit(deps.storage.put, key, data)
    try:
        prediction = add_row()
    except Exception:
        if put.exception() is None:  # waits for the put
            _undo("object", lambda: deps.storage.delete(key))
        raise
    try:
        put.result()
    except Exception:
        _undo("row", lambda: deps.repository.delete(prediction.id))
        raise
    return prediction


def check_webhook(webhook_url: str | None, deps: SubmitDeps) -> None:
    """A `webhook` the prediction may be announced to, or `InvalidWebhook` (422) before
    anything is stored. Its name is resolved and checked at each delivery, not here."""
    if webhook_url is not None:
        validate_webhook_url(webhook_url, deps.allow_http_webhooks)


def store_and_queue(prediction: Prediction, data: bytes, deps: SubmitDeps) -> None:
    """The steps after the row: object, message, enqueued mark; undone on a failure."""
    try:
        deps.storage.put(prediction.image_key, data)
    except DependencyUnavailable:
        _compensate(prediction.id, prediction.image_key, deps, stored=False)
        raise
    queue_stored(prediction, deps)


def queue_stored(prediction: Prediction, deps: SubmitDeps) -> None:
    """Row and object stored: the message, then the enqueued mark; undone on a failure."""
    key = prediction.image_key
    try:
        deps.queue.send(Job(prediction.id, deps.storage.bucket, key))
    except DependencyUnavailable:
        _compensate(prediction.id, key, deps, stored=True)
        raise
    _mark_enqueued(prediction.id, deps)


def _compensate(prediction_id: uuid.UUID, key: str, deps: SubmitDeps, stored: bool) -> None:
    """Undo what the failed submit stored. A row left behind is deleted by the sweeper once
    its object is gone; an object left behind expires by the bucket's lifecycle rule. When the
    storage itself failed, it is not asked again: the client would wait a second timeout."""
    _undo("row", lambda: deps.repository.delete(prediction_id))
    if stored:
        _undo("object", lambda: deps.storage.delete(key))


def _undo(what: str, step: Callable[[], None]) -> None:
    try:
        step()
    except DependencyUnavailable:
        logger.warning("compensation deferred", extra={"left_behind": what})


def _mark_enqueued(prediction_id: uuid.UUID, deps: SubmitDeps) -> None:
    # The message is out: the worker will process the row whatever happens here, so a
    # failure to note it must not turn an accepted upload into a 503.
    try:
        deps.repository.mark_enqueued(prediction_id)
    except DependencyUnavailable:
        logger.warning("enqueued mark deferred to the sweeper")
