"""The notify function's role, as the template writes it, on the local endpoint (IAM
enforced): it may receive from its queue and hide a failed try for its backoff
(ChangeMessageVisibility), and nothing else; the code that ends predictions may send to that
queue. Checked on a queue of the test's own standing in for NotificationsQueue (the stack's
own notify consumes the real one)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dogdetect.config import Settings

from local.iam import LocalNames, role_policy
from local.launcher import RunningStack
from tests.integration.test_local_iam import client, identity_with, refused

# LocalStack enforces no IAM: not collected with --emulator localstack.
pytestmark = pytest.mark.iam


@pytest.fixture(scope="module")
def admin(stack: RunningStack) -> dict[str, str]:
    return {k: stack.environment[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


@pytest.fixture
def notifications(stack_settings: Settings, admin: dict[str, str]) -> Iterator[tuple[Any, str]]:
    sqs = client("sqs", stack_settings, admin)
    url = sqs.create_queue(QueueName=f"test-notifications-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield sqs, url
    sqs.delete_queue(QueueUrl=url)


def names_with(
    stack_settings: Settings, admin: dict[str, str], notifications_url: str
) -> LocalNames:
    sqs = client("sqs", stack_settings, admin)
    return LocalNames(
        region="us-east-1",
        account=stack_settings.queue_url.split("/")[-2],
        bucket=stack_settings.bucket_name,
        queue_urls={
            "JobsQueue": stack_settings.queue_url,
            "JobsDeadLetterQueue": sqs.get_queue_url(QueueName="dogdetect-jobs-dlq")["QueueUrl"],
            "NotificationsQueue": notifications_url,
            "NotificationsDeadLetterQueue": notifications_url,
        },
    )


def test_notify_may_postpone_a_try_and_nothing_more(
    stack_settings: Settings, admin: dict[str, str], notifications: tuple[Any, str]
) -> None:
    admin_sqs, url = notifications
    names = names_with(stack_settings, admin, url)
    notify = identity_with(role_policy("NotifyFunctionRole", names), stack_settings, admin)
    sqs, s3 = client("sqs", stack_settings, notify), client("s3", stack_settings, notify)

    admin_sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"webhook_id": "msg_1"}))
    (message,) = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=60
    )
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    assert refused(lambda: sqs.send_message(QueueUrl=url, MessageBody="{}"))
    assert refused(lambda: sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody="{}"))
    assert refused(lambda: sqs.receive_message(QueueUrl=stack_settings.queue_url))
    assert refused(lambda: s3.get_object(Bucket=names.bucket, Key="uploads/x"))


@pytest.mark.parametrize(
    "role", ["PredictFunctionRole", "DeadLetterFunctionRole", "SweepFunctionRole"]
)
def test_the_code_that_ends_predictions_may_announce_them(
    role: str, stack_settings: Settings, admin: dict[str, str], notifications: tuple[Any, str]
) -> None:
    _, url = notifications
    names = names_with(stack_settings, admin, url)
    sender = client(
        "sqs", stack_settings, identity_with(role_policy(role, names), stack_settings, admin)
    )
    sender.send_message(QueueUrl=url, MessageBody="{}")
    assert refused(lambda: sender.receive_message(QueueUrl=url))
