"""The AWS endpoint: moto's server on 127.0.0.1 (LocalStack-compatible API), and the
bucket, queue and dead-letter queue created idempotently on whatever endpoint is used."""

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

    @property
    def account(self) -> str:
        return self.queue_arn.split(":")[4]


def ensure_resources(config: LocalConfig, endpoint: str) -> Resources:
    s3 = aws_client("s3", endpoint, config.region)
    sqs = aws_client("sqs", endpoint, config.region)
    if config.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=config.bucket)
    q = config.queue_config
    dlq_url = sqs.create_queue(QueueName=config.dead_letter_queue)["QueueUrl"]
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={"VisibilityTimeout": str(q.dead_letter_visibility_timeout_seconds)},
    )
    dlq_arn = _arn(sqs, dlq_url)
    attributes = {
        "VisibilityTimeout": str(q.visibility_timeout_seconds),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": q.max_receive_count}
        ),
    }
    queue_url = sqs.create_queue(QueueName=config.queue)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=attributes)
    return Resources(config.bucket, queue_url, _arn(sqs, queue_url), dlq_url, dlq_arn)


def _arn(sqs: Any, queue_url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    arn: str = attrs["Attributes"]["QueueArn"]
    return arn
