"""Webhooks over HTTP on the local stack: a receiver on 127.0.0.1 answers 500 the first time
and 200 after; it gets the DONE status JSON of dog.jpg twice, each signed (Standard Webhooks,
checked here with the stack's WEBHOOK_SECRET and nothing of the project's code), the second
after the backoff (the test stack's: its visibility timeout). Then nothing is left queued.
The stack was started with WEBHOOK_SECRET in its environment, as `make local` may be: the
webhooks are signed with that secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from dogdetect.adapters.aws import aws_client

from local.launcher import RunningStack
from tests.conftest import (
    TEST_VISIBILITY_TIMEOUT,
    TEST_WEBHOOK_SECRET,
    eventually,
    queue_empty,
    wait_terminal,
)
from tests.e2e.conftest import Delivery, Receiver
from tests.photos import photo


def verified(delivery: Delivery, secret: str) -> bool:
    """What a receiver does (README.md shows it): HMAC-SHA256 of id.timestamp.body with the
    secret's bytes, compared in constant time, the timestamp within 5 minutes."""
    h = delivery.headers
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + delivery.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(h["webhook-timestamp"])) < 300
    return fresh and any(
        hmac.compare_digest(f"v1,{expected}", s) for s in h["webhook-signature"].split()
    )


def test_the_webhook_is_signed_and_retried_after_a_500(
    api: httpx.Client, stack: RunningStack, receiver: Receiver
) -> None:
    hook = f"http://127.0.0.1:{receiver.port}/hooks/dogs?token=abc"
    accepted = api.post(
        "/image_prediction", files={"image": ("dog.jpg", photo("dog.jpg"))}, data={"webhook": hook}
    )
    assert accepted.status_code == 202, accepted.text
    prediction_id = accepted.json()["image_prediction_id"]
    status = wait_terminal(api, prediction_id)
    assert status["status"] == "DONE" and status["has_dog"] is True

    eventually(lambda: len(receiver.deliveries) >= 2, 60, what="the retry after the 500")
    first, second = receiver.deliveries[:2]
    secret = TEST_WEBHOOK_SECRET  # the environment's, not one made at the start
    assert stack.environment["WEBHOOK_SECRET"] == secret
    for delivery in (first, second):
        assert delivery.path == "/hooks/dogs?token=abc"
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.headers["webhook-id"] == f"msg_{prediction_id}"
        assert json.loads(delivery.body) == status  # the status JSON, as GET answers it
        assert verified(delivery, secret), delivery.headers
        assert not verified(delivery, "whsec_" + base64.b64encode(bytes(32)).decode())
    assert second.body == first.body  # the same event, tried again
    assert int(second.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"])
    # after the backoff: the message was hidden for the (test stack's) delay
    assert second.at - first.at >= TEST_VISIBILITY_TIMEOUT - 0.5

    # Delivered: the message is deleted, nothing is retried again or dead-lettered.
    env = stack.environment
    sqs = aws_client("sqs", env["AWS_ENDPOINT_URL"], env["AWS_DEFAULT_REGION"])
    eventually(
        lambda: queue_empty(sqs, env["NOTIFICATIONS_QUEUE_URL"]), 30, what="the queue drained"
    )
    assert len(receiver.deliveries) == 2


@pytest.mark.parametrize(
    ("webhook", "named"),
    [
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://[fec0::1]/", "site-local"),
        ("https://[fec0::a9fe:a9fe]/", "site-local"),
        ("https://[3fff::1]/", "documentation"),
    ],
)
@pytest.mark.parametrize("route", ["/image_prediction", "/image_prediction/uploads"])
def test_a_webhook_to_a_non_public_address_is_refused_at_submit(
    api: httpx.Client, webhook: str, named: str, route: str
) -> None:
    files = {"image": ("dog.jpg", photo("dog.jpg"))} if route == "/image_prediction" else None
    response = api.post(route, files=files, data={"webhook": webhook})
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"]
