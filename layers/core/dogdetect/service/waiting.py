"""Read one prediction, waiting up to a number of seconds for it to finish (Prefer: wait=N).

The repository is asked again with a short backoff; each look is its own short transaction,
so no database connection is held while sleeping (the pool has it back, and RDS Proxy can
lend it to another container)."""

from __future__ import annotations

import time
from collections.abc import Callable

from dogdetect.domain.errors import PredictionNotFound
from dogdetect.domain.models import Prediction
from dogdetect.domain.ports import PredictionRepository
from dogdetect.service.status import get_prediction

FIRST_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 0.5


def wait_for_prediction(
    raw_id: str,
    repository: PredictionRepository,
    seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Prediction:
    """The prediction once it is DONE or ERROR, or as it is after `seconds`. An unknown id is
    PredictionNotFound at once; one deleted while waiting, as soon as that is seen."""
    deadline = clock() + seconds
    prediction = get_prediction(raw_id, repository)
    delay = FIRST_DELAY_SECONDS
    while not prediction.status.is_terminal and (remaining := deadline - clock()) > 0:
        sleep(min(delay, remaining))
        delay = min(delay * 2, MAX_DELAY_SECONDS)
        found = repository.get(prediction.id)
        if found is None:
            raise PredictionNotFound("no prediction with this id")
        prediction = found
    return prediction
