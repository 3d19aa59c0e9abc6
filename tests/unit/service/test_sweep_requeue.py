"""requeue_unfinished: after a local restart emptied the queue, unfinished rows go back."""

from __future__ import annotations

from dogdetect.domain.models import Job, Status
from dogdetect.service.sweep import requeue_unfinished

from tests.fakes import FakeAdapters


def test_only_unfinished_enqueued_rows_are_requeued(fakes: FakeAdapters) -> None:
    pending = fakes.repository.seed(Status.PENDING, enqueued=True)
    processing = fakes.repository.seed(Status.PROCESSING, enqueued=True)
    fakes.repository.seed(Status.PENDING, enqueued=False)  # the sweeper's, not ours
    fakes.repository.seed(Status.DONE, enqueued=True)
    fakes.repository.seed(Status.ERROR, enqueued=True)

    count = requeue_unfinished(fakes.repository, fakes.storage, fakes.queue)

    assert count == 2
    assert fakes.queue.sent == [
        Job(p.id, fakes.storage.bucket, p.image_key) for p in (pending, processing)
    ]


def test_nothing_unfinished_sends_nothing(fakes: FakeAdapters) -> None:
    fakes.repository.seed(Status.DONE, enqueued=True)
    assert requeue_unfinished(fakes.repository, fakes.storage, fakes.queue) == 0
    assert fakes.queue.sent == []
