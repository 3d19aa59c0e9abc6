"""Ports: what the domain needs from the outside world. Adapters implement them."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from dogdetect.domain.models import (
    Detection,
    FinishedPrediction,
    Job,
    Prediction,
    PresignedPost,
    SlotHold,
    Status,
)

if TYPE_CHECKING:
    from dogdetect.domain.idempotency import KeyClaim, KeyedPrediction
    from dogdetect.domain.listing import Position
    from dogdetect.domain.notifications import DeliveryAttempt, Notification
    from dogdetect.domain.options import PredictionOptions


class PredictionReader(Protocol):
    """Reading a prediction (GET, Prefer: wait, the annotated photo)."""

    def get(self, prediction_id: uuid.UUID) -> Prediction | None: ...


class PredictionLister(Protocol):
    """Past predictions, newest first (GET /image_prediction)."""

    def page(
        self,
        owner: bytes | None,
        status: Status | None,
        after: Position | None,
        limit: int,
    ) -> list[Prediction]:
        """At most `limit` predictions of `owner` (None: everyone's, owned or not), of
        `status` when given, older than `after` when given, by created_at then id, both
        descending. Its cost is bounded by `limit`, however many rows there are."""
        ...


class PredictionRemover(Protocol):
    """DELETE, and a submit's undo."""

    def remove(self, prediction_id: uuid.UUID) -> str | None:
        """Delete the row (its detections and idempotency keys cascade); its image key, None
        when there was no such row."""
        ...


class SubmitRecords(PredictionRemover, Protocol):
    """What accepting an upload writes: the PENDING row (once per Idempotency-Key when one
    is given), then the mark that its message is out; `remove` undoes a failed one."""

    def add_pending(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        webhook_url: str | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> Prediction:
        """`owner`: the digest of the creating API key (`domain.listing.owner_digest`)."""
        ...

    def add_pending_once(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        claim: KeyClaim,
        webhook_url: str | None = None,
        upload_expires_at: datetime | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> KeyedPrediction:
        """`add_pending` (or, with `upload_expires_at`, `add_awaiting_upload`) holding
        `claim.key_digest`, unless that key already names a prediction made less than
        `claim.ttl_seconds` ago: then that one, unchanged. Of concurrent calls with one key,
        exactly one makes a prediction."""
        ...

    def mark_enqueued(self, prediction_id: uuid.UUID) -> None: ...
    def add_awaiting_upload(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        upload_expires_at: datetime,
        webhook_url: str | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> Prediction:
        """A PENDING row whose photo the client sends straight to the bucket, until
        `upload_expires_at`; S3's notification, not a message of ours, queues it. Until the
        sweeper settles it (`uploads_overdue`) it is not `unenqueued_before`'s."""
        ...


class Announcements(Protocol):
    """Finished predictions whose webhook is still to be put in the notifications queue."""

    def webhooks_due(self, prediction_ids: Collection[uuid.UUID]) -> list[Prediction]:
        """Those of the ids that are DONE or ERROR with a webhook not yet announced."""
        ...

    def webhooks_overdue(self, older_than_seconds: int, limit: int) -> list[Prediction]:
        """Rows DONE or ERROR, unchanged for `older_than_seconds`, whose webhook was never
        announced (the finishing code did not get to it), the longest unchanged first."""
        ...

    def mark_webhooks_enqueued(self, prediction_ids: Collection[uuid.UUID]) -> None:
        """Note that their notifications are in the queue (`webhook_enqueued_at`)."""
        ...


class FailureRecords(Protocol):
    def fail(self, prediction_id: uuid.UUID, reason: str) -> bool:
        """Any non-terminal state -> ERROR; False when already finished."""
        ...


class WorkRecords(Announcements, FailureRecords, Protocol):
    """The worker's writes, a batch at a time (predict)."""

    def start_processing_many(
        self, prediction_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, PredictionOptions | None]:
        """PENDING/PROCESSING -> PROCESSING, in one statement; the ids now PROCESSING (finished
        or missing rows are left out), each with the options its request asked."""
        ...

    def finish_many(self, results: Sequence[FinishedPrediction]) -> set[uuid.UUID]:
        """PROCESSING -> DONE with each one's detections, in one transaction (all or nothing);
        the ids that became DONE (rows no longer PROCESSING are left as they are, with no
        detection added)."""
        ...

    def fail_many(self, reasons: Mapping[uuid.UUID, str]) -> set[uuid.UUID]:
        """`fail` of each id with its reason, in one statement; the ids that became ERROR."""
        ...


class DeadLetterRecords(Announcements, FailureRecords, PredictionReader, Protocol):
    """The dead-letter consumer: give up on a prediction, or see why it need not."""


class SweepRecords(Announcements, FailureRecords, PredictionRemover, Protocol):
    """The scheduled sweep's reads and repairs, one sweep at a time (`exclusive`)."""

    def exclusive(self, name: str) -> AbstractContextManager[bool]:
        """Hold the lock `name` for the block; the block gets False (and holds nothing) when
        another holder, in any process, has it."""
        ...

    def unenqueued_before(self, seconds: int, limit: int) -> list[Prediction]: ...
    def mark_enqueued(self, prediction_id: uuid.UUID) -> None: ...
    def fail_stuck(self, older_than_seconds: int, reason: str, limit: int) -> int:
        """PENDING/PROCESSING rows whose message was sent and that have not changed for
        `older_than_seconds` -> ERROR with `reason`, at most `limit` of them (the longest
        unchanged first), in one conditional UPDATE; returns how many."""
        ...

    def uploads_overdue(self, grace_seconds: int, limit: int) -> list[Prediction]:
        """Rows of direct uploads whose URL expired more than `grace_seconds` ago and that the
        sweeper has not settled yet (`mark_enqueued` settles one), whatever their status, the
        longest expired first."""
        ...

    def delete_expired_keys(self, older_than_seconds: int, limit: int) -> int:
        """Delete at most `limit` idempotency keys older than `older_than_seconds`, the
        oldest first; how many."""
        ...

    def unfinished(self, limit: int) -> list[Prediction]:
        """PENDING or PROCESSING rows whose message was sent, oldest first."""
        ...


class ImageStorage(Protocol):
    bucket: str

    def put(self, key: str, data: bytes) -> None: ...
    def put_new(self, key: str, data: bytes) -> bool:
        """Store `data` at `key` unless something is there already (then False, unchanged)."""
        ...

    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def ping(self) -> None: ...


class Slots(Protocol):
    """Claims on one pool of bounded work (the requests held by `Prefer: wait`; the annotated
    photos being drawn), counted across every execution environment."""

    def hold(self, client: str, seconds: float, per_client: int, total: int) -> SlotHold:
        """A claim for `seconds` (lapsing then, whatever becomes of the caller), unless
        `client` holds `per_client` already, or all hold `total`."""
        ...

    def release(self, hold_id: uuid.UUID) -> None: ...


class UploadPresigner(Protocol):
    def presign_post(self, key: str, max_bytes: int, expires_seconds: int) -> PresignedPost:
        """A POST the client may make once or more, for `expires_seconds`, of 1 to
        `max_bytes` bytes, to `key` of the bucket and nowhere else. Signing only: no call."""
        ...


class JobQueue(Protocol):
    def send(self, job: Job) -> None: ...
    def ping(self) -> None: ...


class NotificationQueue(Protocol):
    def send(self, notification: Notification) -> None: ...
    def postpone(self, receipt_handle: str, seconds: int) -> None:
        """Keep a received message hidden for `seconds` more: its next try's backoff."""
        ...


class WebhookSender(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryAttempt:
        """One POST of `body` to `url`; never raises for what the URL's server does."""
        ...


class Detector(Protocol):
    input_size: int  # the model's square input side: images need no more pixels than this

    def detect(self, images: Sequence[Any]) -> list[list[Detection]]:
        """Detections for each image, an RGB HxWx3 uint8 numpy array (typed Any: the domain
        imports no numpy), in order."""
        ...
