"""Direct uploads: the photo goes from the client straight to S3, never through the API.

1. `create_upload` (POST /image_prediction/uploads): a presigned POST for `incoming/<id>` (1 byte
   to the limit, valid for a while), then a PENDING row that awaits it (`upload_expires_at`).
   Signing calls nothing, so it comes first: a failed insert (503) leaves nothing behind.
2. S3's ObjectCreated notification on the jobs queue is the job (`dogdetect.domain.jobs`).
   The worker (`dogdetect.service.predict`) ends ERROR at once, unread, an object S3
   says is empty or over the limit, and decodes the others as submit validates its uploads.
3. The sweeper's `settle_overdue_uploads` (`dogdetect.service.sweep`): once the URL expired
   (and a grace for an upload still on its way), a row with no object ends ERROR "no upload
   received"; a row whose photo came is marked enqueued, as if we had queued it, so the
   stuck-row rule watches it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dogdetect.domain.errors import IdempotencyKeyReused
from dogdetect.domain.idempotency import KeyClaim, key_digest, parse_key
from dogdetect.domain.listing import owner_digest
from dogdetect.domain.models import Prediction, PresignedPost, image_key_for, incoming_key_for
from dogdetect.domain.options import DEFAULT_CONFIDENCE_FLOOR, parse_options, same_options
from dogdetect.domain.ports import SubmitRecords, UploadPresigner
from dogdetect.domain.webhooks.urls import validate_webhook_url

logger = logging.getLogger(__name__)

KEY_REUSED = (
    "this Idempotency-Key was used with another request (another webhook, other options, or"
    " the other route); use a new key for a new upload"
)
_REQUEST_LABEL = b"dogdetect.service.uploads-request\x00"


@dataclass(frozen=True)
class UploadDeps:
    repository: SubmitRecords
    presigner: UploadPresigner
    max_bytes: int
    expires_seconds: int
    allow_http_webhooks: bool = False  # ALLOW_HTTP_WEBHOOKS: `make local` only
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    confidence_floor: float = DEFAULT_CONFIDENCE_FLOOR  # DOG_CONFIDENCE


@dataclass(frozen=True)
class DirectUpload:
    prediction: Prediction
    post: PresignedPost


def create_upload(
    deps: UploadDeps,
    *,
    idempotency_key: str | None = None,
    api_key: str | None = None,
    webhook_url: str | None = None,
    confidence: str | None = None,
    classes: str | None = None,
) -> DirectUpload:
    """The upload route's one call. With an Idempotency-Key, as submit's: the same request
    (webhook and options) again within 24 hours gets the same prediction (and a POST for its
    photo, valid until the first one's expiry); another request with the key is refused
    (422)."""
    claim = _claim(idempotency_key, api_key, webhook_url)  # a malformed key: 400 first
    options = parse_options(confidence, classes, deps.confidence_floor)
    if webhook_url is not None:  # its name is resolved and checked at each delivery
        validate_webhook_url(webhook_url, deps.allow_http_webhooks)
    prediction_id = uuid.uuid4()
    key = image_key_for(prediction_id)  # where the worker puts the photo it accepts
    drop_box = incoming_key_for(prediction_id)
    post = deps.presigner.presign_post(drop_box, deps.max_bytes, deps.expires_seconds)
    owner = owner_digest(api_key)
    if claim is None:
        made = deps.repository.add_awaiting_upload(
            prediction_id, key, post.expires_at, webhook_url, options, owner=owner
        )
        return DirectUpload(made, post)
    found = deps.repository.add_pending_once(
        prediction_id,
        key,
        claim,
        webhook_url,
        upload_expires_at=post.expires_at,
        options=options,
        owner=owner,
    )
    if found.created:
        return DirectUpload(found.prediction, post)
    if not hmac.compare_digest(found.image_sha256, claim.image_sha256) or not same_options(
        found.prediction.options, options, deps.confidence_floor
    ):
        raise IdempotencyKeyReused(KEY_REUSED)
    return DirectUpload(found.prediction, _post_again(found.prediction, deps))


def _claim(key: str | None, api_key: str | None, webhook: str | None) -> KeyClaim | None:
    """The key's claim; what identifies the request is its webhook (the photo comes later)."""
    if key is None:
        return None
    request = hashlib.sha256(_REQUEST_LABEL + (webhook or "").encode()).digest()
    return KeyClaim(key_digest(parse_key(key), api_key), request)


def _post_again(prediction: Prediction, deps: UploadDeps) -> PresignedPost:
    """A POST for the prediction's photo, expiring when the first answer's did (its row was
    written right after that one was signed); at least a second, as S3 needs a future time."""
    expires = prediction.created_at.timestamp() + deps.expires_seconds
    remaining = int(expires - deps.clock().timestamp())
    drop_box = incoming_key_for(prediction.id)
    return deps.presigner.presign_post(drop_box, deps.max_bytes, max(remaining, 1))
