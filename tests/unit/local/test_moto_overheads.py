"""moto's server without its per-request overheads (local/moto_overheads.py): a receive keeps
moto's retention rule without counting the queue for each message it hands out, and routing
lists moto's modules once. moto in process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import backends, mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.sqs.models import Queue, SQSBackend, sqs_backends

from local.moto_overheads import install

REGION = "us-east-1"
RETENTION_S = 60


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # moto's own are put back after the test (monkeypatch restores what it set).
    original = SQSBackend.is_message_valid_based_on_retention_period
    monkeypatch.setattr(SQSBackend, "is_message_valid_based_on_retention_period", original)
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    install()


def _queue(sqs: Any, messages: int) -> str:
    url: str = sqs.create_queue(
        QueueName="jobs", Attributes={"MessageRetentionPeriod": str(RETENTION_S)}
    )["QueueUrl"]
    for i in range(messages):
        sqs.send_message(QueueUrl=url, MessageBody=f"job {i}")
    return url


def _sent_long_ago(seconds: float) -> None:
    queue = sqs_backends[DEFAULT_ACCOUNT_ID][REGION].get_queue("jobs")
    for message in queue._messages:
        sent: Any = message.sent_timestamp  # moto sets it when the message is sent
        message.sent_timestamp = sent - int(seconds * 1000)


def _bodies(sqs: Any, url: str) -> list[str]:
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [m["Body"] for m in received.get("Messages", [])]


@pytest.mark.usefixtures("installed")
def test_a_message_within_its_retention_period_is_handed_out(sqs: Any) -> None:
    url = _queue(sqs, 2)
    _sent_long_ago(RETENTION_S - 5)
    assert sorted(_bodies(sqs, url)) == ["job 0", "job 1"]


@pytest.mark.usefixtures("installed")
def test_a_message_past_its_retention_period_is_not(sqs: Any) -> None:
    url = _queue(sqs, 2)
    _sent_long_ago(RETENTION_S + 5)
    assert _bodies(sqs, url) == []


def _attribute_builds(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    """How often one receive of 10 from a queue of 50 builds the queue's attributes."""
    url = _queue(sqs, 50)
    builds = []
    counted = Queue.attributes.fget  # type: ignore[attr-defined]

    def counting(queue: Queue) -> Any:
        builds.append(queue.name)
        return counted(queue)

    monkeypatch.setattr(Queue, "attributes", property(counting))
    assert len(_bodies(sqs, url)) == 10
    return len(builds)


def test_moto_alone_counts_the_queue_for_each_message_it_hands_out(
    sqs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _attribute_builds(sqs, monkeypatch) >= 10  # at least once per message


@pytest.mark.usefixtures("installed")
def test_a_receive_does_not_count_the_queue(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _attribute_builds(sqs, monkeypatch) == 0


def test_routing_lists_the_same_modules_without_reading_the_folder_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listed = list(backends.list_of_moto_modules())
    monkeypatch.setattr(backends, "list_of_moto_modules", backends.list_of_moto_modules)
    install()
    reads: list[str] = []

    def listdir(path: str) -> list[str]:
        reads.append(path)
        return []

    monkeypatch.setattr(os, "listdir", listdir)  # what moto.backends lists its folder with
    assert list(backends.list_of_moto_modules()) == listed
    assert "sqs" in listed and "s3" in listed
    assert reads == []
