"""predict: SQS-triggered. Runs YOLO on each queued image and reports partial batch failures
so that only the failed messages return to the queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from dogdetect.detector import load_detector
from dogdetect.jobs import parse_job
from dogdetect.observability import instrument, observability
from dogdetect.service.predict import PredictDeps, process_job
from dogdetect.sqs_batch import process_sqs_batch
from dogdetect.wiring import adapters

obs = observability("predict")
_deps: PredictDeps | None = None


def predict_deps() -> PredictDeps:
    """Built on the first event and kept: the model loads once per container."""
    global _deps
    if _deps is None:
        a = adapters()
        _deps = PredictDeps(
            repository=a.repository,
            storage=a.storage,
            detector=load_detector(a.settings),
            dog_confidence=a.settings.dog_confidence,
            max_image_pixels=a.settings.max_image_pixels,
            max_receive_count=a.settings.max_receive_count,
        )
    return _deps


def process_record(record: SQSRecord, deps: Callable[[], PredictDeps]) -> None:
    job = parse_job(record.body)  # a malformed body fails before anything is loaded
    obs.correlate(job.prediction_id)
    attempt = int(record.attributes.approximate_receive_count or 1)
    process_job(job, attempt, deps())
    obs.metrics.add_metric(name="ImagesProcessed", unit="Count", value=1)


def lambda_handler(
    event: dict[str, Any], context: Any, deps: Callable[[], PredictDeps] = predict_deps
) -> PartialItemFailureResponse:
    return process_sqs_batch(event, context, lambda record: process_record(record, deps))


handler = instrument(lambda_handler, obs)
