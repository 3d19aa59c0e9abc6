"""The local SQS event source as Lambda's: it waits up to the batching window to fill a batch,
deletes what the function processed, and leaves a failed or timed-out batch to the queue's
visibility timeout. SQS is moto in process; the function is a plain object."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.poller import EventSource, SourceConfig
from local.runtime import FunctionTimeout

REGION = "us-east-1"


class Function:
    def __init__(self, fault: Exception | None = None, fail_ids: set[str] | None = None) -> None:
        self.fault, self.fail_ids = fault, fail_ids or set()
        self.batches: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.batches.append([r["body"] for r in event["Records"]])
        if self.fault is not None:
            raise self.fault
        failed = [r["messageId"] for r in event["Records"] if r["body"] in self.fail_ids]
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def source(sqs: Any, function: Function, window: float, batch_size: int = 10) -> EventSource:
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    config = SourceConfig(
        "predict", url, "arn:aws:sqs:us-east-1:123456789012:jobs", batch_size, window
    )
    return EventSource(config, function, sqs, REGION)  # type: ignore[arg-type]


def send_later(sqs: Any, url: str, body: str, delay: float) -> threading.Thread:
    thread = threading.Timer(delay, lambda: sqs.send_message(QueueUrl=url, MessageBody=body))
    thread.start()
    return thread


def in_flight(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_the_batching_window_gathers_what_arrives_within_it(sqs: Any) -> None:
    function = Function()
    events = source(sqs, function, window=1.0)
    sqs.send_message(QueueUrl=events.config.queue_url, MessageBody="first")
    late = send_later(sqs, events.config.queue_url, "second", 0.4)
    started = time.monotonic()
    assert events.poll_once() == 2
    late.join()
    assert function.batches == [["first", "second"]]
    assert time.monotonic() - started >= 0.9  # it waited the window out for more


def test_without_a_window_the_first_message_goes_alone(sqs: Any) -> None:
    function = Function()
    events = source(sqs, function, window=0)
    sqs.send_message(QueueUrl=events.config.queue_url, MessageBody="first")
    late = send_later(sqs, events.config.queue_url, "second", 0.4)
    assert events.poll_once() == 1
    late.join()
    assert function.batches == [["first"]]


def test_a_full_batch_does_not_wait_for_the_window(sqs: Any) -> None:
    events = source(sqs, Function(), window=5.0, batch_size=2)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=events.config.queue_url, MessageBody=body)
    started = time.monotonic()
    assert events.poll_once() == 2
    assert time.monotonic() - started < 2


def test_processed_messages_are_deleted_and_reported_failures_stay(sqs: Any) -> None:
    events = source(sqs, Function(fail_ids={"bad"}), window=0.2)
    for body in ("good", "bad"):
        sqs.send_message(QueueUrl=events.config.queue_url, MessageBody=body)
    assert events.poll_once() == 2
    assert in_flight(sqs, events.config.queue_url) == 1  # "bad", back after the timeout


def test_a_timed_out_invocation_leaves_the_whole_batch_to_the_queue(sqs: Any) -> None:
    events = source(sqs, Function(fault=FunctionTimeout("Task timed out")), window=0.2)
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=events.config.queue_url, MessageBody=body)
    assert events.poll_once() == 3
    assert in_flight(sqs, events.config.queue_url) == 3
