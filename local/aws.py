"""The AWS endpoint: moto's server on 127.0.0.1 (LocalStack-compatible API), and the
bucket, the jobs and notifications queues and their dead-letter queues created idempotently on
whatever endpoint is used."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dogdetect.adapters.aws import aws_client

from local.aws_server import ADMINISTRATOR
from local.config import LocalConfig
from local.files import write_private
from local.processes import spawn, stop, wait_until

# Another endpoint (LocalStack, AWS_ENDPOINT_URL) is signed with these unless the environment
# gives credentials; our own moto server makes the stack an identity of its own instead.
FAKE_CREDENTIALS = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "test")


IDENTITIES_FILE = "aws-identities.json"


@dataclass(frozen=True)
class Moto:
    process: subprocess.Popen[bytes]
    credentials: dict[str, str]  # the stack's own identity: an administrator


def start_moto(config: LocalConfig, log: Path, restart: bool = False) -> Moto:
    """moto's server with S3 mirrored to the state folder and IAM enforced
    (local/aws_server.py). A new stack starts with new identities; a `restart` gets back
    those the stack recorded (`remember_identities`)."""
    identities = config.state_dir / IDENTITIES_FILE
    if not restart:
        identities.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "local.aws_server", "--host", config.host]
    argv += ["--port", str(config.aws_port), "--data", str(config.state_dir / "s3")]
    argv += ["--identities", str(identities)]
    process = spawn(argv, log)

    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited; see {log}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex((config.host, config.aws_port)) == 0

    try:
        wait_until(listening, 60, "moto server")
    except BaseException:
        stop(process)
        raise
    administrator = json.loads(identities.read_text())[ADMINISTRATOR]
    credentials = {k: administrator[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    return Moto(process, credentials)


def remember_identities(config: LocalConfig, identities: dict[str, dict[str, Any]]) -> None:
    """Record users the stack made, so that a restarted server knows them again."""
    path = config.state_dir / IDENTITIES_FILE
    write_private(path, json.dumps({**json.loads(path.read_text()), **identities}))


@dataclass(frozen=True)
class Resources:
    bucket: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str
    notifications_queue_url: str = ""
    notifications_queue_arn: str = ""
    notifications_dead_letter_queue_url: str = ""
    notifications_dead_letter_queue_arn: str = ""

    @property
    def account(self) -> str:
        return self.queue_arn.split(":")[4]

    @property
    def queues(self) -> dict[str, tuple[str, str]]:
        """The template's queues by logical id: (URL, ARN) of each on the local endpoint."""
        return {
            "JobsQueue": (self.queue_url, self.queue_arn),
            "JobsDeadLetterQueue": (self.dead_letter_queue_url, self.dead_letter_queue_arn),
            "NotificationsQueue": (self.notifications_queue_url, self.notifications_queue_arn),
            "NotificationsDeadLetterQueue": (
                self.notifications_dead_letter_queue_url,
                self.notifications_dead_letter_queue_arn,
            ),
        }


def ensure_resources(config: LocalConfig, endpoint: str) -> Resources:
    s3 = aws_client("s3", endpoint, config.region)
    sqs = aws_client("sqs", endpoint, config.region)
    if config.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=config.bucket)
    q, n = config.queue_config, config.notifications_config
    jobs = _redriven(
        sqs,
        (config.queue, q.visibility_timeout_seconds),
        (config.dead_letter_queue, q.dead_letter_visibility_timeout_seconds),
        q.max_receive_count,
    )
    notifications = _redriven(
        sqs,
        (config.notifications_queue, n.visibility_timeout_seconds),
        (config.notifications_dead_letter_queue, n.dead_letter_visibility_timeout_seconds),
        n.max_receive_count,
    )
    return Resources(config.bucket, *jobs, *notifications)


def _redriven(
    sqs: Any, queue: tuple[str, int], dead_letters: tuple[str, int], max_receive_count: int
) -> tuple[str, str, str, str]:
    """A queue and its dead-letter queue, each (name, visibility timeout): their URLs and
    ARNs (queue URL, queue ARN, dead-letter URL, dead-letter ARN)."""
    dlq_url = sqs.create_queue(QueueName=dead_letters[0])["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=dlq_url, Attributes={"VisibilityTimeout": str(dead_letters[1])}
    )
    dlq_arn = _arn(sqs, dlq_url)
    attributes = {
        "VisibilityTimeout": str(queue[1]),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        ),
    }
    queue_url = sqs.create_queue(QueueName=queue[0])["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=attributes)
    return queue_url, _arn(sqs, queue_url), dlq_url, dlq_arn


def _arn(sqs: Any, queue_url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    arn: str = attrs["Attributes"]["QueueArn"]
    return arn
