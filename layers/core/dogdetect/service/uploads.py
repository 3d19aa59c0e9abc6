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

import logging
import uuid
from dataclasses import dataclass

from dogdetect.domain.models import Prediction, PresignedPost, incoming_key_for
from dogdetect.domain.ports import SubmitRecords, UploadPresigner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UploadDeps:
    repository: SubmitRecords
    presigner: UploadPresigner
    max_bytes: int
    expires_seconds: int


@dataclass(frozen=True)
class DirectUpload:
    prediction: Prediction
    post: PresignedPost


def create_upload(deps: UploadDeps) -> DirectUpload:
    prediction_id = uuid.uuid4()
    key = incoming_key_for(prediction_id)
    post = deps.presigner.presign_post(key, deps.max_bytes, deps.expires_seconds)
    prediction = deps.repository.add_awaiting_upload(prediction_id, key, post.expires_at)
    return DirectUpload(prediction, post)
