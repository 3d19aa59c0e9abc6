"""Direct uploads in the template: the bucket tells the jobs queue of objects created under
`incoming/`, the queue lets that bucket (and only it) send, without the circular dependency
CloudFormation would refuse, and `make local` sets the same notification on its bucket."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import boto3
from dogdetect.domain.models import INCOMING_PREFIX, image_key_for, incoming_key_for
from moto import mock_aws

from local.aws import ensure_resources
from local.bucket_events import route_uploads_to_queue
from local.config import LocalConfig
from local.iam import LocalNames, resolver
from tests.infra.conftest import as_list, of_type, ref_target, references

ACCOUNT, REGION = "123456789012", "eu-west-1"
NAMES = LocalNames(REGION, ACCOUNT, "local-bucket", {"JobsQueue": "https://sqs/1/jobs"})


def notifications(resources: dict[str, Any]) -> list[dict[str, Any]]:
    configuration = resources["UploadsBucket"]["Properties"]["NotificationConfiguration"]
    assert set(configuration) == {"QueueConfigurations"}  # no topic, no function
    found: list[dict[str, Any]] = configuration["QueueConfigurations"]
    return found


def s3_statements(resources: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(queue policy, statement) of every statement that lets S3 itself send."""
    return [
        (name, statement)
        for name, policy in of_type(resources, "AWS::SQS::QueuePolicy").items()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Principal") == {"Service": "s3.amazonaws.com"}
    ]


def test_objects_created_under_incoming_notify_the_jobs_queue(resources: dict[str, Any]) -> None:
    (queue,) = notifications(resources)
    assert queue["Event"] == "s3:ObjectCreated:*"  # POST, PUT, copies, multipart
    assert queue["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    (rule,) = queue["Filter"]["S3Key"]["Rules"]
    assert (rule["Name"], rule["Value"]) == ("prefix", INCOMING_PREFIX)
    # submit's own puts are queued by submit: they must not notify too
    prediction_id = uuid.uuid4()
    assert incoming_key_for(prediction_id).startswith(INCOMING_PREFIX)
    assert not image_key_for(prediction_id).startswith(INCOMING_PREFIX)


def test_only_the_uploads_bucket_may_send_to_the_jobs_queue(resources: dict[str, Any]) -> None:
    ((policy, statement),) = s3_statements(resources)
    assert statement["Effect"] == "Allow"
    assert as_list(statement["Action"]) == ["sqs:SendMessage"]
    assert references(statement["Resource"]) == {"JobsQueue"}
    assert "JobsQueue" in {ref_target(q) for q in resources[policy]["Properties"]["Queues"]}
    conditions = statement["Condition"]
    assert conditions["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # The bucket's ARN, built from the bucket's own name: the same name, resolved.
    resolve = resolver(NAMES, {"Resources": resources})
    bucket_name = resolve(resources["UploadsBucket"]["Properties"]["BucketName"])
    source = resolve(conditions["ArnEquals"]["aws:SourceArn"])
    assert source == f"arn:aws:s3:::{bucket_name}"
    assert bucket_name.startswith("dogdetect-uploads-") and bucket_name == bucket_name.lower()
    assert len(bucket_name) <= 63


def test_no_circular_dependency_between_the_bucket_and_the_queue_policy(
    resources: dict[str, Any],
) -> None:
    """S3 checks that the queue lets it send when the notification is set, so the bucket
    waits for the queue policy; the policy therefore names the bucket without a reference."""
    ((policy, _),) = s3_statements(resources)
    assert policy in as_list(resources["UploadsBucket"]["DependsOn"])
    assert "UploadsBucket" not in references(resources[policy])


def test_direct_uploads_expire_as_uploads_do(resources: dict[str, Any]) -> None:
    rules = resources["UploadsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {
        r.get("Prefix"): ref_target(r["ExpirationInDays"])
        for r in rules
        if r["Status"] == "Enabled" and "ExpirationInDays" in r
    }
    assert expiring[INCOMING_PREFIX] == expiring["uploads/"] == "UploadRetentionDays"


def test_local_bucket_notifies_as_the_template_declares(
    resources: dict[str, Any], tmp_path: Path
) -> None:
    (declared,) = notifications(resources)
    config = LocalConfig(state_dir=tmp_path)
    with mock_aws():
        created = ensure_resources(config, endpoint=None)  # type: ignore[arg-type]
        route_uploads_to_queue(config, endpoint=None, resources=created)  # type: ignore[arg-type]
        s3 = boto3.client("s3", region_name=config.region)
        local = s3.get_bucket_notification_configuration(Bucket=created.bucket)
        sqs = boto3.client("sqs", region_name=config.region)
        sent = sqs.receive_message(QueueUrl=created.queue_url).get("Messages", [])
    (queue,) = local["QueueConfigurations"]
    assert queue["QueueArn"] == created.queue_arn
    assert queue["Events"] == [declared["Event"]]
    rules = queue["Filter"]["Key"]["FilterRules"]
    assert [(r["Name"].lower(), r["Value"]) for r in rules] == [
        (r["Name"], r["Value"]) for r in declared["Filter"]["S3Key"]["Rules"]
    ]
    assert [m["Body"] for m in sent if "s3:TestEvent" in m["Body"]]  # as S3 does


def test_a_page_may_read_the_answer_to_its_post_here_as_in_the_cloud(
    resources: dict[str, Any], tmp_path: Path
) -> None:
    """The page at / sends large photos to the bucket from the browser: a POST (no preflight)
    whose answer it may read only with a CORS rule. make local sets the template's rules."""
    (rule,) = resources["UploadsBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedMethods"] == ["POST"]  # nothing else: reads go through the API
    assert rule["AllowedOrigins"] == ["*"]  # the signed policy admits a photo, not the origin
    config = LocalConfig(state_dir=tmp_path)
    with mock_aws():
        created = ensure_resources(config, endpoint=None)  # type: ignore[arg-type]
        route_uploads_to_queue(config, endpoint=None, resources=created)  # type: ignore[arg-type]
        local = boto3.client("s3", region_name=config.region).get_bucket_cors(Bucket=created.bucket)
    assert local["CORSRules"] == [{"AllowedMethods": ["POST"], "AllowedOrigins": ["*"]}]
