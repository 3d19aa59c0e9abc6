"""In-memory fakes of the ports (`dogdetect.ports`), passed to the services as parameters.

Each fake can simulate an outage: `fake.break_("put")` makes that operation raise
`DependencyUnavailable` (`fake.break_()` breaks every operation); `fake.raise_on(op, exc)`
makes it raise any other exception; `fake.repair()` undoes both.
Every call is recorded in `fake.calls` as (operation, argument) for ordering assertions.

`FakeRepository` follows the state machine of the PostgreSQL adapter
(`dogdetect.adapters.postgres`): start_processing from PENDING/PROCESSING only, finish from
PROCESSING only, fail from any non-terminal state; every change bumps `updated_at`. Like
PostgreSQL, it refuses text it could not store (`_refuse_unstorable`).
`tests/integration/test_repository_contract.py` runs the same checks on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from dogdetect.adapters.tables import DetectionRow
from dogdetect.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.models import Box, Detection, Job, Prediction, Status
from dogdetect.settings import Settings

ALL = "*"


class Switchable:
    dependency = "dependency"

    def __init__(self) -> None:
        self.broken: set[str] = set()
        self.faults: dict[str, Exception] = {}
        self.calls: list[tuple[str, object]] = []

    def break_(self, *operations: str) -> None:
        self.broken |= set(operations or (ALL,))

    def raise_on(self, operation: str, fault: Exception) -> None:
        """Make `operation` raise `fault` (a bug rather than an outage, say)."""
        self.faults[operation] = fault

    def repair(self) -> None:
        self.broken.clear()
        self.faults.clear()

    def _call(self, operation: str, argument: object = None) -> None:
        self.calls.append((operation, argument))
        if operation in self.faults:
            raise self.faults[operation]
        if ALL in self.broken or operation in self.broken:
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

    # -- port ---------------------------------------------------------------------------

    def add_pending(self, prediction_id: uuid.UUID, image_key: str) -> Prediction:
        self._call("add_pending", prediction_id)
        _refuse_unstorable([image_key])
        if prediction_id in self.rows:
            raise RuntimeError(f"duplicate primary key {prediction_id}")  # an IntegrityError
        now = self.clock()
        prediction = Prediction(prediction_id, Status.PENDING, image_key, now, now)
        self.rows[prediction_id] = Row(prediction)
        return prediction

    def mark_enqueued(self, prediction_id: uuid.UUID) -> None:
        self._call("mark_enqueued", prediction_id)
        row = self.rows.get(prediction_id)
        if row is not None:
            row.enqueued_at = self.clock()

    def delete(self, prediction_id: uuid.UUID) -> None:
        self._call("delete", prediction_id)
        self.rows.pop(prediction_id, None)

    def get(self, prediction_id: uuid.UUID) -> Prediction | None:
        self._call("get", prediction_id)
        row = self.rows.get(prediction_id)
        return row.prediction if row is not None else None

    def start_processing(self, prediction_id: uuid.UUID) -> bool:
        self._call("start_processing", prediction_id)
        return self._transition(prediction_id, _ACTIVE, status=Status.PROCESSING)

    def finish(
        self, prediction_id: uuid.UUID, has_dog: bool, detections: Sequence[Detection]
    ) -> bool:
        self._call("finish", prediction_id)
        row = self.rows.get(prediction_id)
        if row is not None and row.prediction.status is Status.PROCESSING:
            # Detections are written only when the row moves, in the same transaction.
            _refuse_unstorable([], [d.label for d in detections])
        return self._transition(
            prediction_id,
            (Status.PROCESSING,),
            status=Status.DONE,
            has_dog=has_dog,
            error=None,
            detections=tuple(detections),
        )

    def fail(self, prediction_id: uuid.UUID, reason: str) -> bool:
        self._call("fail", prediction_id)
        _refuse_unstorable([reason])
        return self._transition(prediction_id, _ACTIVE, status=Status.ERROR, error=reason)

    def unenqueued_before(self, seconds: int, limit: int) -> list[Prediction]:
        self._call("unenqueued_before", seconds)
        cutoff = self.clock() - timedelta(seconds=seconds)
        rows = sorted(
            (r for r in self.rows.values() if r.enqueued_at is None),
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
        )
        self.rows[pid] = Row(prediction, enqueued_at=now if enqueued else None)
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


def detection(label: str = "dog", confidence: float = 0.9) -> Detection:
    return Detection(label, confidence, Box(1.0, 2.0, 30.0, 20.0))


@dataclass
class FakeDetector:
    """Returns `canned` for every image; `fault` (if set) is raised instead."""

    canned: list[Detection] = field(default_factory=list)
    fault: Exception | None = None
    seen: list[np.ndarray] = field(default_factory=list)
    on_detect: Callable[[np.ndarray], None] | None = None

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
            results.append(list(self.canned))
        return results


@dataclass
class FakeAdapters:
    """Stands in for `dogdetect.wiring.Adapters` where a handler depends on all of them."""

    repository: FakeRepository = field(default_factory=FakeRepository)
    storage: FakeStorage = field(default_factory=FakeStorage)
    queue: FakeQueue = field(default_factory=FakeQueue)
    settings: Settings = field(default_factory=Settings)
