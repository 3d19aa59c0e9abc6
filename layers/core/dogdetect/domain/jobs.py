"""The jobs queue's messages, parsed strictly: a malformed body is a poison message.

Two shapes arrive: the job JSON submit and the sweeper send, and S3's event notification for
an object created under `incoming/` (a direct upload, dogdetect.service.uploads). S3 sends one
record per message, its key URL-encoded (a space is `+`), and an `s3:TestEvent` when the
bucket's notification is configured: that one, like any object that is not
`incoming/<canonical id>`, is nothing to do (`parse_message` gives None; it is consumed)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any
from urllib.parse import unquote_plus

from dogdetect.domain.models import INCOMING_PREFIX, Job, canonical_id

logger = logging.getLogger(__name__)

S3_TEST_EVENT = "s3:TestEvent"


class MalformedJob(ValueError):
    pass


def parse_message(body: str) -> Job | None:
    """The job a message asks for, or None for one to consume and ignore."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and "Records" in payload:
            return _uploaded(payload["Records"])
        if isinstance(payload, dict) and payload.get("Event") == S3_TEST_EVENT:
            logger.info("S3 test event consumed")
            return None
        return Job(
            prediction_id=uuid.UUID(payload["image_prediction_id"]),
            bucket=str(payload["bucket"]),
            key=str(payload["key"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # The class only: the message may quote the body (an S3 key is a capability).
        raise MalformedJob(f"malformed job message: {type(exc).__name__}") from exc


def parse_job(body: str) -> Job:
    """`parse_message` where only a job will do (a dead letter names a prediction)."""
    job = parse_message(body)
    if job is None:
        raise MalformedJob("malformed job message: it names no prediction")
    return job


def _uploaded(records: list[dict[str, Any]]) -> Job | None:
    (record,) = records  # S3 sends one record per message; more is not S3's (ValueError)
    if not str(record["eventName"]).startswith("ObjectCreated:"):
        logger.info("S3 event %s consumed: not an object created", record["eventName"])
        return None
    s3 = record["s3"]
    key = unquote_plus(str(s3["object"]["key"]))
    prediction_id = _prediction_of(key)
    if prediction_id is None:
        logger.warning("S3 event for an object outside %s<id> consumed", INCOMING_PREFIX)
        return None
    size = s3["object"]["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise TypeError("object size")
    return Job(prediction_id, str(s3["bucket"]["name"]), key, size)


def _prediction_of(key: str) -> uuid.UUID | None:
    """The id of `incoming/<id>`, spelled as the service spells ids; None for another key."""
    if not key.startswith(INCOMING_PREFIX):
        return None
    return canonical_id(key.removeprefix(INCOMING_PREFIX))


def job_to_body(job: Job) -> str:
    return json.dumps(
        {"image_prediction_id": str(job.prediction_id), "bucket": job.bucket, "key": job.key}
    )
