"""The dead-letter queue's consumer. A job lands there after `max_receive_count` receives from
the jobs queue: predict failed or timed out every time. Its prediction is marked ERROR with a
reason a person can read, so no row waits forever, and the message is consumed.

A malformed body names no prediction: it is logged (what was wrong with it, never the body or
its S3 key) and consumed, without touching the database. A database failure propagates, so
the message returns to the dead-letter queue and is tried again.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dogdetect.domain.jobs import MalformedJob, parse_job
from dogdetect.domain.models import Status
from dogdetect.domain.ports import DeadLetterRecords, NotificationQueue
from dogdetect.service.notify import announce

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetterDeps:
    repository: DeadLetterRecords
    max_receive_count: int
    notifications: NotificationQueue | None = None  # announces the webhooks of what it ends


class DeadLetterOutcome(enum.StrEnum):
    ABANDONED = "abandoned"  # marked ERROR here: predict never got to record why
    ALREADY_FAILED = "already_failed"  # ERROR already: predict's last attempt recorded why
    ALREADY_DONE = "already_done"  # it finished after all (a late redelivery)
    UNKNOWN = "unknown"  # no such prediction (deleted)
    MALFORMED = "malformed"  # not a job

    @property
    def abandoned(self) -> bool:
        """The prediction ended ERROR for lack of attempts (the PredictionsAbandoned metric)."""
        return self in (DeadLetterOutcome.ABANDONED, DeadLetterOutcome.ALREADY_FAILED)


def abandon_reason(max_receive_count: int) -> str:
    return (
        f"gave up: the prediction did not finish after {max_receive_count} attempts "
        "(it failed or timed out each time)"
    )


def settle_dead_letter(body: str, deps: Callable[[], DeadLetterDeps]) -> DeadLetterOutcome:
    """`deps` is called only for a well-formed job: a malformed one needs no database."""
    try:
        job = parse_job(body)
    except MalformedJob as exc:
        logger.warning("malformed dead letter consumed", extra={"defect": str(exc)})
        return DeadLetterOutcome.MALFORMED
    d = deps()
    pid = str(job.prediction_id)
    if d.repository.fail(job.prediction_id, abandon_reason(d.max_receive_count)):
        logger.warning("prediction abandoned: marked ERROR", extra={"prediction_id": pid})
        if d.notifications is not None:
            announce([job.prediction_id], d.repository, d.notifications)
        return DeadLetterOutcome.ABANDONED
    prediction = d.repository.get(job.prediction_id)
    if prediction is None:
        logger.info("dead letter for an unknown prediction consumed", extra={"prediction_id": pid})
        return DeadLetterOutcome.UNKNOWN
    if prediction.status is Status.ERROR:
        logger.warning("prediction abandoned: already ERROR", extra={"prediction_id": pid})
        return DeadLetterOutcome.ALREADY_FAILED
    logger.info("dead letter for a finished prediction consumed", extra={"prediction_id": pid})
    return DeadLetterOutcome.ALREADY_DONE
