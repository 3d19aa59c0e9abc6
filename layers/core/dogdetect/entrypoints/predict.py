"""predict: SQS-triggered. Runs YOLO on the batch's images and reports partial batch failures
so that only the failed messages return to the queue."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from dogdetect.domain.jobs import MalformedJob, parse_message
from dogdetect.domain.models import Status
from dogdetect.runtime import use_cases
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.lifecycle import load_during_init
from dogdetect.runtime.observability import instrument, observability
from dogdetect.runtime.sqs_batch import parse_records, partial_response
from dogdetect.service.predict import PredictDeps, QueuedJob, process_jobs

if TYPE_CHECKING:  # Powertools' batch package is not imported by predict's init (sqs_batch)
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

obs = observability("predict")
# The predictions a batch finished, by status (the dashboard's; deadletter and sweep count the
# ERRORs they decide: PredictionsAbandoned, StuckPredictionsFailed, UploadsNeverReceived).
ENDED_METRICS = {Status.DONE: "PredictionsDone", Status.ERROR: "PredictionsFailed"}
# Built once per container, in its init (below) when it runs in Lambda.
predict_deps = use_cases.once(use_cases.predict_deps)


def queued_job(record: SQSRecord) -> QueuedJob | None:
    """None: a message to consume and ignore (S3's test event, an object not ours)."""
    job = parse_message(record.body)
    attempt = int(record.attributes.approximate_receive_count or 1)
    return QueuedJob(record.message_id, job, attempt) if job is not None else None


def lambda_handler(
    event: dict[str, Any], context: Any, deps: Callable[[], PredictDeps] = predict_deps
) -> PartialItemFailureResponse:
    # A malformed body (a poison message) fails alone, before anything is loaded.
    parsed, poison = parse_records(event, queued_job, MalformedJob)
    jobs = [queued for queued in parsed if queued is not None]
    ended: Counter[Status] = Counter()
    failed = process_jobs(jobs, deps(), ended) if jobs else []
    if processed := len(jobs) - len(failed):
        obs.metrics.add_metric(name="ImagesProcessed", unit="Count", value=processed)
    for status, metric in ENDED_METRICS.items():
        if ended[status]:
            obs.count(metric, ended[status])
    return partial_response(event, [*poison, *(q.message_id for q in failed)])


handler = instrument(lambda_handler, obs, adapters)
load_during_init(predict_deps)  # the model loads in Lambda's init phase, not in an event
