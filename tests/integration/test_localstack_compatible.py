"""The local AWS endpoint speaks LocalStack's edge protocol: `localstack-client`, the library
LocalStack users script against, finds the stack's bucket and queues on it."""

from __future__ import annotations

import localstack_client.session

from local.launcher import RunningStack


def test_localstack_client_sees_the_stacks_resources(stack: RunningStack) -> None:
    # Signed as the stack's own identity: the endpoint enforces IAM, and LocalStack's default
    # credentials name no user of it.
    session = localstack_client.session.Session(
        aws_access_key_id=stack.environment["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=stack.environment["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=None,
        localstack_host=f"127.0.0.1:{stack.ports['aws']}",
    )
    buckets = {b["Name"] for b in session.client("s3").list_buckets()["Buckets"]}
    queues = session.client("sqs").list_queues()["QueueUrls"]
    assert stack.environment["BUCKET_NAME"] in buckets
    assert any(url.endswith("/dogdetect-jobs") for url in queues)
    assert any(url.endswith("/dogdetect-jobs-dlq") for url in queues)
