"""Process one queued job: decode the stored image, detect, record the answer.

A finished row is never touched again (redelivery is a no-op). An image that can never be
decoded ends ERROR at once. Any other failure propagates so the message returns to the queue;
on the last attempt the row is marked ERROR first, so nothing stays PENDING forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from dogdetect.errors import ImageTooLarge, UnsupportedImage
from dogdetect.imaging import decode_rgb
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
    except (UnsupportedImage, ImageTooLarge) as exc:
        deps.repository.fail(job.prediction_id, f"image could not be decoded: {exc.detail}")
        return
    detections = deps.detector.detect([image])[0]
    deps.repository.finish(job.prediction_id, has_dog(detections, deps.dog_confidence), detections)


def _give_up(job: Job, exc: Exception, deps: PredictDeps) -> None:
    reason = f"gave up after {deps.max_receive_count} attempts: {type(exc).__name__}"
    try:
        deps.repository.fail(job.prediction_id, reason)
    except Exception:  # the dead-letter queue still holds the message for a later redrive
        logger.exception("could not mark the prediction ERROR")
