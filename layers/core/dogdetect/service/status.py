"""Read one prediction."""

from __future__ import annotations

import uuid

from dogdetect.errors import PredictionNotFound
from dogdetect.models import Prediction
from dogdetect.ports import PredictionRepository


def get_prediction(raw_id: str, repository: PredictionRepository) -> Prediction:
    try:
        prediction_id = uuid.UUID(raw_id)
    except ValueError:
        # A malformed id names nothing: same answer as an unknown one, no hint either way.
        raise PredictionNotFound("no prediction with this id") from None
    prediction = repository.get(prediction_id)
    if prediction is None:
        raise PredictionNotFound("no prediction with this id")
    return prediction
