"""DELETE /image_prediction/{id}: the service and the submit app on the fakes, and a worker
that finds its prediction deleted under it (it neither crashes nor brings the row back)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable, PredictionNotFound
from dogdetect.domain.idempotency import KeyClaim
from dogdetect.domain.models import Job, Status
from dogdetect.service.delete import delete_prediction
from dogdetect.service.predict import PredictDeps, QueuedJob, process_batch

from tests import corpus
from tests.fakes import FakeDetector, FakeRepository, FakeStorage, detection
from tests.unit.conftest import Wired


def stored(repo: FakeRepository, storage: FakeStorage, status: Status = Status.DONE) -> uuid.UUID:
    p = repo.seed(status, has_dog=True if status is Status.DONE else None)
    storage.objects[p.image_key] = corpus.jpeg()
    return p.id


def test_the_row_goes_first_then_the_image() -> None:
    repo, storage = FakeRepository(), FakeStorage()
    pid = stored(repo, storage)
    delete_prediction(str(pid), repo, storage)
    assert repo.rows == {} and storage.objects == {}
    # The photo, a direct upload's drop box (a POST still valid would leave an orphan), then
    # the annotated photo if it was drawn.
    assert repo.operations() == ["remove"] and storage.operations() == ["delete"] * 3


def test_the_image_left_by_a_storage_outage_does_not_undo_the_delete() -> None:
    repo, storage = FakeRepository(), FakeStorage()
    pid = stored(repo, storage)
    storage.break_("delete")
    delete_prediction(str(pid), repo, storage)  # no error: the prediction is gone
    assert repo.rows == {}
    assert len(storage.objects) == 1  # named by no row; the bucket's lifecycle rule expires it


def test_a_database_outage_deletes_nothing() -> None:
    repo, storage = FakeRepository(), FakeStorage()
    pid = stored(repo, storage)
    repo.break_("remove")
    with pytest.raises(DependencyUnavailable):
        delete_prediction(str(pid), repo, storage)
    assert pid in repo.rows and len(storage.objects) == 1 and storage.calls == []


@pytest.mark.parametrize("raw_id", [str(uuid.uuid4()), "nope", str(uuid.uuid4()).upper()])
def test_unknown_or_malformed_is_not_found_and_touches_no_image(raw_id: str) -> None:
    repo, storage = FakeRepository(), FakeStorage()
    with pytest.raises(PredictionNotFound):
        delete_prediction(raw_id, repo, storage)
    assert storage.calls == []


def test_its_idempotency_key_goes_with_it() -> None:
    repo = FakeRepository()
    made = repo.add_pending_once(uuid.uuid4(), "uploads/x", KeyClaim(b"k" * 32, b"i" * 32))
    assert repo.keys
    repo.remove(made.prediction.id)
    assert repo.keys == {}


# --- over the submit app ------------------------------------------------------------------


def test_delete_is_204_then_404(submit_api: Wired) -> None:
    pid = stored(submit_api.repository, submit_api.storage)
    first = submit_api.client.delete(f"/image_prediction/{pid}")
    assert first.status_code == 204 and first.content == b""
    second = submit_api.client.delete(f"/image_prediction/{pid}")
    assert second.status_code == 404
    assert second.json() == {"detail": "no prediction with this id"}


def test_delete_of_a_malformed_id_is_404(submit_api: Wired) -> None:
    response = submit_api.client.delete("/image_prediction/not-an-id")
    assert response.status_code == 404
    assert submit_api.repository.calls == []


def test_delete_with_the_database_down_is_503(submit_api: Wired) -> None:
    pid = stored(submit_api.repository, submit_api.storage)
    submit_api.repository.break_()
    response = submit_api.client.delete(f"/image_prediction/{pid}")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert pid in submit_api.repository.rows


# --- a worker on a deleted prediction ---------------------------------------------------------


def predict_deps(repo: FakeRepository, storage: FakeStorage, detector: FakeDetector) -> PredictDeps:
    return PredictDeps(
        repository=repo,
        storage=storage,
        detector=detector,
        dog_confidence=0.5,
        max_image_pixels=Settings().max_image_pixels,
        max_receive_count=3,
    )


def queued(pid: uuid.UUID, storage: FakeStorage, attempt: int = 1) -> QueuedJob:
    return QueuedJob(f"m-{pid}", Job(pid, storage.bucket, f"uploads/{pid}"), attempt)


def test_deleted_while_processing_the_worker_drops_its_answer() -> None:
    repo, storage = FakeRepository(), FakeStorage()
    pid = stored(repo, storage, Status.PENDING)

    def delete_mid_detection(_: np.ndarray) -> None:
        assert repo.status_of(pid) is Status.PROCESSING
        delete_prediction(str(pid), repo, storage)

    detector = FakeDetector([detection("dog", 0.9)], on_detect=delete_mid_detection)
    failed = process_batch([queued(pid, storage)], predict_deps(repo, storage, detector))
    assert failed == []  # consumed: nothing to retry
    assert repo.rows == {} and storage.objects == {}  # not resurrected, no detections kept
    assert "fail_many" not in repo.operations()


class DeletedWhenFetched(FakeStorage):
    """The client's DELETE lands between the worker's start and its fetch of the image."""

    def __init__(self, repo: FakeRepository) -> None:
        super().__init__()
        self.repo = repo

    def get(self, key: str) -> bytes:
        delete_prediction(key.removeprefix("uploads/"), self.repo, self)
        return super().get(key)


def test_deleted_before_its_image_is_fetched_the_retry_drops_it() -> None:
    repo = FakeRepository()
    storage = DeletedWhenFetched(repo)
    pid = stored(repo, storage, Status.PENDING)
    deps = predict_deps(repo, storage, FakeDetector([detection()]))
    job = queued(pid, storage)
    # The image is gone: the job fails like any missing object and returns to the queue ...
    assert process_batch([job], deps) == [job]
    assert repo.rows == {}
    # ... and its next try, the last, finds no row: consumed, nothing comes back.
    assert process_batch([queued(pid, storage, attempt=3)], deps) == []
    assert repo.rows == {} and storage.objects == {}
