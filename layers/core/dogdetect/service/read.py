"""Read one prediction: as it is, waiting up to a number of seconds for it to finish (Prefer:
wait=N), or as its annotated photo.

A wait asks the repository again with a short backoff; each look is its own short
transaction, so no database connection is held while sleeping (the pool has it back, and RDS
Proxy can lend it to another container).

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
    PredictionNotFound,
    StoredImageMissing,
    TooManyWaits,
)
from dogdetect.domain.models import PREDICTION_NOT_FOUND, Prediction, Status, parse_id
from dogdetect.domain.ports import ImageStorage, PredictionReader, WaitSlots
from dogdetect.image.draw import annotate

logger = logging.getLogger(__name__)

HOLD_SLACK_SECONDS = 5
FIRST_DELAY_SECONDS = 0.1
MAX_DELAY_SECONDS = 0.5
NOT_YET = "the prediction is {status}: its annotated photo exists once it is DONE"
ENDED_IN_ERROR = "the prediction ended in ERROR: there is no annotated photo"
PHOTO_GONE = "the photo of this prediction is no longer stored"


def get_prediction(raw_id: str, repository: PredictionReader) -> Prediction:
    prediction = repository.get(parse_id(raw_id))
    if prediction is None:
        raise PredictionNotFound(PREDICTION_NOT_FOUND)
    return prediction


def wait_for_prediction(
    raw_id: str,
    repository: PredictionReader,
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
            raise PredictionNotFound(PREDICTION_NOT_FOUND)
        prediction = found
    return prediction


@dataclass(frozen=True)
class WaitLimits:
    per_client: int
    total: int


@dataclass(frozen=True)
class Waiting:
    """What the service's waits are counted in, and how many each client and all may hold."""

    slots: WaitSlots
    limits: WaitLimits


CLIENT_FULL = (
    "this client already holds {limit} waiting requests (Prefer: wait): retry after"
    " Retry-After, or ask without Prefer: wait"
)


def read_with_wait(
    raw_id: str,
    repository: PredictionReader,
    seconds: int | None,
    client: str,
    waiting: Waiting,
) -> tuple[Prediction, int | None]:
    """The prediction, and the wait applied (None: not held). A wait holds one of the
    service's waits: past this client's share, TooManyWaits (429); with every wait taken, the
    answer comes at once, without the preference applied (RFC 7240 lets a server ignore it),
    so that plain reads keep the status function's other executions."""
    prediction = get_prediction(raw_id, repository)  # an unknown id: 404 before anything
    if not seconds or prediction.status.is_terminal:
        return prediction, seconds
    limits = waiting.limits
    # A claim outlives the wait by its slack, so a killed execution's lapses soon after.
    hold = waiting.slots.hold(client, seconds + HOLD_SLACK_SECONDS, limits.per_client, limits.total)
    if hold.full == "client":
        raise TooManyWaits(CLIENT_FULL.format(limit=limits.per_client))
    if hold.id is None:
        return prediction, None
    try:
        return wait_for_prediction(raw_id, repository, seconds), seconds
    finally:
        _release(waiting.slots, hold.id)


def _release(slots: WaitSlots, hold_id: uuid.UUID) -> None:
    try:
        slots.release(hold_id)
    except DependencyUnavailable:  # the claim lapses by itself (HOLD_SLACK_SECONDS later)
        logger.warning("wait claim left to lapse")


def annotated_photo(
    raw_id: str,
    repository: PredictionReader,
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
