"""The notifications queue's message: the status JSON of a prediction that ended DONE or ERROR,
the webhook URL to POST it to, and the webhook id that stays the same on every try (receivers
deduplicate on it, as the Standard Webhooks specification says). Parsed strictly."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from dogdetect.domain.documents import status_document
from dogdetect.domain.models import Prediction


class MalformedNotification(ValueError):
    pass


@dataclass(frozen=True)
class Notification:
    webhook_id: str
    url: str
    payload: dict[str, Any]  # the prediction as GET /image_prediction/{id} answers it


@dataclass(frozen=True)
class DeliveryAttempt:
    """What one try to POST a notification came to. `detail` never holds the URL (its query
    may carry the client's own secret): the answer's status, or what failed."""

    delivered: bool
    detail: str
    status: int | None = None


def webhook_id_for(prediction_id: uuid.UUID) -> str:
    """One id per prediction: it ends once, so every send of its status is the same event."""
    return f"msg_{prediction_id}"


def notification_for(prediction: Prediction) -> Notification:
    if prediction.webhook_url is None or not prediction.status.is_terminal:
        raise ValueError("only a finished prediction with a webhook is announced")
    return Notification(
        webhook_id_for(prediction.id), prediction.webhook_url, status_document(prediction)
    )


def notification_to_body(notification: Notification) -> str:
    return json.dumps(
        {
            "webhook_id": notification.webhook_id,
            "url": notification.url,
            "payload": notification.payload,
        }
    )


def parse_notification(body: str) -> Notification:
    try:
        message = json.loads(body)
        notification = Notification(
            webhook_id=message["webhook_id"], url=message["url"], payload=message["payload"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedNotification(f"malformed notification: {type(exc).__name__}") from exc
    if not (
        isinstance(notification.webhook_id, str)
        and notification.webhook_id
        and "." not in notification.webhook_id
        and isinstance(notification.url, str)
        and isinstance(notification.payload, dict)
    ):
        raise MalformedNotification("malformed notification: wrong field types")
    return notification


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """The body sent and signed: compact JSON, the same bytes on every try."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
