"""Announcing finished predictions to the notifications queue: by the finishing code right
after its update, and by the sweep for what that missed. Never twice once noted; never a
failure of the prediction itself."""

from __future__ import annotations

import uuid

import pytest
from dogdetect.api.schemas import PredictionOut
from dogdetect.domain.models import Status
from dogdetect.service.notify import announce, announce_overdue

from tests.fakes import FakeNotificationQueue, FakeRepository, detection

HOOK = "https://hooks.example.com/dogs?token=t"


@pytest.fixture
def repository() -> FakeRepository:
    return FakeRepository()


@pytest.fixture
def notifications() -> FakeNotificationQueue:
    return FakeNotificationQueue()


def test_a_finished_prediction_with_a_webhook_is_announced_once(
    repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    row = repository.seed(Status.DONE, has_dog=True, detections=[detection()], webhook_url=HOOK)
    assert announce([row.id], repository, notifications) == 1
    (sent,) = notifications.sent
    assert sent.url == HOOK
    assert sent.webhook_id == f"msg_{row.id}"
    assert sent.payload == PredictionOut.of(row).model_dump(mode="json")  # GET's JSON
    assert repository.rows[row.id].webhook_enqueued_at == repository.clock()
    assert announce([row.id], repository, notifications) == 0  # noted: not again
    assert len(notifications.sent) == 1


@pytest.mark.parametrize("status", [Status.DONE, Status.ERROR])
def test_done_and_error_are_both_announced(
    status: Status, repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    row = repository.seed(
        status, error="broken" if status is Status.ERROR else None, webhook_url=HOOK
    )
    assert announce([row.id], repository, notifications) == 1
    assert notifications.sent[0].payload["status"] == status.value


def test_only_finished_predictions_with_a_webhook_are_announced(
    repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    unfinished = [repository.seed(s, webhook_url=HOOK) for s in (Status.PENDING, Status.PROCESSING)]
    without = repository.seed(Status.DONE, has_dog=False)
    ids = [r.id for r in [*unfinished, without]] + [uuid.uuid4()]
    assert announce(ids, repository, notifications) == 0
    assert notifications.sent == []


def test_a_queue_outage_leaves_the_rest_to_the_sweep(
    repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    row = repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK)
    notifications.break_("send")
    assert announce([row.id], repository, notifications) == 0  # no exception
    assert repository.rows[row.id].webhook_enqueued_at is None
    repository.clock.advance(61)
    notifications.repair()
    assert announce_overdue(repository, notifications, grace_seconds=60) == 1
    assert repository.rows[row.id].webhook_enqueued_at is not None


def test_a_database_outage_never_fails_the_finishing_code(
    repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    row = repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK)
    repository.break_("webhooks_due")
    assert announce([row.id], repository, notifications) == 0
    repository.repair()
    repository.raise_on("webhooks_due", RuntimeError("a bug"))
    assert announce([row.id], repository, notifications) == 0


def test_sent_but_not_noted_is_sent_again_by_the_sweep(
    repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    """At least once: the receiver sees the same webhook-id twice and deduplicates."""
    row = repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK)
    repository.break_("mark_webhooks_enqueued")
    assert announce([row.id], repository, notifications) == 1
    repository.repair()
    repository.clock.advance(61)
    assert announce_overdue(repository, notifications, grace_seconds=60) == 1
    first, second = notifications.sent
    assert first == second


def test_the_sweep_leaves_young_rows_to_their_finishing_code(
    repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    old = repository.seed(Status.ERROR, error="gave up", webhook_url=HOOK)
    repository.clock.advance(61)
    young = repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK)
    noted = repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK, webhook_enqueued=True)
    repository.clock.advance(30)
    assert announce_overdue(repository, notifications, grace_seconds=60) == 1
    assert [n.webhook_id for n in notifications.sent] == [f"msg_{old.id}"]
    assert repository.rows[young.id].webhook_enqueued_at is None
    assert noted.id not in {n.payload["image_prediction_id"] for n in notifications.sent}


def test_the_sweep_announces_at_most_its_limit(
    repository: FakeRepository, notifications: FakeNotificationQueue
) -> None:
    for _ in range(5):
        repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK)
    repository.clock.advance(61)
    assert announce_overdue(repository, notifications, grace_seconds=60, limit=3) == 3
    assert announce_overdue(repository, notifications, grace_seconds=60, limit=3) == 2
