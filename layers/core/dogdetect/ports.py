"""Ports: what the domain needs from the outside world. Adapters implement them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from dogdetect.models import Detection, Job, Prediction

if TYPE_CHECKING:
    import numpy as np


class PredictionRepository(Protocol):
    def add_pending(self, prediction_id: uuid.UUID, image_key: str) -> Prediction: ...
    def mark_enqueued(self, prediction_id: uuid.UUID) -> None: ...
    def delete(self, prediction_id: uuid.UUID) -> None: ...
    def get(self, prediction_id: uuid.UUID) -> Prediction | None: ...
    def start_processing(self, prediction_id: uuid.UUID) -> bool:
        """PENDING/PROCESSING -> PROCESSING; False when the row is finished or missing."""
        ...

    def finish(
        self, prediction_id: uuid.UUID, has_dog: bool, detections: Sequence[Detection]
    ) -> bool:
        """PROCESSING -> DONE with detections, atomically; False when already finished."""
        ...

    def fail(self, prediction_id: uuid.UUID, reason: str) -> bool:
        """Any non-terminal state -> ERROR; False when already finished."""
        ...

    def unenqueued_before(self, seconds: int, limit: int) -> list[Prediction]: ...
    def unfinished(self, limit: int) -> list[Prediction]:
        """PENDING or PROCESSING rows whose message was sent, oldest first."""
        ...

    def fail_stuck(self, older_than_seconds: int, reason: str, limit: int) -> int:
        """PENDING/PROCESSING rows whose message was sent and that have not changed for
        `older_than_seconds` -> ERROR with `reason`, at most `limit` of them (the longest
        unchanged first), in one conditional UPDATE; returns how many."""
        ...

    def exclusive(self, name: str) -> AbstractContextManager[bool]:
        """Hold the lock `name` for the block; the block gets False (and holds nothing) when
        another holder, in any process, has it."""
        ...

    def ping(self) -> None: ...


class ImageStorage(Protocol):
    bucket: str

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def ping(self) -> None: ...


class JobQueue(Protocol):
    def send(self, job: Job) -> None: ...
    def ping(self) -> None: ...


class Detector(Protocol):
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections for each RGB HxWx3 uint8 array, in order."""
        ...
