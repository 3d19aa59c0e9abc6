"""The notify function: each notification signed and POSTed; a failed try hidden for its
backoff and reported as a batch item failure; a malformed message consumed. The service with
fakes, then the real entry point with the stored SQS event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from dogdetect.domain.notifications import DeliveryAttempt, parse_notification, payload_bytes
from dogdetect.domain.webhooks.signing import secret_key
from dogdetect.service.notify import (
    NotifyDeps,
    NotifyOutcome,
    WebhookNotDelivered,
    deliver_notification,
)

from tests.fakes import FakeNotificationQueue
from tests.unit.conftest import FakeLambdaContext, load_event, load_function

pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish:UserWarning")

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
DELAYS = (60, 300, 900, 2400)
notify_app = load_function("notify")


@dataclass
class FakeSender:
    """Answers each POST with the next of `answers` (the last one repeats); records them."""

    answers: list[DeliveryAttempt] = field(default_factory=lambda: [DeliveryAttempt(True, "200")])
    posts: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryAttempt:
        self.posts.append((url, body, dict(headers)))
        return self.answers[min(len(self.posts), len(self.answers)) - 1]


@dataclass
class World:
    sender: FakeSender = field(default_factory=FakeSender)
    queue: FakeNotificationQueue = field(default_factory=FakeNotificationQueue)
    now: float = 1_700_000_000.5

    def deps(self) -> NotifyDeps:
        return NotifyDeps(
            sender=self.sender,
            queue=self.queue,
            signing_key=secret_key(SECRET),
            retry_delays=DELAYS,
            max_attempts=5,
            clock=lambda: self.now,
        )


FAILED = DeliveryAttempt(False, "HTTP 500", 500)


def stored_records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = load_event("notify_sqs_batch")["Records"]
    return records


def verify(body: bytes, headers: dict[str, str]) -> bool:
    """As a receiver would, with nothing of this project."""
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(headers["webhook-signature"], expected)


# ------------------------------------------------------------------ the service


def test_a_notification_is_posted_signed_and_consumed() -> None:
    world = World()
    raw = stored_records()[0]
    outcome = deliver_notification(raw["body"], raw["receiptHandle"], 1, world.deps)
    assert outcome is NotifyOutcome.DELIVERED
    ((url, body, headers),) = world.sender.posts
    notification = parse_notification(raw["body"])
    assert url == notification.url == "https://hooks.example.com/dogs?token=do-not-log-this"
    assert json.loads(body) == notification.payload  # the status JSON, as GET answers it
    assert json.loads(body)["status"] == "DONE"
    assert headers["webhook-id"] == f"msg_{notification.payload['image_prediction_id']}"
    assert headers["webhook-timestamp"] == "1700000000"
    assert verify(body, headers)
    assert world.queue.postponed == []


def test_each_try_is_signed_with_its_own_timestamp_and_the_same_id() -> None:
    world = World(sender=FakeSender([FAILED, DeliveryAttempt(True, "HTTP 204", 204)]))
    raw = stored_records()[0]
    with pytest.raises(WebhookNotDelivered):
        deliver_notification(raw["body"], raw["receiptHandle"], 1, world.deps)
    world.now += 61
    deliver_notification(raw["body"], raw["receiptHandle"], 2, world.deps)
    (_, first_body, first), (_, second_body, second) = world.sender.posts
    assert first_body == second_body == payload_bytes(parse_notification(raw["body"]).payload)
    assert first["webhook-id"] == second["webhook-id"]
    assert int(second["webhook-timestamp"]) == int(first["webhook-timestamp"]) + 61
    assert verify(first_body, first) and verify(second_body, second)


@pytest.mark.parametrize(
    ("attempt", "hidden_for"), [(1, 60), (2, 300), (3, 900), (4, 2400), (5, 0)]
)
def test_a_failed_try_is_hidden_for_its_backoff(attempt: int, hidden_for: int) -> None:
    world = World(sender=FakeSender([FAILED]))
    raw = stored_records()[0]
    with pytest.raises(WebhookNotDelivered) as failed:
        deliver_notification(raw["body"], raw["receiptHandle"], attempt, world.deps)
    assert failed.value.retry_in == hidden_for
    assert world.queue.postponed == [(raw["receiptHandle"], hidden_for)]


def test_a_queue_that_cannot_postpone_still_fails_the_try() -> None:
    """The message then returns after the queue's own visibility timeout."""
    world = World(sender=FakeSender([FAILED]))
    world.queue.break_("postpone")
    raw = stored_records()[0]
    with pytest.raises(WebhookNotDelivered):
        deliver_notification(raw["body"], raw["receiptHandle"], 1, world.deps)


def no_deps() -> NotifyDeps:
    raise AssertionError("a malformed message needs no secret, client or queue")


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"url": "https://hooks.example.com/"}),
        json.dumps({"webhook_id": "msg.1", "url": "https://h.example/", "payload": {}}),
        json.dumps({"webhook_id": "msg_1", "url": 7, "payload": {}}),
        json.dumps({"webhook_id": "msg_1", "url": "https://h.example/", "payload": []}),
    ],
)
def test_a_malformed_message_is_consumed_untried(body: str) -> None:
    assert deliver_notification(body, "handle", 1, no_deps) is NotifyOutcome.MALFORMED


def test_logs_name_the_host_but_never_the_path_or_query(caplog: pytest.LogCaptureFixture) -> None:
    world = World(sender=FakeSender([FAILED]))
    raw = stored_records()[0]
    with caplog.at_level(logging.INFO, logger="dogdetect"), pytest.raises(WebhookNotDelivered):
        deliver_notification(raw["body"], raw["receiptHandle"], 1, world.deps)
    (record,) = [r for r in caplog.records if r.name.startswith("dogdetect")]
    logged = json.dumps(record.__dict__, default=str)
    assert record.__dict__["host"] == "hooks.example.com"
    assert record.__dict__["retry_in_seconds"] == 60
    assert record.__dict__["prediction_id"] == "3f2b8c1d-6a4e-4b7f-9c2d-1e0f9a8b7c6d"
    assert "do-not-log-this" not in logged and "/dogs" not in logged


# ------------------------------------------------------------------ the Lambda entry point


def test_stored_event_comes_from_the_notifications_queue() -> None:
    for raw in stored_records():
        record = SQSRecord(raw)
        assert record.event_source == "aws:sqs"
        assert "NotificationsQueue" in record.event_source_arn
        parse_notification(record.body)


def run_batch(world: World) -> Any:
    event = load_event("notify_sqs_batch")
    return notify_app.lambda_handler(event, FakeLambdaContext(), world.deps)


def test_batch_delivers_every_record(capsys: pytest.CaptureFixture[str]) -> None:
    world = World()
    notify_app.obs.metrics.clear_metrics()
    assert run_batch(world) == {"batchItemFailures": []}
    assert [url for url, _, _ in world.sender.posts] == [
        "https://hooks.example.com/dogs?token=do-not-log-this",
        "https://hooks.example.org/predictions",
    ]
    notify_app.obs.metrics.flush_metrics()
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["WebhooksDelivered"] == [1.0, 1.0] and emf["service"] == "notify"


def test_batch_reports_the_failed_record_hidden_by_its_receive_count() -> None:
    """The second stored record is on its third receive: hidden for the third delay."""
    world = World(sender=FakeSender([DeliveryAttempt(True, "HTTP 200", 200), FAILED]))
    records = stored_records()
    assert run_batch(world) == {"batchItemFailures": [{"itemIdentifier": records[1]["messageId"]}]}
    assert world.queue.postponed == [(records[1]["receiptHandle"], 900)]


def test_a_batch_of_failures_is_reported_without_failing_the_invocation() -> None:
    """Clients' servers failing is not the function failing: its Errors alarm stays quiet,
    and each record keeps its own backoff."""
    world = World(sender=FakeSender([FAILED]))
    records = stored_records()
    assert run_batch(world) == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]
    }
    assert [seconds for _, seconds in world.queue.postponed] == [60, 900]


def test_real_entry_point_is_instrumented() -> None:
    assert notify_app.handler.__name__ == "notify_handler"
    assert notify_app.obs.logger.service == "notify"
