"""In-memory fakes of the ports (`dogdetect.domain.ports`), passed to the services as parameters.

Each fake can simulate an outage: `fake.break_("put")` makes that operation raise
`DependencyUnavailable` (`fake.break_()` breaks every operation); `fake.raise_on(op, exc)`
makes it raise any other exception; `fake.repair()` undoes both.
Every call is recorded in `fake.calls` as (operation, argument) for ordering assertions.

`FakeRepository` follows the state machine of the PostgreSQL adapter
(`dogdetect.adapters.postgres`): start_processing_many from PENDING/PROCESSING only,
finish_many from PROCESSING only, fail(_many) from any non-terminal state; every change bumps
`updated_at`. Like PostgreSQL, it refuses text it could not store (`_refuse_unstorable`).
`tests/integration/test_repository_contract.py` runs the same checks on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from dogdetect.adapters.postgres.tables import DetectionRow
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.domain.idempotency import KeyClaim, KeyedPrediction
from dogdetect.domain.listing import Position
from dogdetect.domain.models import (
    Box,
    Detection,
    FinishedPrediction,
    Job,
    Prediction,
    PresignedPost,
    SlotHold,
    Status,
)
from dogdetect.domain.notifications import Notification
from dogdetect.domain.options import PredictionOptions
from dogdetect.service.sweep import SweepDeps

ALL = "*"


class Switchable:
    dependency = "dependency"

    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.faults: dict[str, Exception] = {}
        self.calls: list[tuple[str, object]] = []
        self.broken_for: list[tuple[str, object]] = []

    def break_for(self, operation: str, argument: object) -> None:
        """Make `operation` fail for this one argument (one S3 key, say) and no other."""
        self.broken_for.append((operation, argument))

    def break_(self, *operations: str) -> None:
        self.broken |= set(operations or (ALL,))

    def raise_on(self, operation: str, fault: Exception) -> None:
        """Make `operation` raise `fault` (a bug rather than an outage, say)."""
        self.faults[operation] = fault

    def repair(self) -> None:
        self.broken.clear()
        self.faults.clear()
        self.broken_for.clear()

    def _call(self, operation: str, argument: object = None) -> None:
        self.calls.append((operation, argument))
        if operation in self.faults:
            raise self.faults[operation]
        if ALL in self.broken or operation in self.broken:
            raise DependencyUnavailable(self.dependency)
        if (operation, argument) in self.broken_for:
            raise DependencyUnavailable(self.dependency)

    def operations(self) -> list[str]:
        return [op for op, _ in self.calls]


class Clock:
    """A settable clock for the repository's timestamps (sweeper grace periods)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Row:
    prediction: Prediction
    enqueued_at: datetime | None = None
    webhook_enqueued_at: datetime | None = None
    upload_expires_at: datetime | None = None  # a direct upload's presigned POST's
    owner: bytes | None = None  # the creating API key's digest (None: keys off)


@dataclass(frozen=True)
class HeldKey:
    image_sha256: bytes
    prediction_id: uuid.UUID
    created_at: datetime


_ACTIVE = (Status.PENDING, Status.PROCESSING)
LABEL_MAX_CHARS: int = DetectionRow.__table__.c.label.type.length  # VARCHAR(64)


def _refuse_unstorable(texts: Sequence[str], labels: Sequence[str] = ()) -> None:
    """Raise where PostgreSQL would (and the adapter lets its error through as a bug): a NUL
    character in any text, a detection label longer than its column."""
    if any("\x00" in t for t in [*texts, *labels]):
        raise ValueError('invalid byte sequence for encoding "UTF8": 0x00')
    if any(len(label) > LABEL_MAX_CHARS for label in labels):
        raise ValueError(f"value too long for type character varying({LABEL_MAX_CHARS})")


class FakeRepository(Switchable):
    dependency = "database"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock = clock or Clock()
        self.rows: dict[uuid.UUID, Row] = {}
        self.locks: set[str] = set()  # names held through `exclusive`
        self.keys: dict[bytes, HeldKey] = {}  # idempotency keys by digest

    # -- port ---------------------------------------------------------------------------

    def add_pending(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        webhook_url: str | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> Prediction:
        self._call("add_pending", prediction_id)
        _refuse_unstorable([image_key, webhook_url or ""])
        return self._add(prediction_id, image_key, webhook_url, options, owner)

    def add_awaiting_upload(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        upload_expires_at: datetime,
        webhook_url: str | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> Prediction:
        self._call("add_awaiting_upload", prediction_id)
        _refuse_unstorable([image_key, webhook_url or ""])
        made = self._add(prediction_id, image_key, webhook_url, options, owner)
        self.rows[prediction_id].upload_expires_at = upload_expires_at
        return made

    def uploads_overdue(self, grace_seconds: int, limit: int) -> list[Prediction]:
        self._call("uploads_overdue", grace_seconds)
        cutoff = self.clock() - timedelta(seconds=grace_seconds)
        overdue = sorted(
            (
                r
                for r in self.rows.values()
                if r.upload_expires_at is not None
                and r.upload_expires_at < cutoff
                and r.enqueued_at is None
            ),
            key=lambda r: r.upload_expires_at or cutoff,
        )
        return [r.prediction for r in overdue][:limit]

    def mark_enqueued(self, prediction_id: uuid.UUID) -> None:
        self._call("mark_enqueued", prediction_id)
        row = self.rows.get(prediction_id)
        if row is not None:
            row.enqueued_at = self.clock()

    def remove(self, prediction_id: uuid.UUID) -> str | None:
        self._call("remove", prediction_id)
        row = self._remove(prediction_id)
        return row.prediction.image_key if row is not None else None

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
        self._call("add_pending_once", prediction_id)
        held = self.keys.get(claim.key_digest)
        if held is not None and held.created_at > self.clock() - timedelta(
            seconds=claim.ttl_seconds
        ):
            row = self.rows[held.prediction_id]  # a key goes with its row (_remove)
            enqueued = row.enqueued_at is not None
            return KeyedPrediction(row.prediction, held.image_sha256, False, enqueued)
        _refuse_unstorable([image_key, webhook_url or ""])
        made = self._add(prediction_id, image_key, webhook_url, options, owner)
        self.rows[prediction_id].upload_expires_at = upload_expires_at
        self.keys[claim.key_digest] = HeldKey(claim.image_sha256, prediction_id, self.clock())
        return KeyedPrediction(made, claim.image_sha256, created=True, enqueued=False)

    def delete_expired_keys(self, older_than_seconds: int, limit: int) -> int:
        self._call("delete_expired_keys", older_than_seconds)
        cutoff = self.clock() - timedelta(seconds=older_than_seconds)
        expired = sorted(
            (k for k, held in self.keys.items() if held.created_at < cutoff),
            key=lambda k: self.keys[k].created_at,
        )[:limit]
        for digest in expired:
            del self.keys[digest]
        return len(expired)

    def page(
        self,
        owner: bytes | None,
        status: Status | None,
        after: Position | None,
        limit: int,
    ) -> list[Prediction]:
        self._call("page", owner)
        newest_first = sorted(
            (
                r.prediction
                for r in self.rows.values()
                if (owner is None or r.owner == owner)
                and (status is None or r.prediction.status is status)
                and (
                    after is None
                    or (r.prediction.created_at, r.prediction.id) < (after.created_at, after.id)
                )
            ),
            key=lambda p: (p.created_at, p.id),
            reverse=True,
        )
        return newest_first[:limit]

    def get(self, prediction_id: uuid.UUID) -> Prediction | None:
        self._call("get", prediction_id)
        row = self.rows.get(prediction_id)
        return row.prediction if row is not None else None

    def fail(self, prediction_id: uuid.UUID, reason: str) -> bool:
        self._call("fail", prediction_id)
        _refuse_unstorable([reason])
        return self._transition(prediction_id, _ACTIVE, status=Status.ERROR, error=reason)

    def start_processing_many(
        self, prediction_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, PredictionOptions | None]:
        self._call("start_processing_many", sorted(prediction_ids))
        return {
            pid: self.rows[pid].prediction.options
            for pid in set(prediction_ids)
            if self._transition(pid, _ACTIVE, status=Status.PROCESSING)
        }

    def finish_many(self, results: Sequence[FinishedPrediction]) -> set[uuid.UUID]:
        self._call("finish_many", [r.prediction_id for r in results])
        first: dict[uuid.UUID, FinishedPrediction] = {}
        for r in results:
            first.setdefault(r.prediction_id, r)
        moving = [r for r in first.values() if self.status_of(r.prediction_id) is Status.PROCESSING]
        # One transaction: refused before any row moves.
        _refuse_unstorable([], [d.label for r in moving for d in r.detections])
        for r in moving:
            self._transition(
                r.prediction_id,
                (Status.PROCESSING,),
                status=Status.DONE,
                has_dog=r.has_dog,
                error=None,
                detections=tuple(r.detections),
            )
        return {r.prediction_id for r in moving}

    def fail_many(self, reasons: Mapping[uuid.UUID, str]) -> set[uuid.UUID]:
        self._call("fail_many", sorted(reasons))
        _refuse_unstorable(list(reasons.values()))
        return {
            pid
            for pid, reason in reasons.items()
            if self._transition(pid, _ACTIVE, status=Status.ERROR, error=reason)
        }

    def unenqueued_before(self, seconds: int, limit: int) -> list[Prediction]:
        self._call("unenqueued_before", seconds)
        cutoff = self.clock() - timedelta(seconds=seconds)
        rows = sorted(
            # a direct upload is queued by S3's notification: uploads_overdue's, not this
            (r for r in self.rows.values() if r.enqueued_at is None and not r.upload_expires_at),
            key=lambda r: r.prediction.created_at,
        )
        return [r.prediction for r in rows if r.prediction.created_at < cutoff][:limit]

    def unfinished(self, limit: int) -> list[Prediction]:
        self._call("unfinished", limit)
        rows = sorted(
            (
                r
                for r in self.rows.values()
                if r.enqueued_at is not None and not r.prediction.status.is_terminal
            ),
            key=lambda r: r.prediction.created_at,
        )
        return [r.prediction for r in rows][:limit]

    def ping(self) -> None:
        self._call("ping")

    def fail_stuck(self, older_than_seconds: int, reason: str, limit: int) -> int:
        self._call("fail_stuck", older_than_seconds)
        cutoff = self.clock() - timedelta(seconds=older_than_seconds)
        stuck = sorted(
            (
                r
                for r in self.rows.values()
                if r.prediction.status in _ACTIVE
                and r.enqueued_at is not None
                and r.enqueued_at < cutoff
                and r.prediction.updated_at < cutoff
            ),
            key=lambda r: r.prediction.updated_at,
        )[:limit]
        for r in stuck:
            self._transition(r.prediction.id, _ACTIVE, status=Status.ERROR, error=reason)
        return len(stuck)

    def webhooks_due(self, prediction_ids: Collection[uuid.UUID]) -> list[Prediction]:
        self._call("webhooks_due", sorted(prediction_ids))
        wanted = set(prediction_ids)
        return [r.prediction for r in self._unannounced() if r.prediction.id in wanted]

    def webhooks_overdue(self, older_than_seconds: int, limit: int) -> list[Prediction]:
        self._call("webhooks_overdue", older_than_seconds)
        cutoff = self.clock() - timedelta(seconds=older_than_seconds)
        rows = sorted(
            (r for r in self._unannounced() if r.prediction.updated_at < cutoff),
            key=lambda r: r.prediction.updated_at,
        )
        return [r.prediction for r in rows][:limit]

    def mark_webhooks_enqueued(self, prediction_ids: Collection[uuid.UUID]) -> None:
        self._call("mark_webhooks_enqueued", sorted(prediction_ids))
        for pid in prediction_ids:
            if pid in self.rows:
                self.rows[pid].webhook_enqueued_at = self.clock()

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """As the adapter's advisory lock: False while another holder (`locks`) has it."""
        self._call("exclusive", name)
        if name in self.locks:
            yield False
            return
        self.locks.add(name)
        try:
            yield True
        finally:
            self.locks.discard(name)

    # -- test helpers -------------------------------------------------------------------

    def _add(
        self,
        prediction_id: uuid.UUID,
        image_key: str,
        webhook_url: str | None = None,
        options: PredictionOptions | None = None,
        owner: bytes | None = None,
    ) -> Prediction:
        if prediction_id in self.rows:
            raise RuntimeError(f"duplicate primary key {prediction_id}")  # an IntegrityError
        now = self.clock()
        prediction = Prediction(
            prediction_id,
            Status.PENDING,
            image_key,
            now,
            now,
            webhook_url=webhook_url,
            options=options,
        )
        self.rows[prediction_id] = Row(prediction, owner=owner)
        return prediction

    def _remove(self, prediction_id: uuid.UUID) -> Row | None:
        """The row goes, and its idempotency keys with it (the foreign key's cascade)."""
        for digest in [k for k, held in self.keys.items() if held.prediction_id == prediction_id]:
            del self.keys[digest]
        return self.rows.pop(prediction_id, None)

    def _unannounced(self) -> list[Row]:
        return [
            r
            for r in self.rows.values()
            if r.prediction.webhook_url is not None
            and r.webhook_enqueued_at is None
            and r.prediction.status.is_terminal
        ]

    def _transition(
        self, prediction_id: uuid.UUID, allowed: tuple[Status, ...], **values: Any
    ) -> bool:
        row = self.rows.get(prediction_id)
        if row is None or row.prediction.status not in allowed:
            return False
        row.prediction = replace(row.prediction, updated_at=self.clock(), **values)
        return True

    def seed(
        self,
        status: Status = Status.PENDING,
        *,
        prediction_id: uuid.UUID | None = None,
        image_key: str | None = None,
        enqueued: bool = True,
        has_dog: bool | None = None,
        detections: Sequence[Detection] = (),
        error: str | None = None,
        webhook_url: str | None = None,
        webhook_enqueued: bool = False,
        options: PredictionOptions | None = None,
    ) -> Prediction:
        """Put a row in directly (no call recorded, no outage applies)."""
        pid = prediction_id or uuid.uuid4()
        now = self.clock()
        prediction = Prediction(
            pid,
            status,
            image_key or f"uploads/{pid}",
            now,
            now,
            has_dog=has_dog,
            error=error,
            detections=tuple(detections),
            webhook_url=webhook_url,
            options=options,
        )
        self.rows[pid] = Row(
            prediction,
            enqueued_at=now if enqueued else None,
            webhook_enqueued_at=now if webhook_enqueued else None,
        )
        return prediction

    def status_of(self, prediction_id: uuid.UUID) -> Status | None:
        row = self.rows.get(prediction_id)
        return row.prediction.status if row is not None else None


class FakeStorage(Switchable):
    dependency = "storage"

    def __init__(self, bucket: str = "test-bucket") -> None:
        super().__init__()
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self._call("put", key)
        self.objects[key] = bytes(data)

    def put_new(self, key: str, data: bytes) -> bool:
        self._call("put_new", key)
        if key in self.objects:
            return False
        self.objects[key] = bytes(data)
        return True

    def get(self, key: str) -> bytes:
        self._call("get", key)
        if key not in self.objects:
            raise StoredImageMissing("the queued image is not in the bucket")
        return self.objects[key]

    def delete(self, key: str) -> None:
        self._call("delete", key)
        self.objects.pop(key, None)

    def exists(self, key: str) -> bool:
        self._call("exists", key)
        return key in self.objects

    def ping(self) -> None:
        self._call("ping")


class FakeQueue(Switchable):
    dependency = "queue"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Job] = []

    def send(self, job: Job) -> None:
        self._call("send", job)
        self.sent.append(job)

    def ping(self) -> None:
        self._call("ping")


class FakePresigner(Switchable):
    """Signs nothing: a POST to a fake URL whose policy expires `expires_seconds` after the
    clock's now, as S3PostPresigner's (whole seconds)."""

    dependency = "storage"

    def __init__(self, clock: Clock | None = None, bucket: str = "test-bucket") -> None:
        super().__init__()
        self.clock = clock or Clock()
        self.bucket = bucket
        self.signed: list[tuple[str, int, int]] = []  # (key, max bytes, seconds)

    def presign_post(self, key: str, max_bytes: int, expires_seconds: int) -> PresignedPost:
        self._call("presign_post", key)
        self.signed.append((key, max_bytes, expires_seconds))
        expires_at = (self.clock() + timedelta(seconds=expires_seconds)).replace(microsecond=0)
        fields = {"key": key, "policy": f"fake policy for {key}", "x-amz-signature": "0" * 64}
        return PresignedPost(f"https://{self.bucket}.s3.example/", fields, expires_at)


class FakeNotificationQueue(Switchable):
    dependency = "notifications queue"

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[Notification] = []
        self.postponed: list[tuple[str, int]] = []  # (receipt handle, seconds)

    def send(self, notification: Notification) -> None:
        self._call("send", notification)
        self.sent.append(notification)

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        self._call("postpone", receipt_handle)
        self.postponed.append((receipt_handle, seconds))


def detection(label: str = "dog", confidence: float = 0.9) -> Detection:
    return Detection(label, confidence, Box(1.0, 2.0, 30.0, 20.0))


@dataclass
class FakeDetector:
    """Returns `canned` for every image (or what `answer` makes of it); `fault` (if set) is
    raised instead."""

    canned: list[Detection] = field(default_factory=list)
    fault: Exception | None = None
    seen: list[np.ndarray] = field(default_factory=list)
    on_detect: Callable[[np.ndarray], None] | None = None
    answer: Callable[[np.ndarray], list[Detection]] | None = None
    input_size: int = 640

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        if self.fault is not None:
            raise self.fault
        results = []
        for image in images:
            assert isinstance(image, np.ndarray)
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            self.seen.append(image)
            if self.on_detect is not None:
                self.on_detect(image)
            results.append(self.answer(image) if self.answer else list(self.canned))
        return results


class FakeSlots(Switchable):
    """The service's waits in memory: claims by client, none lapsing (tests release them)."""

    dependency = "database"

    def __init__(self) -> None:
        super().__init__()
        self.held: dict[uuid.UUID, str] = {}  # claim -> client
        self.released: list[uuid.UUID] = []

    def hold(self, client: str, seconds: float, per_client: int, total: int) -> SlotHold:
        self._call("hold", client)
        if sum(1 for c in self.held.values() if c == client) >= per_client:
            return SlotHold(None, "client")
        if len(self.held) >= total:
            return SlotHold(None, "service")
        hold_id = uuid.uuid4()
        self.held[hold_id] = client
        return SlotHold(hold_id, None)

    def release(self, hold_id: uuid.UUID) -> None:
        self._call("release", hold_id)
        self.held.pop(hold_id, None)
        self.released.append(hold_id)


# Submit's S3 put runs beside its row's insert, on a pool the composition root owns.
BACKGROUND = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-background")


@dataclass
class FakeAdapters:
    """Stands in for `runtime.composition.Adapters` where a handler depends on all of them."""

    repository: FakeRepository = field(default_factory=FakeRepository)
    storage: FakeStorage = field(default_factory=FakeStorage)
    queue: FakeQueue = field(default_factory=FakeQueue)
    notifications: FakeNotificationQueue = field(default_factory=FakeNotificationQueue)
    settings: Settings = field(default_factory=Settings)
    background: ThreadPoolExecutor = field(default_factory=lambda: BACKGROUND)
    waits: FakeSlots = field(default_factory=FakeSlots)
    drawings: FakeSlots = field(default_factory=FakeSlots)


def sweep_deps_for(
    repository: Any,
    storage: Any,
    queue: Any = None,
    notifications: Any = None,
    *,
    grace_seconds: int = 60,
    stuck_after_seconds: int = 7200,
    upload_grace_seconds: int = 300,
    limit: int = 100,
) -> SweepDeps:
    """The sweep's dependencies on the given adapters (fakes unless given real ones)."""
    return SweepDeps(
        repository=repository,
        storage=storage,
        queue=queue if queue is not None else FakeQueue(),
        notifications=notifications if notifications is not None else FakeNotificationQueue(),
        grace_seconds=grace_seconds,
        stuck_after_seconds=stuck_after_seconds,
        upload_grace_seconds=upload_grace_seconds,
        limit=limit,
    )
