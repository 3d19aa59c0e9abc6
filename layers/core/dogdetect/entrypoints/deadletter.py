"""deadletter: drains the jobs' dead-letter queue. Each message there is a prediction that ran
out of attempts: its row is marked ERROR with the reason, and the message is consumed. Partial
batch failures: only a record whose database update failed returns to the queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.observability import instrument, observability
from dogdetect.runtime.sqs_batch import process_sqs_batch
from dogdetect.service.deadletter import DeadLetterDeps, settle_dead_letter

obs = observability("deadletter")
deadletter_deps = use_cases.current(use_cases.deadletter_deps)


def process_record(record: SQSRecord, deps: Callable[[], DeadLetterDeps]) -> None:
    if settle_dead_letter(record.body, deps).abandoned:
        obs.metrics.add_metric(name="PredictionsAbandoned", unit="Count", value=1)


def lambda_handler(
    event: dict[str, Any], context: Any, deps: Callable[[], DeadLetterDeps] = deadletter_deps
) -> PartialItemFailureResponse:
    return process_sqs_batch(event, context, lambda record: process_record(record, deps))


handler = instrument(lambda_handler, obs, adapters)
