"""Webhooks, from a finished prediction to its receiver.

Announce finished predictions: for each that ended DONE or ERROR with a webhook, put its
notification in the notifications queue and note it (`webhook_enqueued_at`). The notify
function delivers it from there, so no worker ever waits on a client's server.

The finishing code (predict, the dead-letter consumer) announces right after its update; a
failure there never undoes or repeats the prediction: the sweep sends whatever was not noted
once it is `grace_seconds` old. At least once: a receiver may see a notification twice, with
the same `webhook-id`, and deduplicates on it as the specification says.

Deliver one notification from the notifications queue: sign the prediction's status JSON as
the Standard Webhooks specification says and POST it to its webhook. A 2xx consumes the
message. Anything else hides the message for the next delay of the retry schedule and fails
it, so it returns then; after the last try it goes to the dead-letter queue at once. A
malformed message can never be delivered: it is logged and consumed.
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.models import Prediction
from dogdetect.domain.notifications import (
    DeliveryAttempt,
    MalformedNotification,
    Notification,
    notification_for,
    parse_notification,
    payload_bytes,
)
from dogdetect.domain.ports import Announcements, NotificationQueue, WebhookSender
from dogdetect.domain.webhooks.retry import retry_delay
from dogdetect.domain.webhooks.signing import signature_headers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifyDeps:
    sender: WebhookSender
    queue: NotificationQueue
    signing_key: bytes
    retry_delays: tuple[int, ...]
    max_attempts: int  # == the notifications queue's maxReceiveCount
    clock: Callable[[], float] = time.time


class NotifyOutcome(enum.StrEnum):
    DELIVERED = "delivered"
    MALFORMED = "malformed"


class WebhookNotDelivered(Exception):
    """This try failed; the message returns after `retry_in` seconds (or is dead-lettered)."""

    def __init__(self, webhook_id: str, detail: str, retry_in: int) -> None:
        super().__init__(f"webhook {webhook_id} not delivered: {detail}")
        self.retry_in = retry_in


def deliver_notification(
    body: str, receipt_handle: str, attempt: int, deps: Callable[[], NotifyDeps]
) -> NotifyOutcome:
    """`deps` is called only for a well-formed message."""
    try:
        notification = parse_notification(body)
    except MalformedNotification as exc:
        logger.warning("malformed notification consumed", extra={"defect": str(exc)})
        return NotifyOutcome.MALFORMED
    d = deps()
    result = post_signed(notification, d)
    facts = _facts(notification, attempt, result.detail)
    if result.delivered:
        logger.info("webhook delivered", extra=facts)
        return NotifyOutcome.DELIVERED
    delay = retry_delay(attempt, d.retry_delays, d.max_attempts)
    _postpone(d.queue, receipt_handle, delay)
    logger.warning("webhook not delivered", extra={**facts, "retry_in_seconds": delay})
    raise WebhookNotDelivered(notification.webhook_id, result.detail, delay)


def post_signed(notification: Notification, deps: NotifyDeps) -> DeliveryAttempt:
    """One try, signed with this try's own timestamp."""
    body = payload_bytes(notification.payload)
    headers = signature_headers(deps.signing_key, notification.webhook_id, int(deps.clock()), body)
    return deps.sender.post(notification.url, body, headers)


def _postpone(queue: NotificationQueue, receipt_handle: str, seconds: int) -> None:
    try:
        queue.postpone(receipt_handle, seconds)
    except DependencyUnavailable:  # the queue's own visibility timeout brings it back instead
        logger.warning("could not set the retry delay; the queue's default applies")


def _facts(notification: Notification, attempt: int, detail: str) -> dict[str, object]:
    """What a log line may say: never the URL's path or query (the client's secrets)."""
    return {
        "prediction_id": notification.payload.get("image_prediction_id"),
        "webhook_id": notification.webhook_id,
        "host": _host(notification.url),
        "attempt": attempt,
        "result": detail,
    }


def _host(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


# Announcing: the finishing code's and the sweep's part.
def announce(
    prediction_ids: Collection[uuid.UUID],
    repository: Announcements,
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
    repository: Announcements,
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
    due: Sequence[Prediction], repository: Announcements, notifications: NotificationQueue
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
