"""The worker path on the running stack: real SQS redelivery, the dead-letter queue, the
real model, and the guarantees a client relies on (nothing half-done, nothing lost)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from dogdetect.adapters.aws import S3ImageStorage, SqsJobQueue, aws_client
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.jobs import job_to_body
from dogdetect.domain.models import Job, Prediction, Status, image_key_for
from dogdetect.service.sweep import SweepResult, sweep_unenqueued
from sqlalchemy import text

from local.launcher import RunningStack
from local.template import queue_config
from tests.conftest import TEST_VISIBILITY_TIMEOUT, eventually, queue_empty, submit, wait_terminal
from tests.corpus import CASES
from tests.fakes import sweep_deps_for
from tests.photos import photo

ATTEMPTS = queue_config().max_receive_count
REDRIVE_SECONDS = TEST_VISIBILITY_TIMEOUT * ATTEMPTS + 20


@pytest.fixture(scope="module")
def sqs(stack_settings: Settings) -> Any:
    return aws_client("sqs", stack_settings.aws_endpoint_url, stack_settings.aws_region)


def worker_log(stack: RunningStack) -> str:
    return (stack.state_dir / "poller.log").read_text(errors="replace")


def enqueue_without_submit(
    repository: PostgresPredictionRepository, stack_settings: Settings, sqs: Any
) -> Job:
    prediction_id = uuid.uuid4()
    key = image_key_for(prediction_id)
    repository.add_pending(prediction_id, key)
    job = Job(prediction_id, stack_settings.bucket_name, key)
    sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody=job_to_body(job))
    return job


def final_state(repository: PostgresPredictionRepository, job: Job, timeout: float) -> Prediction:
    def terminal() -> Prediction | None:
        found = repository.get(job.prediction_id)
        return found if found is not None and found.status.is_terminal else None

    result: Prediction = eventually(terminal, timeout)
    return result


def test_image_gone_from_bucket_is_retried_then_dead_lettered_and_error(
    repository: PostgresPredictionRepository,
    stack_settings: Settings,
    sqs: Any,
    stack: RunningStack,
) -> None:
    job = enqueue_without_submit(repository, stack_settings, sqs)  # no object was ever stored
    failed = final_state(repository, job, REDRIVE_SECONDS)
    assert failed.status is Status.ERROR
    assert failed.error == f"gave up after {ATTEMPTS} attempts: the stored image is missing"
    # The message then went to the dead-letter queue, whose consumer found the row ERROR.
    settled = f'"prediction_id":"{job.prediction_id}"'
    eventually(
        lambda: any(
            "prediction abandoned: already ERROR" in line and settled in line
            for line in worker_log(stack).splitlines()
        ),
        REDRIVE_SECONDS,
        what="the dead-letter consumer settled the message",
    )


def test_malformed_message_is_dead_lettered_then_consumed(
    stack_settings: Settings, sqs: Any, stack: RunningStack
) -> None:
    def consumed() -> int:
        return worker_log(stack).count("malformed dead letter consumed")

    before = consumed()
    poison = json.dumps({"image_prediction_id": "not-a-uuid", "marker": uuid.uuid4().hex})
    sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody=poison)
    eventually(lambda: consumed() > before, REDRIVE_SECONDS, what="the poison message consumed")
    assert poison not in worker_log(stack)  # the body is never logged


def test_undecodable_image_ends_error_at_once(
    repository: PostgresPredictionRepository,
    storage: S3ImageStorage,
    stack_settings: Settings,
    sqs: Any,
) -> None:
    prediction_id = uuid.uuid4()
    key = image_key_for(prediction_id)
    storage.put(key, b"\xff\xd8\xff\xe0 not really a jpeg")
    repository.add_pending(prediction_id, key)
    job = Job(prediction_id, stack_settings.bucket_name, key)
    sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody=job_to_body(job))
    # Well before a retry could happen: an undecodable image is not retried.
    failed = final_state(repository, job, TEST_VISIBILITY_TIMEOUT + 10)
    assert failed.status is Status.ERROR
    assert failed.error is not None and failed.error.startswith("the image could not be decoded: ")


def test_redelivered_message_for_a_finished_row_changes_nothing(
    api: httpx.Client, repository: PostgresPredictionRepository, stack_settings: Settings, sqs: Any
) -> None:
    prediction_id = submit(api, photo("dog.jpg")).json()["image_prediction_id"]
    first = wait_terminal(api, prediction_id)
    job = Job(
        uuid.UUID(prediction_id),
        stack_settings.bucket_name,
        image_key_for(uuid.UUID(prediction_id)),
    )
    queue_url = stack_settings.queue_url
    for _ in range(2):
        sqs.send_message(QueueUrl=queue_url, MessageBody=job_to_body(job))
    eventually(lambda: queue_empty(sqs, queue_url), 30)
    assert api.get(f"/image_prediction/{prediction_id}").json() == first


def stored_counts(settings: Settings) -> tuple[int, int]:
    """Rows in the predictions table and objects in the bucket, read straight from each."""
    with make_engine(settings.database_url).connect() as connection:
        rows = connection.scalar(text("SELECT count(*) FROM predictions"))
    s3 = aws_client("s3", settings.aws_endpoint_url, settings.aws_region)
    objects = s3.list_objects_v2(Bucket=settings.bucket_name).get("KeyCount", 0)
    return int(rows or 0), int(objects)


def test_rejected_uploads_store_nothing(api: httpx.Client, stack_settings: Settings) -> None:
    before = stored_counts(stack_settings)
    for case in (c for c in CASES if not c.accepted):
        assert submit(api, case.data()).status_code == case.expected_status
    assert stored_counts(stack_settings) == before


def test_sweeper_queues_an_upload_whose_message_was_lost(
    api: httpx.Client,
    repository: PostgresPredictionRepository,
    storage: S3ImageStorage,
    stack_settings: Settings,
    sqs: Any,
) -> None:
    prediction_id = uuid.uuid4()
    key = image_key_for(prediction_id)
    repository.add_pending(prediction_id, key)  # as if submit died after storing, before sending
    storage.put(key, photo("dog.jpg"))
    queue = SqsJobQueue(sqs, stack_settings.queue_url)

    result = SweepResult()
    deps = sweep_deps_for(repository, storage, queue, grace_seconds=0, limit=1000)
    sweep_unenqueued(deps, result)

    assert result.requeued >= 1
    done = wait_terminal(api, str(prediction_id))
    assert done["status"] == "DONE" and done["has_dog"] is True
