"""submit_image: nothing half-done survives a failure; the sweeper repairs what compensation
could not undo."""

from __future__ import annotations

import pytest
from dogdetect.domain.errors import DependencyUnavailable, UnsupportedImage
from dogdetect.domain.jobs import job_to_body, parse_job
from dogdetect.domain.models import FinishedPrediction, Job, Prediction, Status, image_key_for
from dogdetect.service.submit import accept_upload
from dogdetect.service.sweep import SweepResult, sweep_unenqueued

from tests import corpus
from tests.fakes import FakeAdapters, sweep_deps_for
from tests.unit.conftest import submit_deps_for

GRACE = 60


def submit(fakes: FakeAdapters, data: bytes | None = None) -> Prediction:
    return accept_upload(corpus.png() if data is None else data, submit_deps_for(fakes))


def sweep(fakes: FakeAdapters) -> SweepResult:
    result = SweepResult()
    sweep_unenqueued(sweep_deps_for(fakes.repository, fakes.storage, fakes.queue), result)
    return result


def test_happy_path_stores_object_row_and_message(fakes: FakeAdapters) -> None:
    prediction = submit(fakes)

    assert prediction.status is Status.PENDING and prediction.has_dog is None
    key = image_key_for(prediction.id)
    assert prediction.image_key == key
    assert fakes.storage.objects == {key: corpus.png()}
    assert fakes.queue.sent == [Job(prediction.id, fakes.storage.bucket, key)]
    row = fakes.repository.rows[prediction.id]
    assert row.prediction.status is Status.PENDING
    assert row.enqueued_at is not None
    # Order: row, object, message, then the enqueued mark.
    assert fakes.repository.operations() == ["add_pending", "mark_enqueued"]
    assert fakes.storage.operations() == ["put"]


def test_each_submit_gets_its_own_server_made_id(fakes: FakeAdapters) -> None:
    ids = {submit(fakes).id for _ in range(5)}
    assert len(ids) == 5
    assert set(fakes.storage.objects) == {image_key_for(i) for i in ids}


def test_invalid_upload_touches_nothing(fakes: FakeAdapters) -> None:
    with pytest.raises(UnsupportedImage):
        submit(fakes, corpus.html())
    assert fakes.repository.calls == [] and fakes.storage.calls == []
    assert fakes.queue.calls == []


def test_database_down_at_insert_stores_and_queues_nothing(fakes: FakeAdapters) -> None:
    fakes.repository.break_("add_pending")
    with pytest.raises(DependencyUnavailable) as caught:
        submit(fakes)
    assert caught.value.dependency == "database"
    assert fakes.repository.rows == {}
    # The object, stored beside the row (service/submit.py), is taken back.
    assert fakes.storage.objects == {} and fakes.storage.operations() == ["put", "delete"]
    assert fakes.queue.sent == [] and fakes.queue.calls == []


def test_storage_down_leaves_no_row_and_no_message(fakes: FakeAdapters) -> None:
    fakes.storage.break_("put")
    with pytest.raises(DependencyUnavailable) as caught:
        submit(fakes)
    assert caught.value.dependency == "storage"
    assert fakes.repository.rows == {}
    assert fakes.storage.objects == {}
    assert fakes.queue.sent == [] and fakes.queue.calls == []
    # The storage that just failed is not asked again: the client would wait a second timeout.
    assert fakes.storage.operations() == ["put"]


def test_queue_down_removes_row_and_object(fakes: FakeAdapters) -> None:
    fakes.queue.break_("send")
    with pytest.raises(DependencyUnavailable) as caught:
        submit(fakes)
    assert caught.value.dependency == "queue"
    assert fakes.repository.rows == {}
    assert fakes.storage.objects == {}
    assert fakes.queue.sent == []
    assert "remove" in fakes.repository.operations()
    assert "delete" in fakes.storage.operations()


def test_failed_enqueued_mark_still_accepts(fakes: FakeAdapters) -> None:
    fakes.repository.break_("mark_enqueued")
    prediction = submit(fakes)  # the message is out: no 503 for a bookkeeping write
    assert len(fakes.queue.sent) == 1
    assert fakes.repository.rows[prediction.id].enqueued_at is None

    # The worker processes it; the sweeper then only notes it, sending no second message.
    fakes.repository.repair()
    # the worker got the message
    assert set(fakes.repository.start_processing_many([prediction.id])) == {prediction.id}
    assert fakes.repository.finish_many([FinishedPrediction(prediction.id, True, ())])
    fakes.repository.clock.advance(GRACE + 1)
    result = sweep(fakes)
    assert (result.requeued, result.deleted) == (0, 0)
    assert len(fakes.queue.sent) == 1
    assert fakes.repository.rows[prediction.id].enqueued_at is not None


def test_compensation_failing_leaves_a_row_the_sweeper_deletes(fakes: FakeAdapters) -> None:
    fakes.storage.break_("put")
    fakes.repository.break_("remove")
    with pytest.raises(DependencyUnavailable):
        submit(fakes)
    (left,) = fakes.repository.rows.values()
    assert left.prediction.status is Status.PENDING and left.enqueued_at is None
    assert fakes.storage.objects == {}

    fakes.storage.repair()
    fakes.repository.repair()
    assert sweep(fakes).deleted == 0  # within the grace period: not yet
    assert fakes.repository.rows != {}

    fakes.repository.clock.advance(GRACE + 1)
    result = sweep(fakes)
    assert (result.requeued, result.deleted) == (0, 1)
    assert fakes.repository.rows == {}
    assert fakes.queue.sent == []


def test_compensation_failing_after_upload_gets_requeued_by_sweeper(fakes: FakeAdapters) -> None:
    fakes.queue.break_("send")
    fakes.repository.break_("remove")
    fakes.storage.break_("delete")
    with pytest.raises(DependencyUnavailable) as caught:
        submit(fakes)
    assert caught.value.dependency == "queue"  # the original fault, not the compensation's
    (left,) = fakes.repository.rows.values()
    assert left.prediction.image_key in fakes.storage.objects

    for fake in (fakes.queue, fakes.repository, fakes.storage):
        fake.repair()
    fakes.repository.clock.advance(GRACE + 1)
    result = sweep(fakes)
    assert (result.requeued, result.deleted) == (1, 0)
    (job,) = fakes.queue.sent
    assert job.prediction_id == left.prediction.id
    assert parse_job(job_to_body(job)) == job
    assert left.enqueued_at is not None
    assert sweep(fakes) == SweepResult(0, 0)  # idempotent


def test_object_left_behind_when_only_storage_delete_fails(fakes: FakeAdapters) -> None:
    fakes.queue.break_("send")
    fakes.storage.break_("delete")
    with pytest.raises(DependencyUnavailable):
        submit(fakes)
    assert fakes.repository.rows == {}  # the row is gone: nothing will queue the orphan
    assert len(fakes.storage.objects) == 1  # expires by the bucket lifecycle rule
