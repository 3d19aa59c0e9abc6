"""Announce finished predictions: for each that ended DONE or ERROR with a webhook, put its
notification in the notifications queue and note it (`webhook_enqueued_at`). The notify
function delivers it from there, so no worker ever waits on a client's server.

The finishing code (predict, the dead-letter consumer) announces right after its update; a
failure there never undoes or repeats the prediction: the sweep sends whatever was not noted
once it is `grace_seconds` old. At least once: a receiver may see a notification twice, with
the same `webhook-id`, and deduplicates on it as the specification says."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence

from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.models import Prediction
from dogdetect.domain.notifications import notification_for
from dogdetect.domain.ports import NotificationQueue, PredictionRepository

logger = logging.getLogger(__name__)


def announce(
    prediction_ids: Collection[uuid.UUID],
    repository: PredictionRepository,
    notifications: NotificationQueue,
) -> int:
    """Announce those of `prediction_ids` that are due; how many were sent. Never raises:
    the predictions are finished whatever happens here, and the sweep catches up."""
    if not prediction_ids:
        return 0
    try:
        return _send(repository.webhooks_due(prediction_ids), repository, notifications)
    except Exception:
        logger.exception("webhooks not announced; the sweep will send them")
        return 0


def announce_overdue(
    repository: PredictionRepository,
    notifications: NotificationQueue,
    grace_seconds: int,
    limit: int = 100,
) -> int:
    """The sweep's part: finished predictions whose webhook nobody announced."""
    sent = _send(repository.webhooks_overdue(grace_seconds, limit), repository, notifications)
    if sent:
        logger.info("sweep announced overdue webhooks", extra={"webhooks_announced": sent})
    return sent


def _send(
    due: Sequence[Prediction], repository: PredictionRepository, notifications: NotificationQueue
) -> int:
    sent: list[uuid.UUID] = []
    try:
        for prediction in due:
            notifications.send(notification_for(prediction))
            sent.append(prediction.id)
    except DependencyUnavailable:
        logger.warning("notifications queue unavailable; the sweep will send the rest")
    if sent:
        try:
            repository.mark_webhooks_enqueued(sent)
        except DependencyUnavailable:  # sent again by the sweep: a duplicate, same webhook-id
            logger.warning("webhooks sent but not noted; the sweep may send them again")
    return len(sent)
