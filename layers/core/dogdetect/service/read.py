"""Read one prediction: as it is, or waiting up to a number of seconds for it to finish
(Prefer: wait=N). Its annotated photo is `service.annotate`'s.

A wait asks the repository again with a short backoff; each look is its own short
transaction, so no database connection is held while sleeping (the pool has it back, and RDS
Proxy can lend it to another container)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dogdetect.domain.errors import (
    DependencyUnavailable,
    PredictionNotFound,
    TooManyWaits,
)
from dogdetect.domain.models import PREDICTION_NOT_FOUND, Prediction, parse_id
from dogdetect.domain.ports import PredictionReader, Slots
from dogdetect.service.polling import pauses

logger = logging.getLogger(__name__)

HOLD_SLACK_SECONDS = 5


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
    looks = pauses(seconds, sleep, clock)
    prediction = get_prediction(raw_id, repository)
    if prediction.status.is_terminal:
        return prediction
    for _ in looks:
        found = repository.get(prediction.id)
        if found is None:
            raise PredictionNotFound(PREDICTION_NOT_FOUND)
        prediction = found
        if prediction.status.is_terminal:
            break
    return prediction


@dataclass(frozen=True)
class WaitLimits:
    per_client: int
    total: int


@dataclass(frozen=True)
class Waiting:
    """What the service's waits are counted in, and how many each client and all may hold."""

    slots: Slots
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


def _release(slots: Slots, hold_id: uuid.UUID) -> None:
    try:
        slots.release(hold_id)
    except DependencyUnavailable:  # the claim lapses by itself (HOLD_SLACK_SECONDS later)
        logger.warning("wait claim left to lapse")
