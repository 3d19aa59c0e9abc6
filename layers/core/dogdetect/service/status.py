"""Read one prediction."""

from __future__ import annotations

import uuid

from dogdetect.domain.errors import PredictionNotFound
from dogdetect.domain.models import Prediction, canonical_id
from dogdetect.domain.ports import PredictionRepository


def parse_id(raw_id: str) -> uuid.UUID:
    """The id as the service spells it (`models.canonical_id`): any other spelling is another
    URL for the same prediction, so it names nothing here (one resource, one URL)."""
    prediction_id = canonical_id(raw_id)
    if prediction_id is None:
        # A malformed id names nothing: same answer as an unknown one, no hint either way.
        raise PredictionNotFound("no prediction with this id")
    return prediction_id


def get_prediction(raw_id: str, repository: PredictionRepository) -> Prediction:
    prediction = repository.get(parse_id(raw_id))
    if prediction is None:
        raise PredictionNotFound("no prediction with this id")
    return prediction
