"""The annotated photo of one prediction: its stored image with its detections drawn.

Only a DONE prediction has one. PENDING and PROCESSING have nothing to draw yet; ERROR never
will (the image could not be processed, or the worker gave up): all three are a 404 saying
which, as is a photo no longer stored (uploads expire, see UploadRetentionDays)."""

from __future__ import annotations

from dogdetect.domain.errors import AnnotationUnavailable, StoredImageMissing
from dogdetect.domain.models import Status
from dogdetect.domain.ports import ImageStorage, PredictionRepository
from dogdetect.image.draw import annotate
from dogdetect.service.status import get_prediction

NOT_YET = "the prediction is {status}: its annotated photo exists once it is DONE"
ENDED_IN_ERROR = "the prediction ended in ERROR: there is no annotated photo"
PHOTO_GONE = "the photo of this prediction is no longer stored"


def annotated_photo(
    raw_id: str,
    repository: PredictionRepository,
    storage: ImageStorage,
    max_pixels: int,
) -> bytes:
    """JPEG bytes of the DONE prediction's photo with its boxes and labels drawn."""
    prediction = get_prediction(raw_id, repository)
    if prediction.status is Status.ERROR:
        raise AnnotationUnavailable(ENDED_IN_ERROR)
    if prediction.status is not Status.DONE:
        raise AnnotationUnavailable(NOT_YET.format(status=prediction.status.value))
    try:
        data = storage.get(prediction.image_key)
    except StoredImageMissing as exc:
        raise AnnotationUnavailable(PHOTO_GONE) from exc
    return annotate(data, prediction.detections, max_pixels)
