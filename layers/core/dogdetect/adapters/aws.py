"""S3 storage and SQS queue adapters (botocore). Any endpoint works: AWS, LocalStack or moto,
chosen by `AWS_ENDPOINT_URL`. Connection faults become `DependencyUnavailable`."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dogdetect.domain.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.domain.jobs import job_to_body
from dogdetect.domain.models import Job
from dogdetect.domain.notifications import Notification, notification_to_body

# Fail fast: a client waiting on a dead endpoint is worse than a quick 503 it can retry. An
# endpoint that accepts connections but never answers (a paused process, a black hole) costs
# at most 2 attempts x 3 s. S3 and SQS answer these small calls in milliseconds.
CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=3,
    retries={"total_max_attempts": 2, "mode": "standard"},
    # S3 checks the body against Content-MD5/TLS anyway; a client CRC32 on every upload is CPU
    # on the submit path, and its aws-chunked encoding is what some emulators trip on.
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)
# S3 signs with SigV4 everywhere, presigned POSTs included: for those botocore's default in
# us-east-1 is still the deprecated SigV2 (AWSAccessKeyId + signature fields).
S3_CLIENT_CONFIG = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))
# In AWS (no endpoint override), the bucket's own regional host: a presigned POST's URL is
# otherwise S3's global address (<bucket>.s3.amazonaws.com), which answers a new bucket outside
# us-east-1 with a 307 for hours (a form POST does not follow it) and which regions opened
# since 2019 refuse. An emulator's endpoint (moto, LocalStack) keeps botocore's path style.
S3_AWS_CLIENT_CONFIG = S3_CLIENT_CONFIG.merge(
    Config(s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"})
)
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


def aws_client(service: str, endpoint_url: str | None, region: str) -> Any:
    # botocore's own client, as boto3 would make it: boto3 adds only what this code never
    # calls (resources, S3 managed transfers), and importing it (s3transfer, multiprocessing)
    # cost ~0.1 s of every function's cold start. A session per client, as boto3.Session():
    # credentials are resolved when the client is made. The sessions share one data loader,
    # which parses botocore's endpoint and partition files once, not once per client (40 ms
    # of predict's cold start, which makes two).
    session = botocore.session.get_session()
    session.register_component("data_loader", _data_loader())
    return session.create_client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=_config_for(service, endpoint_url),
    )


@functools.cache
def _data_loader() -> botocore.loaders.Loader:
    """botocore's loader of its own data files, as each session would make it: read-only
    data, cached as parsed."""
    return botocore.loaders.create_loader()


def _config_for(service: str, endpoint_url: str | None) -> Config:
    if service != "s3":
        return CLIENT_CONFIG
    return S3_CLIENT_CONFIG if endpoint_url else S3_AWS_CLIENT_CONFIG


@contextmanager
def _unavailable_as(dependency: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
            raise
        raise DependencyUnavailable(dependency) from exc
    except BotoCoreError as exc:
        raise DependencyUnavailable(dependency) from exc


def _error_code(exc: BaseException | None) -> str | None:
    return exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None


class S3ImageStorage:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        with _unavailable_as("storage"):
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=data)

    def put_new(self, key: str, data: bytes) -> bool:
        """A conditional write (If-None-Match: *): S3 answers 412 when the key exists."""
        try:
            with _unavailable_as("storage"):
                self._s3.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
                return True
        except DependencyUnavailable as exc:
            if _error_code(exc.__cause__) == "PreconditionFailed":
                return False
            raise  # 409 ConditionalRequestConflict too: a write under way; the job is retried

    def get(self, key: str) -> bytes:
        try:
            with _unavailable_as("storage"):
                body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
                return body
        except ClientError as exc:
            # No key in the message: it ends in the logs (see docs/security.md).
            raise StoredImageMissing("the queued image is not in the bucket") from exc

    def delete(self, key: str) -> None:
        with _unavailable_as("storage"):
            self._s3.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, key: str) -> bool:
        """False only when S3 says the key is not there (404). A 403 is a refusal, not an
        absence: S3 answers a missing key 403 to a role without s3:ListBucket on the bucket,
        and the sweep acting on a guess would delete a row whose photo is there or end ERROR
        an upload that came. So it raises DependencyUnavailable, as any failure to answer;
        every role that calls this has s3:ListBucket (tests/infra/test_iam.py)."""
        try:
            with _unavailable_as("storage"):
                self._s3.head_object(Bucket=self.bucket, Key=key)
                return True
        except ClientError:
            return False

    def ping(self) -> None:
        with _unavailable_as("storage"):
            self._s3.head_bucket(Bucket=self.bucket)


class SqsJobQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url

    def send(self, job: Job) -> None:
        with _unavailable_as("queue"):
            self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=job_to_body(job))

    def depth(self) -> int:
        """Messages waiting or in flight (approximate, as SQS reports it)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        with _unavailable_as("queue"):
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=names
            )["Attributes"]
        return sum(int(attributes[name]) for name in names)

    def ping(self) -> None:
        with _unavailable_as("queue"):
            self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])


class SqsNotificationQueue:
    """The notifications queue: finished predictions' webhooks, for the notify function."""

    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url

    def send(self, notification: Notification) -> None:
        with _unavailable_as("notifications queue"):
            self._sqs.send_message(
                QueueUrl=self._queue_url, MessageBody=notification_to_body(notification)
            )

    def postpone(self, receipt_handle: str, seconds: int) -> None:
        with _unavailable_as("notifications queue"):
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
