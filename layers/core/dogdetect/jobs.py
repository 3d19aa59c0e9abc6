"""The queue message format, parsed strictly: a malformed body is a poison message."""

from __future__ import annotations

import json
import uuid

from dogdetect.models import Job


class MalformedJob(ValueError):
    pass


def parse_job(body: str) -> Job:
    try:
        payload = json.loads(body)
        return Job(
            prediction_id=uuid.UUID(payload["image_prediction_id"]),
            bucket=str(payload["bucket"]),
            key=str(payload["key"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedJob(f"malformed job message: {type(exc).__name__}") from exc


def job_to_body(job: Job) -> str:
    return json.dumps(
        {"image_prediction_id": str(job.prediction_id), "bucket": job.bucket, "key": job.key}
    )
