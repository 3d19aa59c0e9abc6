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

from local.config import LocalConfig
from local.processes import spawn, stop, wait_until

# moto accepts any credentials; boto3 needs some to sign requests.
FAKE_CREDENTIALS = dict.fromkeys(("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "test")


def start_moto(config: LocalConfig, log: Path) -> subprocess.Popen[bytes]:
    """moto's server with S3 mirrored to the state folder (local/aws_server.py)."""
    argv = [sys.executable, "-m", "local.aws_server", "--host", config.host]
    argv += ["--port", str(config.aws_port), "--data", str(config.state_dir / "s3")]
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
    return process


@dataclass(frozen=True)
class Resources:
    bucket: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str


def ensure_resources(config: LocalConfig, endpoint: str) -> Resources:
    s3 = aws_client("s3", endpoint, config.region)
    sqs = aws_client("sqs", endpoint, config.region)
    if config.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=config.bucket)
    dlq_url = sqs.create_queue(QueueName=config.dead_letter_queue)["QueueUrl"]
    dlq_arn = _arn(sqs, dlq_url)
    q = config.queue_config
    attributes = {
        "VisibilityTimeout": str(q.visibility_timeout_seconds),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": q.max_receive_count}
        ),
    }
    queue_url = sqs.create_queue(QueueName=config.queue)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=attributes)
    return Resources(config.bucket, queue_url, _arn(sqs, queue_url), dlq_url)


def _arn(sqs: Any, queue_url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    arn: str = attrs["Attributes"]["QueueArn"]
    return arn
