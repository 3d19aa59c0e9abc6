"""The uploads bucket's event notifications and CORS rules, as infra/template.yaml declares
them (UploadsBucket's NotificationConfiguration and CorsConfiguration), applied to the local
bucket: a direct upload's object under `incoming/` notifies the jobs queue here as in the
cloud, and the page may read the answer to its presigned POST. moto delivers S3's
notifications to SQS itself, presigned POSTs included (local/s3_post.py stores through it and
answers with the bucket's CORS rules)."""

from __future__ import annotations

from typing import Any

from dogdetect.adapters.aws import aws_client

from local.aws import Resources
from local.config import LocalConfig
from local.iam import LocalNames, resolver
from local.template import resources as template_resources


def local_names(config: LocalConfig, resources: Resources) -> LocalNames:
    queue_urls = {name: url for name, (url, _) in resources.queues.items()}
    return LocalNames(config.region, resources.account, resources.bucket, queue_urls)


def notification_configuration(names: LocalNames) -> dict[str, Any]:
    """The S3 API's form (PutBucketNotificationConfiguration) of the template's
    CloudFormation form, resolved for the local stack. Only queues: the template has no
    other destination."""
    declared = template_resources()["UploadsBucket"]["Properties"]
    resolved = resolver(names)(declared.get("NotificationConfiguration", {}))
    return {
        "QueueConfigurations": [
            {
                "QueueArn": queue["Queue"],
                "Events": [queue["Event"]],
                "Filter": {
                    "Key": {
                        "FilterRules": [
                            {"Name": rule["Name"], "Value": rule["Value"]}
                            for rule in queue.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                        ]
                    }
                },
            }
            for queue in resolved.get("QueueConfigurations", [])
        ]
    }


def cors_configuration() -> dict[str, Any]:
    """The S3 API's form (PutBucketCors) of the template's CorsConfiguration."""
    declared = template_resources()["UploadsBucket"]["Properties"].get("CorsConfiguration", {})
    names = {
        "AllowedHeaders": "AllowedHeaders",
        "AllowedMethods": "AllowedMethods",
        "AllowedOrigins": "AllowedOrigins",
        "ExposedHeaders": "ExposeHeaders",
        "MaxAge": "MaxAgeSeconds",
        "Id": "ID",
    }
    return {
        "CORSRules": [
            {names[key]: value for key, value in rule.items()}
            for rule in declared.get("CorsRules", [])
        ]
    }


def route_uploads_to_queue(config: LocalConfig, endpoint: str, resources: Resources) -> None:
    """Set the bucket's notifications and CORS rules. S3 (and moto) then sends an
    `s3:TestEvent` to the queue, which the predict function consumes and ignores."""
    s3 = aws_client("s3", endpoint, config.region)
    s3.put_bucket_notification_configuration(
        Bucket=resources.bucket,
        NotificationConfiguration=notification_configuration(local_names(config, resources)),
    )
    cors = cors_configuration()
    if cors["CORSRules"]:
        s3.put_bucket_cors(Bucket=resources.bucket, CORSConfiguration=cors)
