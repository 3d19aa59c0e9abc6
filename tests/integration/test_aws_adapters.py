"""The S3 and SQS adapters against the stack's AWS endpoint (moto server)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from dogdetect.adapters.aws import S3ImageStorage, SqsJobQueue, aws_client
from dogdetect.domain.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.domain.jobs import parse_job
from dogdetect.domain.models import Job

from local.launcher import free_port


def test_storage_round_trip(storage: S3ImageStorage) -> None:
    key = f"uploads/{uuid.uuid4()}"
    storage.put(key, b"\x89PNG bytes")
    assert storage.exists(key)
    assert storage.get(key) == b"\x89PNG bytes"
    storage.delete(key)
    assert not storage.exists(key)


def test_missing_object_is_reported_as_missing(storage: S3ImageStorage) -> None:
    with pytest.raises(StoredImageMissing):
        storage.get(f"uploads/{uuid.uuid4()}")


def test_storage_ping(storage: S3ImageStorage) -> None:
    storage.ping()


def test_queue_sends_the_job_the_worker_parses(own_queue: tuple[Any, str]) -> None:
    sqs, url = own_queue
    job = Job(uuid.uuid4(), "dogdetect-uploads", "uploads/x")
    SqsJobQueue(sqs, url).send(job)
    messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [parse_job(m["Body"]) for m in messages] == [job]


@pytest.mark.parametrize("service", ["s3", "sqs"])
def test_unreachable_endpoint_is_dependency_unavailable(service: str) -> None:
    dead = aws_client(service, f"http://127.0.0.1:{free_port()}", "us-east-1")
    adapter = S3ImageStorage(dead, "b") if service == "s3" else SqsJobQueue(dead, "http://q")
    with pytest.raises(DependencyUnavailable):
        adapter.ping()
