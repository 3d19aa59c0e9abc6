"""Delete one prediction: its row (detections and idempotency keys cascade), then its image
(and a direct upload's drop box, and the annotated photo if it was drawn).

The row goes first: from then on no route shows the prediction and no worker can finish it
(every step of the worker is a conditional UPDATE of the row, a no-op on a missing one). An
image whose delete fails or never runs (a crash in between) is named by no row and reached by
no route; the bucket's lifecycle rule expires it (UploadRetentionDays)."""

from __future__ import annotations

import logging

from dogdetect.domain.errors import DependencyUnavailable, PredictionNotFound
from dogdetect.domain.models import (
    PREDICTION_NOT_FOUND,
    annotated_key_for,
    incoming_key_for,
    parse_id,
)
from dogdetect.domain.ports import ImageStorage, PredictionRemover

logger = logging.getLogger(__name__)


def delete_prediction(raw_id: str, repository: PredictionRemover, storage: ImageStorage) -> None:
    prediction_id = parse_id(raw_id)
    image_key = repository.remove(prediction_id)
    if image_key is None:
        raise PredictionNotFound(PREDICTION_NOT_FOUND)
    try:
        storage.delete(image_key)
        # A direct upload's drop box: a POST still valid after the row went is nobody's.
        storage.delete(incoming_key_for(prediction_id))
        storage.delete(annotated_key_for(prediction_id))
    except DependencyUnavailable:
        # The prediction is gone for every client; only the bytes wait for the lifecycle rule.
        logger.warning("image delete deferred to the bucket's lifecycle rule")
