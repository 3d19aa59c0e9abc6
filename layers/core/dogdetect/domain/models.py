"""Domain records: what a prediction is, independent of storage."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from dogdetect.domain.errors import PredictionNotFound
from dogdetect.domain.options import PredictionOptions


class Status(enum.StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    DONE = "DONE"
    ERROR = "ERROR"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.DONE, Status.ERROR)


# The label detectors give a dog (COCO's): what `has_dog` looks for, and what the annotated
# photo draws in the dogs' colour.
DOG_LABEL = "dog"


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


def scaled(detections: Sequence[Detection], scale_x: float, scale_y: float) -> list[Detection]:
    """Detections found on a reduced image (`image.decode.ModelInput`) in the original's pixels:
    box x coordinates times `scale_x`, y times `scale_y`, to 0.1 pixel as detectors give them."""
    return [
        replace(
            d,
            box=Box(
                round(d.box.x1 * scale_x, 1),
                round(d.box.y1 * scale_y, 1),
                round(d.box.x2 * scale_x, 1),
                round(d.box.y2 * scale_y, 1),
            ),
        )
        for d in detections
    ]


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
    webhook_url: str | None = None  # announced there once DONE or ERROR (never shown by GET)
    # What its request asked (`domain.options`); None: made before requests had options.
    options: PredictionOptions | None = None


def pending(
    prediction_id: uuid.UUID,
    image_key: str,
    created_at: datetime,
    updated_at: datetime,
    webhook_url: str | None = None,
    options: PredictionOptions | None = None,
) -> Prediction:
    """A prediction just recorded, awaiting its work."""
    return Prediction(
        prediction_id,
        Status.PENDING,
        image_key,
        created_at,
        updated_at,
        webhook_url=webhook_url,
        options=options,
    )


@dataclass(frozen=True)
class FinishedPrediction:
    """The answer for one prediction, as the worker stores it (PROCESSING -> DONE)."""

    prediction_id: uuid.UUID
    has_dog: bool
    detections: tuple[Detection, ...]


@dataclass(frozen=True)
class Job:
    """What the queue carries: where the image of one prediction lies."""

    prediction_id: uuid.UUID
    bucket: str
    key: str
    size: int | None = None  # the object's size in bytes, when the message says (S3's event)


def image_key_for(prediction_id: uuid.UUID) -> str:
    """S3 keys come from the server-made id only, never from client input."""
    return f"uploads/{prediction_id}"


# Direct uploads (dogdetect.service.uploads) land under their own prefix: only objects created
# there notify the jobs queue, so submit's own puts under uploads/ never start a second job.
INCOMING_PREFIX = "incoming/"


@dataclass(frozen=True)
class SlotHold:
    """A claim on one pool of bounded work (`ports.Slots`): its id while held, else who is
    full ("client": this client holds its share; "service": every slot is taken)."""

    id: uuid.UUID | None
    full: str | None


def is_incoming(key: str) -> bool:
    """A direct upload's drop box (what a presigned POST writes), not an accepted photo."""
    return key.startswith(INCOMING_PREFIX)


def incoming_key_for(prediction_id: uuid.UUID) -> str:
    """Where the client's presigned POST puts the photo of `prediction_id`."""
    return f"{INCOMING_PREFIX}{prediction_id}"


def annotated_key_for(prediction_id: uuid.UUID) -> str:
    """Where the annotated photo of a DONE prediction is kept once drawn (it never changes)."""
    return f"annotated/{prediction_id}"


PREDICTION_NOT_FOUND = "no prediction with this id"


@dataclass(frozen=True)
class PresignedPost:
    """An S3 presigned POST: the client sends `fields` and then its file (field `file`) as
    multipart/form-data to `url`, until `expires_at` (the signed policy's expiration)."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


def canonical_id(raw: str) -> uuid.UUID | None:
    """The id `raw` spells as the service spells ids (lowercase, hyphenated), else None.
    Python's UUID() also reads uppercase, braces, `urn:uuid:`, no hyphens and non-ASCII
    digits; each of those would be another name for the same prediction."""
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        return None
    return parsed if str(parsed) == raw else None


def parse_id(raw_id: str) -> uuid.UUID:
    """The id as the service spells it (`canonical_id`): any other spelling is another URL for
    the same prediction, so it names nothing (one resource, one URL). A malformed id gets the
    same answer as an unknown one, no hint either way."""
    prediction_id = canonical_id(raw_id)
    if prediction_id is None:
        raise PredictionNotFound(PREDICTION_NOT_FOUND)
    return prediction_id
