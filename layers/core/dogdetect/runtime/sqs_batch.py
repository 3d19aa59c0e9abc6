"""SQS-triggered handlers: failures reported per record (ReportBatchItemFailures), so only
the failed messages return to the queue. `process_sqs_batch` handles each record on its own
(Powertools' BatchProcessor), `process_sqs_batch_in_parallel` each on a thread of its own;
`parse_records` and `partial_response` serve a handler that processes the whole batch at
once, answering as BatchProcessor would.

Powertools' batch package (asyncio among its imports, 50 ms) is imported when a batch is
processed with it, not at import: predict's cold start, which never uses it, does not pay."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

T = TypeVar("T")
logger = logging.getLogger(__name__)


@functools.cache
def _processor(raise_when_all_fail: bool) -> BatchProcessor:
    """False: for a consumer whose records fail for reasons outside it (a client's webhook
    answering 500), a batch of failures is reported as such, and the invocation, which did
    its work, succeeds."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=raise_when_all_fail)


def process_sqs_batch(
    event: dict[str, Any],
    context: Any,
    handle: Callable[[SQSRecord], None],
    fail_invocation_when_all_fail: bool = True,
) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(
        event=event,
        record_handler=handle,
        processor=_processor(fail_invocation_when_all_fail),
        context=context,
    )


def process_sqs_batch_in_parallel(
    event: dict[str, Any], handle: Callable[[SQSRecord], None], workers: int
) -> PartialItemFailureResponse:
    """Each record on a thread of its own, `workers` at most at once, for a consumer whose
    records wait on servers outside (webhook receivers): a batch lasts as long as its slowest
    record, not the sum of them, so one slow receiver holds up no other record of its batch.
    A record that raises is a batch item failure; the invocation succeeds either way."""
    records = [SQSRecord(raw) for raw in event["Records"]]

    def failed(record: SQSRecord) -> str | None:
        try:
            handle(record)
        except Exception:
            logger.debug("record %s failed", record.message_id, exc_info=True)
            return record.message_id
        return None

    if not records:
        return {"batchItemFailures": []}
    with ThreadPoolExecutor(max(1, min(workers, len(records))), "record") as pool:
        ids = [i for i in pool.map(failed, records) if i is not None]
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}


def parse_records(
    event: dict[str, Any], parse: Callable[[SQSRecord], T], poison: type[Exception]
) -> tuple[list[T], list[str]]:
    """Each record parsed, and the message ids of the records `parse` refused with `poison`.
    A poison message is logged by its id and the error's text, never its body (a `poison`
    error must not quote the body: `dogdetect.domain.jobs.MalformedJob` names only a class)."""
    parsed: list[T] = []
    refused: list[str] = []
    for raw in event["Records"]:
        record = SQSRecord(raw)
        try:
            parsed.append(parse(record))
        except poison as exc:
            logger.warning("message %s refused: %s", record.message_id, exc)
            refused.append(record.message_id)
    return parsed, refused


def partial_response(event: dict[str, Any], failed: Collection[str]) -> PartialItemFailureResponse:
    """The failed messages' ids, in the event's order. As BatchProcessor does, a batch in which
    every record failed raises instead: the invocation fails, the whole batch returns."""
    ids = [record["messageId"] for record in event["Records"]]
    failed = set(failed)
    if ids and all(i in failed for i in ids):
        from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

        raise BatchProcessingError(f"All {len(ids)} records failed processing.")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in ids if i in failed]}
