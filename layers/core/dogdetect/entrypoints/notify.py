"""notify: drains the notifications queue. Each message is a finished prediction's status JSON
for its webhook: POSTed, signed as the Standard Webhooks specification says. A failed try is
hidden for its backoff and reported as a batch item failure, so only it returns; after the
last try the queue dead-letters it. Runs outside the VPC: it reaches clients' servers, and
refuses every address that is not public."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.runtime.sqs_batch import process_sqs_batch_in_parallel
from dogdetect.service.notify import (
    NotifyDeps,
    NotifyOutcome,
    WebhookNotDelivered,
    deliver_notification,
)

obs = observability("notify")
# Built on the first message and kept: the secret is read once per container.
notify_deps = use_cases.once(use_cases.notify_deps)


def process_record(record: SQSRecord, deps: Callable[[], NotifyDeps]) -> None:
    attempt = int(record.attributes.approximate_receive_count or 1)
    try:
        outcome = deliver_notification(record.body, record.receipt_handle, attempt, deps)
    except WebhookNotDelivered:
        obs.metrics.add_metric(name="WebhookTriesFailed", unit="Count", value=1)
        raise
    if outcome is NotifyOutcome.DELIVERED:
        obs.metrics.add_metric(name="WebhooksDelivered", unit="Count", value=1)


def lambda_handler(
    event: dict[str, Any], context: Any, deps: Callable[[], NotifyDeps] = notify_deps
) -> PartialItemFailureResponse:
    # A client's server failing is no failure of this function: its Errors alarm stays quiet.
    # In parallel: one slow receiver must not delay the batch's other deliveries.
    handle = lambda record: process_record(record, deps)  # noqa: E731
    return process_sqs_batch_in_parallel(event, handle, workers=len(event["Records"]))


handler = instrument(lambda_handler, obs, adapters)
