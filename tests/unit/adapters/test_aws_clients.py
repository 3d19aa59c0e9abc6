"""The AWS clients a container makes (`aws_client`): a session each, one parse of botocore's
data files between them."""

from __future__ import annotations

import pytest
from dogdetect.adapters.aws import aws_client

ENDPOINT = "http://127.0.0.1:9"  # never called: making a client opens no connection


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def test_clients_share_the_data_loader_and_keep_their_own_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = aws_client("s3", ENDPOINT, "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDROTATED")
    queue = aws_client("sqs", ENDPOINT, "us-east-1")
    assert storage._loader is queue._loader  # endpoints and partitions parsed once
    assert storage._request_signer._credentials.access_key == "AKIDEXAMPLE"
    assert queue._request_signer._credentials.access_key == "AKIDROTATED"
