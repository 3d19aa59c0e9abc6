"""Domain records: what a prediction is, independent of storage."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime


class Status(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    DONE = "DONE"
    ERROR = "ERROR"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.DONE, Status.ERROR)


@dataclass(frozen=True)
class Box:
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Detection:
    label: str
    confidence: float
    box: Box


@dataclass(frozen=True)
class Prediction:
    id: uuid.UUID
    status: Status
    image_key: str
    created_at: datetime
    updated_at: datetime
    has_dog: bool | None = None
    error: str | None = None
    detections: tuple[Detection, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Job:
    """What the queue carries: where the image of one prediction lies."""

    prediction_id: uuid.UUID
    bucket: str
    key: str


def image_key_for(prediction_id: uuid.UUID) -> str:
    """S3 keys come from the server-made id only, never from client input."""
    return f"uploads/{prediction_id}"
