"""`make local` enforces each function's IAM role as the template writes it: the local AWS
endpoint (moto, IAM enforced) refuses what a function's role does not grant, and a statement
removed from infra/template.yaml makes the matching local call fail."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from dogdetect.config import Settings

from local.iam import LocalNames, role_policy
from local.launcher import RunningStack
from local.template import document


def client(service: str, settings: Settings, credentials: dict[str, str]) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )
    return session.client(service, endpoint_url=settings.aws_endpoint_url, region_name="us-east-1")


@pytest.fixture(scope="module")
def administrator(stack: RunningStack) -> dict[str, str]:
    return {k: stack.environment[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


@pytest.fixture(scope="module")
def names(stack_settings: Settings, administrator: dict[str, str]) -> LocalNames:
    sqs = client("sqs", stack_settings, administrator)
    dead_letters = sqs.get_queue_url(QueueName="dogdetect-jobs-dlq")["QueueUrl"]
    return LocalNames(
        region="us-east-1",
        account=stack_settings.queue_url.split("/")[-2],
        bucket=stack_settings.bucket_name,
        queue_urls={"JobsQueue": stack_settings.queue_url, "JobsDeadLetterQueue": dead_letters},
    )


def identity_with(
    policy: dict[str, Any], settings: Settings, admin: dict[str, str]
) -> dict[str, str]:
    iam = client("iam", settings, admin)
    user = f"test-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="role", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def refused(call: Any) -> bool:
    try:
        call()
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        return status == 403
    return False


def test_a_function_may_do_what_its_role_grants_and_nothing_else(
    stack_settings: Settings, names: LocalNames, administrator: dict[str, str]
) -> None:
    submit = identity_with(role_policy("SubmitFunctionRole", names), stack_settings, administrator)
    s3, sqs = client("s3", stack_settings, submit), client("sqs", stack_settings, submit)
    key = f"uploads/{uuid.uuid4()}"
    s3.put_object(Bucket=names.bucket, Key=key, Body=b"granted")
    sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody="{}")
    assert refused(lambda: s3.put_object(Bucket=names.bucket, Key="elsewhere", Body=b"x"))
    assert refused(lambda: s3.get_object(Bucket=names.bucket, Key=key))
    assert refused(lambda: sqs.receive_message(QueueUrl=stack_settings.queue_url))
    s3.delete_object(Bucket=names.bucket, Key=key)  # DELETE /image_prediction/{id}
    assert refused(lambda: s3.delete_object(Bucket=names.bucket, Key="elsewhere"))
    status = identity_with(role_policy("StatusFunctionRole", names), stack_settings, administrator)
    other = f"uploads/{uuid.uuid4()}"
    s3.put_object(Bucket=names.bucket, Key=other, Body=b"granted")
    s3_status = client("s3", stack_settings, status)
    assert refused(lambda: s3_status.delete_object(Bucket=names.bucket, Key=other))
    # the annotated photo: stored photos may be read, nothing else of the bucket
    assert s3_status.get_object(Bucket=names.bucket, Key=other)["Body"].read() == b"granted"
    assert refused(lambda: s3_status.get_object(Bucket=names.bucket, Key="elsewhere"))
    assert refused(lambda: s3_status.put_object(Bucket=names.bucket, Key=other, Body=b"x"))
    s3.delete_object(Bucket=names.bucket, Key=other)


def test_removing_a_statement_from_the_template_makes_the_local_call_fail(
    stack_settings: Settings, names: LocalNames, administrator: dict[str, str]
) -> None:
    template = copy.deepcopy(document())
    policy = template["Resources"]["SubmitFunctionRole"]["Properties"]["Policies"][0]
    statements = policy["PolicyDocument"]["Statement"]
    before = len(statements)
    statements[:] = [s for s in statements if s["Action"] != "sqs:SendMessage"]
    assert len(statements) == before - 1
    submit = identity_with(
        role_policy("SubmitFunctionRole", names, template), stack_settings, administrator
    )
    sqs = client("sqs", stack_settings, submit)
    assert refused(lambda: sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody="{}"))


def test_the_running_functions_call_with_their_own_roles(
    stack: RunningStack, stack_settings: Settings, names: LocalNames
) -> None:
    environments = json.loads((stack.state_dir / "poller-functions.json").read_text())
    predict, status = environments["predict"], environments["status"]
    assert predict["AWS_ACCESS_KEY_ID"] != status["AWS_ACCESS_KEY_ID"]
    s3 = client("s3", stack_settings, predict)
    assert refused(lambda: s3.put_object(Bucket=names.bucket, Key="uploads/x", Body=b"x"))
    sqs = client("sqs", stack_settings, status)
    assert refused(lambda: sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody="{}"))
