"""Submit with one real dependency dead: a 503-worthy error and nothing half-done behind."""

from __future__ import annotations

from typing import Any

import pytest
from dogdetect.adapters.aws import S3ImageStorage, SqsJobQueue, aws_client
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.service.submit import SubmitDeps, accept_upload

from local.launcher import free_port
from tests.fakes import BACKGROUND
from tests.integration.test_pipeline import stored_counts
from tests.photos import photo


def queued(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


def deps(settings: Settings, repository: Any, storage: Any, queue: Any) -> SubmitDeps:
    return SubmitDeps(
        repository,
        storage,
        queue,
        settings.max_upload_bytes,
        settings.max_image_pixels,
        background=BACKGROUND,
    )


def test_all_up_stores_row_object_and_message(
    stack_settings: Settings,
    repository: PostgresPredictionRepository,
    storage: S3ImageStorage,
    own_queue: tuple[Any, str],
) -> None:
    sqs, url = own_queue
    before = stored_counts(stack_settings)
    prediction = accept_upload(
        photo("dog.jpg"), deps(stack_settings, repository, storage, SqsJobQueue(sqs, url))
    )
    rows, objects = stored_counts(stack_settings)
    assert (rows, objects) == (before[0] + 1, before[1] + 1)
    assert queued(sqs, url) == 1
    assert storage.exists(prediction.image_key)
    repository.remove(prediction.id)
    storage.delete(prediction.image_key)


def test_database_down_stores_and_queues_nothing(
    stack_settings: Settings, storage: S3ImageStorage, own_queue: tuple[Any, str]
) -> None:
    sqs, url = own_queue
    dead_db = PostgresPredictionRepository(
        make_engine(f"postgresql+pg8000://postgres@127.0.0.1:{free_port()}/x", connect_timeout=1)
    )
    before = stored_counts(stack_settings)
    with pytest.raises(DependencyUnavailable):
        accept_upload(
            photo("dog.jpg"), deps(stack_settings, dead_db, storage, SqsJobQueue(sqs, url))
        )
    assert stored_counts(stack_settings) == before
    assert queued(sqs, url) == 0


def test_storage_down_leaves_no_row(
    stack_settings: Settings, repository: PostgresPredictionRepository, own_queue: tuple[Any, str]
) -> None:
    sqs, url = own_queue
    dead_s3 = S3ImageStorage(aws_client("s3", dead_endpoint(), "us-east-1"), "dogdetect-uploads")
    before = stored_counts(stack_settings)
    with pytest.raises(DependencyUnavailable):
        accept_upload(
            photo("dog.jpg"), deps(stack_settings, repository, dead_s3, SqsJobQueue(sqs, url))
        )
    assert stored_counts(stack_settings) == before
    assert queued(sqs, url) == 0


def test_queue_down_leaves_no_row_and_no_object(
    stack_settings: Settings, repository: PostgresPredictionRepository, storage: S3ImageStorage
) -> None:
    dead_sqs = SqsJobQueue(aws_client("sqs", dead_endpoint(), "us-east-1"), "http://q")
    before = stored_counts(stack_settings)
    with pytest.raises(DependencyUnavailable):
        accept_upload(photo("dog.jpg"), deps(stack_settings, repository, storage, dead_sqs))
    assert stored_counts(stack_settings) == before
