"""Accept an upload at most once per Idempotency-Key (`dogdetect.domain.idempotency`).

The first request with a key makes the prediction as `submit_image` does, holding the key in
the same transaction as the row, so of concurrent requests with one key exactly one makes it.
A later one within 24 hours: the same image gets the first answer again (nothing stored or
queued); another image is refused (422); the first one not yet answered is 409, retry. A
failed first request (503) frees the key with its row, so the retry makes the prediction."""

from __future__ import annotations

import hmac
import uuid

from dogdetect.domain.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
from dogdetect.domain.idempotency import KeyClaim, image_digest, key_digest, parse_key
from dogdetect.domain.models import Prediction, image_key_for
from dogdetect.image.decode import validate_upload
from dogdetect.service.submit import SubmitDeps, check_webhook, store_and_queue, submit_image

KEY_REUSED = "this Idempotency-Key was used with another image; use a new key for a new image"
KEY_IN_FLIGHT = "the first request with this Idempotency-Key has not been answered yet; retry"


def accept_upload(
    data: bytes,
    idempotency_key: str | None,
    api_key: str | None,
    deps: SubmitDeps,
    webhook_url: str | None = None,
) -> Prediction:
    """The submit route's one call. `api_key`: the caller's, when API keys are on (a key is
    scoped to it); None when they are off. `webhook_url`: the form's `webhook`, if any."""
    if idempotency_key is None:
        return submit_image(data, deps, webhook_url)
    return submit_once(data, parse_key(idempotency_key), api_key, deps, webhook_url)


def submit_once(
    data: bytes, key: str, api_key: str | None, deps: SubmitDeps, webhook_url: str | None = None
) -> Prediction:
    """A repeat keeps the first request's webhook (as it keeps its prediction)."""
    validate_upload(data, deps.max_upload_bytes, deps.max_image_pixels)
    check_webhook(webhook_url, deps)
    claim = KeyClaim(key_digest(key, api_key), image_digest(data))
    prediction_id = uuid.uuid4()
    found = deps.repository.add_pending_once(
        prediction_id, image_key_for(prediction_id), claim, webhook_url
    )
    if found.created:
        store_and_queue(found.prediction, data, deps)
        return found.prediction
    if not hmac.compare_digest(found.image_sha256, claim.image_sha256):
        raise IdempotencyKeyReused(KEY_REUSED)
    if not found.enqueued:
        raise IdempotencyKeyInFlight(KEY_IN_FLIGHT)
    return found.prediction
