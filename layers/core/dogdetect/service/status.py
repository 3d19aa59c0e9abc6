"""Read one prediction."""

from __future__ import annotations

import uuid

from dogdetect.errors import PredictionNotFound
from dogdetect.models import Prediction
from dogdetect.ports import PredictionRepository


def parse_id(raw_id: str) -> uuid.UUID:
    """The id as the service spells it: lowercase, hyphenated. Python's UUID() also reads
    uppercase, braces, `urn:uuid:`, no hyphens and non-ASCII digits; each of those is another
    URL for the same prediction, so it names nothing here (one resource, one URL)."""
    try:
        prediction_id = uuid.UUID(raw_id)
    except ValueError:
        prediction_id = None
    if prediction_id is None or str(prediction_id) != raw_id:
        # A malformed id names nothing: same answer as an unknown one, no hint either way.
        raise PredictionNotFound("no prediction with this id")
    return prediction_id


def get_prediction(raw_id: str, repository: PredictionRepository) -> Prediction:
    prediction = repository.get(parse_id(raw_id))
    if prediction is None:
        raise PredictionNotFound("no prediction with this id")
    return prediction
