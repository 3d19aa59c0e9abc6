"""SQS-triggered handlers: each record handled on its own, failures reported per record
(ReportBatchItemFailures), so only the failed messages return to the queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

_processor = BatchProcessor(event_type=EventType.SQS)


def process_sqs_batch(
    event: dict[str, Any], context: Any, handle: Callable[[SQSRecord], None]
) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=handle, processor=_processor, context=context
    )
