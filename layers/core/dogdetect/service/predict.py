"""Process one queued job: decode the stored image, detect, record the answer.

A finished row is never touched again (redelivery is a no-op). Failures are of two kinds:
- permanent: the stored bytes are a bad image (`IMAGE_ERRORS`, the same refusal submit gives).
  The row ends ERROR on the first attempt, with the reason, and the message is consumed.
- anything else (a dependency that did not answer, a missing object, an unexpected error)
  propagates, so the message returns to the queue and is tried again; on the last attempt the
  row is marked ERROR first, with what failed in words, so nothing stays PENDING forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from dogdetect.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.imaging import IMAGE_ERRORS, decode_rgb
from dogdetect.models import Detection, Job
from dogdetect.ports import Detector, ImageStorage, PredictionRepository

logger = logging.getLogger(__name__)

DOG_LABEL = "dog"


@dataclass(frozen=True)
class PredictDeps:
    repository: PredictionRepository
    storage: ImageStorage
    detector: Detector
    dog_confidence: float
    max_image_pixels: int
    max_receive_count: int


def has_dog(detections: Sequence[Detection], threshold: float) -> bool:
    return any(d.label == DOG_LABEL and d.confidence >= threshold for d in detections)


def process_job(job: Job, attempt: int, deps: PredictDeps) -> None:
    try:
        _process(job, deps)
    except Exception as exc:
        if attempt >= deps.max_receive_count:
            _give_up(job, exc, deps)
        raise


def _process(job: Job, deps: PredictDeps) -> None:
    if not deps.repository.start_processing(job.prediction_id):
        logger.info("prediction already finished or unknown; message dropped")
        return
    data = deps.storage.get(job.key)
    try:
        image = decode_rgb(data, deps.max_image_pixels)
    except IMAGE_ERRORS as exc:
        logger.info("stored image refused: %s", exc.detail)
        deps.repository.fail(job.prediction_id, f"the image could not be decoded: {exc.detail}")
        return
    detections = deps.detector.detect([image])[0]
    deps.repository.finish(job.prediction_id, has_dog(detections, deps.dog_confidence), detections)


def failure_reason(exc: Exception) -> str:
    """What failed, in words a person reads in the prediction's `error`."""
    if isinstance(exc, DependencyUnavailable):
        return f"the {_DEPENDENCY_NAMES.get(exc.dependency, exc.dependency)} did not answer"
    if isinstance(exc, StoredImageMissing):
        return "the stored image is missing"
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    # The first line only (a database error's next lines quote the SQL), printable, short.
    lines = str(exc).strip().splitlines()
    message = "".join(c if c.isprintable() else "?" for c in lines[0])[:200] if lines else ""
    return f"unexpected error {name}: {message}" if message else f"unexpected error {name}"


_DEPENDENCY_NAMES = {"database": "database", "storage": "image storage", "queue": "job queue"}


def _give_up(job: Job, exc: Exception, deps: PredictDeps) -> None:
    reason = f"gave up after {deps.max_receive_count} attempts: {failure_reason(exc)}"
    try:
        deps.repository.fail(job.prediction_id, reason)
    except Exception:  # the dead-letter queue still holds the message for a later redrive
        logger.exception("could not mark the prediction ERROR")
