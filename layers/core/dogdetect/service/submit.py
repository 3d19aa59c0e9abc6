"""Accept an upload: validate, record and store, queue. Nothing half-done survives a failure,
and an Idempotency-Key makes it happen at most once.

One flow, one undo order (docs/decisions.md):
1. Validate the photo and the webhook: a refusal stores nothing.
2. The PENDING row (holding the Idempotency-Key's digest in the same transaction, when one is
   given) and the S3 object are written at once: no worker sees either before the message.
   Whichever of the two was written is undone when the other failed, or when the key already
   named a prediction (the object is then nobody's).
3. The message, then the row marked enqueued. A message that could not be sent undoes the row
   and the object. The mark failing changes nothing: the message is out.
When an undo itself fails, the sweeper finds the row by its missing `enqueued_at` and either
queues it (object present) or removes it; an object without a row expires by the bucket's
lifecycle rule.

A later request with the same key within 24 hours: the same image gets the first answer
again (nothing stored or queued); another image is refused (422); the first not yet answered
is 409, retry. A failed first request (503) frees the key with its row."""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from dogdetect.domain.errors import (
    DependencyUnavailable,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    UploadTooLarge,
)
from dogdetect.domain.idempotency import KeyClaim, image_digest, key_digest, parse_key
from dogdetect.domain.limits import DEFAULT_DIRECT_UPLOAD_MAX_BYTES
from dogdetect.domain.listing import owner_digest
from dogdetect.domain.models import Job, Prediction, image_key_for
from dogdetect.domain.options import (
    DEFAULT_CONFIDENCE_FLOOR,
    PredictionOptions,
    parse_options,
    same_options,
)
from dogdetect.domain.ports import ImageStorage, JobQueue, SubmitRecords
from dogdetect.domain.webhooks.urls import validate_webhook_url
from dogdetect.image.decode import validate_upload

logger = logging.getLogger(__name__)

KEY_REUSED = "this Idempotency-Key was used with another image; use a new key for a new image"
KEY_REUSED_OPTIONS = (
    "this Idempotency-Key was used with other options ('confidence', 'classes'); use a new key"
    " for a new request"
)
KEY_IN_FLIGHT = "the first request with this Idempotency-Key has not been answered yet; retry"


@dataclass(frozen=True)
class SubmitDeps:
    repository: SubmitRecords
    storage: ImageStorage
    queue: JobQueue
    max_upload_bytes: int
    max_image_pixels: int
    # Runs the S3 put beside the row's insert: one per execution environment (the
    # composition root's), as Lambda serves one request at a time per environment.
    background: Executor
    allow_http_webhooks: bool = False  # ALLOW_HTTP_WEBHOOKS: `make local` only
    confidence_floor: float = DEFAULT_CONFIDENCE_FLOOR  # DOG_CONFIDENCE
    # What a 413 offers instead: POST /image_prediction/uploads's limit.
    direct_upload_max_bytes: int = DEFAULT_DIRECT_UPLOAD_MAX_BYTES


def too_large(max_bytes: int, direct_max_bytes: int) -> str:
    """Submit's 413: its limit, and how to send a larger photo."""
    return (
        f"the upload is larger than the limit of {max_bytes} bytes: send a photo of up to"
        f" {direct_max_bytes} bytes with POST /image_prediction/uploads (a presigned POST,"
        " straight to storage; see /docs)"
    )


def accept_upload(
    data: bytes,
    deps: SubmitDeps,
    *,
    idempotency_key: str | None = None,
    api_key: str | None = None,
    webhook_url: str | None = None,
    confidence: str | None = None,
    classes: str | None = None,
) -> Prediction:
    """The submit route's one call: the prediction made, or the one its key already names.
    `api_key`: the caller's when API keys are on (a key is scoped to it), else None.
    `webhook_url`, `confidence`, `classes`: the form's, if any."""
    claim = _claim(data, idempotency_key, api_key)  # a malformed key: 400 before all else
    if len(data) > deps.max_upload_bytes:
        raise UploadTooLarge(too_large(deps.max_upload_bytes, deps.direct_upload_max_bytes))
    options = parse_options(confidence, classes, deps.confidence_floor)
    validate_upload(data, deps.max_upload_bytes, deps.max_image_pixels)
    if webhook_url is not None:  # its name is resolved and checked at each delivery
        validate_webhook_url(webhook_url, deps.allow_http_webhooks)
    prediction_id = uuid.uuid4()
    key = image_key_for(prediction_id)
    put = deps.background.submit(deps.storage.put, key, data)
    try:
        owner = owner_digest(api_key)
        prediction, created = _add_row(prediction_id, key, claim, webhook_url, options, owner, deps)
    except Exception:
        _undo_put(put, key, deps)
        raise
    if not created:  # the key named a prediction already: this object is nobody's
        _undo_put(put, key, deps)
        return prediction
    try:
        put.result()
    except Exception:
        _undo("row", lambda: deps.repository.remove(prediction.id))
        raise
    _queue(prediction, deps)
    return prediction


def _claim(data: bytes, idempotency_key: str | None, api_key: str | None) -> KeyClaim | None:
    if idempotency_key is None:
        return None
    key = parse_key(idempotency_key)
    return KeyClaim(key_digest(key, api_key), image_digest(data))


def _add_row(
    prediction_id: uuid.UUID,
    key: str,
    claim: KeyClaim | None,
    webhook_url: str | None,
    options: PredictionOptions,
    owner: bytes | None,
    deps: SubmitDeps,
) -> tuple[Prediction, bool]:
    """The new PENDING row and True; or, when `claim`'s key already names a prediction (a
    repeat keeps the first request's webhook, as it keeps its prediction), that one and
    False, or the key's refusal (another photo, or other options)."""
    if claim is None:
        return deps.repository.add_pending(prediction_id, key, webhook_url, options, owner), True
    found = deps.repository.add_pending_once(
        prediction_id, key, claim, webhook_url, options=options, owner=owner
    )
    if found.created:
        return found.prediction, True
    if not hmac.compare_digest(found.image_sha256, claim.image_sha256):
        raise IdempotencyKeyReused(KEY_REUSED)
    if not same_options(found.prediction.options, options, deps.confidence_floor):
        raise IdempotencyKeyReused(KEY_REUSED_OPTIONS)
    if not found.enqueued:
        raise IdempotencyKeyInFlight(KEY_IN_FLIGHT)
    return found.prediction, False


def _queue(prediction: Prediction, deps: SubmitDeps) -> None:
    """Row and object stored: the message, then the enqueued mark; undone on a failure."""
    key = prediction.image_key
    try:
        deps.queue.send(Job(prediction.id, deps.storage.bucket, key))
    except DependencyUnavailable:
        _undo("row", lambda: deps.repository.remove(prediction.id))
        _undo("object", lambda: deps.storage.delete(key))
        raise
    # The message is out: the worker will process the row whatever happens here, so a
    # failure to note it must not turn an accepted upload into a 503.
    try:
        deps.repository.mark_enqueued(prediction.id)
    except DependencyUnavailable:
        logger.warning("enqueued mark deferred to the sweeper")


def _undo_put(put: Future[None], key: str, deps: SubmitDeps) -> None:
    """Delete the object the put stored, once it has; a storage that failed is not asked
    again (the client would wait a second timeout)."""
    if put.exception() is None:  # waits for the put
        _undo("object", lambda: deps.storage.delete(key))


def _undo(what: str, step: Callable[[], object]) -> None:
    try:
        step()
    except DependencyUnavailable:
        logger.warning("compensation deferred", extra={"left_behind": what})
