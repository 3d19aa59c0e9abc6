"""predict announces the webhooks of the predictions it ends (DONE, or ERROR for a bad image or
on the last attempt), right after storing them; never anything still unfinished, and a
notifications outage never fails a job."""

from __future__ import annotations

from dogdetect.config import Settings
from dogdetect.domain.models import Job, Status
from dogdetect.service.predict import PredictDeps, QueuedJob, process_batch

from tests import corpus
from tests.fakes import (
    FakeDetector,
    FakeNotificationQueue,
    FakeRepository,
    FakeStorage,
    detection,
)

HOOK = "https://hooks.example.com/dogs"
MAX_ATTEMPTS = 3


class World:
    def __init__(self) -> None:
        self.repository = FakeRepository()
        self.storage = FakeStorage()
        self.notifications = FakeNotificationQueue()
        self.deps = PredictDeps(
            repository=self.repository,
            storage=self.storage,
            detector=FakeDetector([detection("dog", 0.9)]),
            dog_confidence=0.5,
            max_image_pixels=Settings().max_image_pixels,
            max_receive_count=MAX_ATTEMPTS,
            notifications=self.notifications,
        )

    def queued(
        self, image: bytes | None = None, webhook: str | None = HOOK, attempt: int = 1
    ) -> QueuedJob:
        p = self.repository.seed(Status.PENDING, webhook_url=webhook)
        if image is not None:
            self.storage.objects[p.image_key] = image
        return QueuedJob(f"message-{p.id}", Job(p.id, self.storage.bucket, p.image_key), attempt)

    def announced(self) -> dict[str, str]:
        return {
            n.payload["image_prediction_id"]: n.payload["status"] for n in self.notifications.sent
        }


def test_a_done_prediction_is_announced_with_its_answer() -> None:
    world = World()
    job = world.queued(corpus.jpeg())
    assert process_batch([job], world.deps) == []
    (sent,) = world.notifications.sent
    assert sent.url == HOOK and sent.webhook_id == f"msg_{job.job.prediction_id}"
    assert sent.payload["status"] == "DONE" and sent.payload["has_dog"] is True
    assert sent.payload["detections"][0]["label"] == "dog"
    assert world.repository.rows[job.job.prediction_id].webhook_enqueued_at is not None


def test_errors_are_announced_and_unfinished_rows_are_not() -> None:
    world = World()
    bad_image = world.queued(b"not an image")
    last_try = world.queued(None, attempt=MAX_ATTEMPTS)  # the object is missing: gives up
    will_retry = world.queued(None, attempt=1)  # the same fault, with tries left
    no_hook = world.queued(corpus.jpeg(), webhook=None)
    failed = process_batch([bad_image, last_try, will_retry, no_hook], world.deps)
    assert {q.message_id for q in failed} == {last_try.message_id, will_retry.message_id}
    assert world.announced() == {
        str(bad_image.job.prediction_id): "ERROR",
        str(last_try.job.prediction_id): "ERROR",
    }


def test_a_notifications_outage_fails_no_job() -> None:
    world = World()
    job = world.queued(corpus.jpeg())
    world.notifications.break_()
    assert process_batch([job], world.deps) == []
    assert world.repository.status_of(job.job.prediction_id) is Status.DONE
    assert world.repository.rows[job.job.prediction_id].webhook_enqueued_at is None  # the sweep's


def test_a_redelivered_finished_job_is_not_announced_twice() -> None:
    world = World()
    job = world.queued(corpus.jpeg())
    process_batch([job], world.deps)
    process_batch([job], world.deps)
    assert len(world.notifications.sent) == 1
