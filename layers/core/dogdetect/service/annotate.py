"""The annotated photo of a DONE prediction: drawn at most once, then kept in the bucket
(`annotated/<id>`) and read from there. A DONE prediction's detections and photo never change,
so neither does its drawing.

A drawing decodes the whole photo (up to 1-3 s for a 40-megapixel one), so drawings are
claims on a pool of their own (`Slots`, across every execution environment): one per
prediction, `total` in all. A request for a prediction another request is drawing waits for
that drawing (up to SHARE_SECONDS); with every slot taken, DrawingsBusy (503, Retry-After).
The rest of the status function's capacity stays for reads, `/health` and the page.

Only a DONE prediction has an annotated photo. PENDING and PROCESSING have nothing to draw yet;
ERROR never will (the image could not be processed, or the worker gave up): all three are a
404 saying which, as is a photo no longer stored (uploads expire, see UploadRetentionDays)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dogdetect.domain.errors import (
    AnnotationUnavailable,
    DependencyUnavailable,
    DrawingsBusy,
    StoredImageMissing,
)
from dogdetect.domain.models import Prediction, Status, annotated_key_for
from dogdetect.domain.ports import ImageStorage, PredictionReader, Slots
from dogdetect.image.draw import annotate
from dogdetect.service.polling import pauses
from dogdetect.service.read import get_prediction

logger = logging.getLogger(__name__)

NOT_YET = "the prediction is {status}: its annotated photo exists once it is DONE"
ENDED_IN_ERROR = "the prediction ended in ERROR: there is no annotated photo"
PHOTO_GONE = "the photo of this prediction is no longer stored"
ALL_BUSY = "every drawing slot is taken: retry after Retry-After"
STILL_DRAWING = "the annotated photo is still being drawn: retry after Retry-After"

# A drawing's claim outlives the status function's timeout (25 s), so that it lapses soon
# after an execution killed while drawing.
DRAW_HOLD_SECONDS = 30
SHARE_SECONDS = 10.0  # how long a request waits for the drawing another request is making


@dataclass(frozen=True)
class Drawing:
    """What is drawn, where drawings are kept and counted, and how many may be made at once."""

    repository: PredictionReader
    storage: ImageStorage
    slots: Slots
    total: int
    max_pixels: int
    share_seconds: float = SHARE_SECONDS
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def annotated_photo(raw_id: str, drawing: Drawing) -> bytes:
    """JPEG bytes of the DONE prediction's photo with its boxes and labels drawn."""
    prediction = _done(get_prediction(raw_id, drawing.repository))
    key = annotated_key_for(prediction.id)
    kept = _kept(drawing.storage, key)
    if kept is not None:
        return _while_the_photo_is_stored(kept, prediction, key, drawing.storage)
    hold = drawing.slots.hold(str(prediction.id), DRAW_HOLD_SECONDS, 1, drawing.total)
    if hold.id is None:
        if hold.full == "client":  # another request is drawing this prediction
            return _drawn_by_another(drawing, key)
        raise DrawingsBusy(ALL_BUSY)
    try:
        return _draw_and_keep(prediction, key, drawing)
    finally:
        _release(drawing.slots, hold.id)


def _done(prediction: Prediction) -> Prediction:
    if prediction.status is Status.ERROR:
        raise AnnotationUnavailable(ENDED_IN_ERROR)
    if prediction.status is not Status.DONE:
        raise AnnotationUnavailable(NOT_YET.format(status=prediction.status.value))
    return prediction


def _kept(storage: ImageStorage, key: str) -> bytes | None:
    try:
        return storage.get(key)
    except StoredImageMissing:
        return None


def _while_the_photo_is_stored(
    kept: bytes, prediction: Prediction, key: str, storage: ImageStorage
) -> bytes:
    """A drawing outlives no photo: once the photo has expired (or was deleted), the drawing
    goes too, whatever the lifecycle rule would leave of it."""
    if storage.exists(prediction.image_key):
        return kept
    storage.delete(key)
    raise AnnotationUnavailable(PHOTO_GONE)


def _drawn_by_another(drawing: Drawing, key: str) -> bytes:
    for _ in pauses(drawing.share_seconds, drawing.sleep, drawing.clock):
        kept = _kept(drawing.storage, key)
        if kept is not None:
            return kept
    raise DrawingsBusy(STILL_DRAWING)


def _draw_and_keep(prediction: Prediction, key: str, drawing: Drawing) -> bytes:
    try:
        photo = drawing.storage.get(prediction.image_key)
    except StoredImageMissing as exc:
        raise AnnotationUnavailable(PHOTO_GONE) from exc
    jpeg = annotate(photo, prediction.detections, drawing.max_pixels)
    try:
        drawing.storage.put_new(key, jpeg)
        if (
            drawing.repository.get(prediction.id) is None
        ):  # deleted meanwhile: its DELETE missed this
            drawing.storage.delete(key)
    except DependencyUnavailable:  # the answer is drawn; the next request draws it again
        logger.warning("annotated photo not kept")
    return jpeg


def _release(slots: Slots, hold_id: uuid.UUID) -> None:
    try:
        slots.release(hold_id)
    except DependencyUnavailable:  # the claim lapses by itself (DRAW_HOLD_SECONDS later)
        logger.warning("drawing claim left to lapse")
