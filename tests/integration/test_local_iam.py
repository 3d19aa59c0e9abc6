"""`make local` enforces each function's IAM role as the template writes it: the local AWS
endpoint (moto, IAM enforced) refuses what a function's role does not grant, and a statement
removed from infra/template.yaml makes the matching local call fail. A missing object answers
as S3 answers it: 404 to a role that may list the bucket, 403 to one that may not."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from dogdetect.adapters.aws import S3ImageStorage, aws_client
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable

from local.iam import LocalNames, role_policy
from local.launcher import RunningStack
from local.template import document

# LocalStack enforces no IAM: not collected with --emulator localstack.
pytestmark = pytest.mark.iam


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
def names(
    stack: RunningStack, stack_settings: Settings, administrator: dict[str, str]
) -> LocalNames:
    sqs = client("sqs", stack_settings, administrator)
    dead_letters = sqs.get_queue_url(QueueName="dogdetect-jobs-dlq")["QueueUrl"]
    return LocalNames(
        region="us-east-1",
        account=stack_settings.queue_url.split("/")[-2],
        bucket=stack_settings.bucket_name,
        queue_urls={
            "JobsQueue": stack_settings.queue_url,
            "JobsDeadLetterQueue": dead_letters,
            "NotificationsQueue": stack.environment["NOTIFICATIONS_QUEUE_URL"],
        },
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
    # predict writes a direct upload's accepted photo to uploads/, never into the drop box
    assert refused(lambda: s3.put_object(Bucket=names.bucket, Key="incoming/x", Body=b"x"))
    sqs = client("sqs", stack_settings, status)
    assert refused(lambda: sqs.send_message(QueueUrl=stack_settings.queue_url, MessageBody="{}"))


def storage_as(
    identity: dict[str, str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> S3ImageStorage:
    """The functions' own S3 adapter (botocore, their client config), signing as `identity`."""
    for name, value in identity.items():
        monkeypatch.setenv(name, value)
    return S3ImageStorage(
        aws_client("s3", settings.aws_endpoint_url, "us-east-1"), settings.bucket_name
    )


def without_listing(role: str) -> dict[str, Any]:
    """The template with `role`'s s3:ListBucket statement taken out."""
    template = copy.deepcopy(document())
    policy = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
    kept = [s for s in policy["Statement"] if s["Action"] != "s3:ListBucket"]
    assert len(kept) == len(policy["Statement"]) - 1, role
    policy["Statement"] = kept
    return template


@pytest.mark.parametrize("role", ["SweepFunctionRole", "PredictFunctionRole", "StatusFunctionRole"])
def test_a_missing_photo_is_absent_to_the_functions_that_read_photos(
    role: str,
    stack_settings: Settings,
    names: LocalNames,
    administrator: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sweep asks `exists` of a direct upload that never came, the worker and the
    annotated photo read a photo that may be gone: with their role a missing key is "not
    there" (404), never a failure. moto 5.2.6 answered 403 here: it checks HeadObject as
    s3:HeadObject, which AWS spells s3:GetObject (local/iam.py's MOTO_SPELLINGS)."""
    present, missing = f"uploads/{uuid.uuid4()}", f"incoming/{uuid.uuid4()}"
    client("s3", stack_settings, administrator).put_object(
        Bucket=names.bucket, Key=present, Body=b"a photo"
    )
    try:
        identity = identity_with(role_policy(role, names), stack_settings, administrator)
        storage = storage_as(identity, stack_settings, monkeypatch)
        assert storage.exists(present)
        assert not storage.exists(missing)
        assert not storage.exists(f"uploads/{uuid.uuid4()}")
        s3 = client("s3", stack_settings, identity)
        with pytest.raises(ClientError) as read:
            s3.get_object(Bucket=names.bucket, Key=missing)
        assert read.value.response["Error"]["Code"] == "NoSuchKey"

        # Without s3:ListBucket on the bucket, S3 answers the same HEAD 403, as here: that is
        # a refusal, not an absence, and `exists` says so instead of guessing.
        unlisted = role_policy(role, names, without_listing(role))
        storage = storage_as(
            identity_with(unlisted, stack_settings, administrator), stack_settings, monkeypatch
        )
        assert storage.exists(present)
        with pytest.raises(DependencyUnavailable):
            storage.exists(missing)
    finally:
        client("s3", stack_settings, administrator).delete_object(Bucket=names.bucket, Key=present)
