"""The PostgreSQL repository against the real database of the local stack."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.errors import DependencyUnavailable
from dogdetect.migrate import upgrade
from dogdetect.models import Box, Detection, Status
from dogdetect.settings import Settings

from local.launcher import free_port

DOG = Detection("dog", 0.91, Box(1.0, 2.0, 30.0, 40.0))
CAT = Detection("cat", 0.42, Box(5.0, 6.0, 7.0, 8.0))


def new_pending(repository: PostgresPredictionRepository) -> uuid.UUID:
    prediction_id = uuid.uuid4()
    repository.add_pending(prediction_id, f"uploads/{prediction_id}")
    return prediction_id


def test_a_new_prediction_is_pending_without_answer(
    repository: PostgresPredictionRepository,
) -> None:
    prediction_id = new_pending(repository)
    prediction = repository.get(prediction_id)
    assert prediction is not None
    assert prediction.status is Status.PENDING
    assert prediction.has_dog is None and prediction.detections == ()
    assert prediction.created_at.tzinfo is not None


def test_finish_stores_answer_and_detections(repository: PostgresPredictionRepository) -> None:
    prediction_id = new_pending(repository)
    assert repository.start_processing(prediction_id)
    assert repository.finish(prediction_id, True, [DOG, CAT])
    done = repository.get(prediction_id)
    assert done is not None
    assert done.status is Status.DONE and done.has_dog is True
    assert done.detections == (DOG, CAT)
    assert done.updated_at >= done.created_at


def test_a_finished_row_never_changes_again(repository: PostgresPredictionRepository) -> None:
    prediction_id = new_pending(repository)
    repository.start_processing(prediction_id)
    repository.finish(prediction_id, True, [DOG])
    assert not repository.start_processing(prediction_id)
    assert not repository.finish(prediction_id, False, [CAT])
    assert not repository.fail(prediction_id, "late failure")
    after = repository.get(prediction_id)
    assert after is not None
    assert (after.status, after.has_dog, after.detections, after.error) == (
        Status.DONE,
        True,
        (DOG,),
        None,
    )


def test_two_workers_finishing_one_row_store_one_result(
    repository: PostgresPredictionRepository,
) -> None:
    prediction_id = new_pending(repository)
    repository.start_processing(prediction_id)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: repository.finish(prediction_id, True, [DOG]), range(8)))
    assert outcomes.count(True) == 1
    done = repository.get(prediction_id)
    assert done is not None and done.detections == (DOG,)


def test_fail_records_the_reason(repository: PostgresPredictionRepository) -> None:
    prediction_id = new_pending(repository)
    assert repository.fail(prediction_id, "image could not be decoded")
    failed = repository.get(prediction_id)
    assert failed is not None
    assert failed.status is Status.ERROR and failed.error == "image could not be decoded"


def test_unknown_id_is_none(repository: PostgresPredictionRepository) -> None:
    assert repository.get(uuid.uuid4()) is None
    assert not repository.start_processing(uuid.uuid4())


def test_only_old_unenqueued_rows_are_swept(repository: PostgresPredictionRepository) -> None:
    unenqueued = new_pending(repository)
    enqueued = new_pending(repository)
    repository.mark_enqueued(enqueued)
    swept = {p.id for p in repository.unenqueued_before(0, 1000)}
    assert unenqueued in swept and enqueued not in swept
    assert unenqueued not in {p.id for p in repository.unenqueued_before(3600, 1000)}
    repository.mark_enqueued(unenqueued)  # leave nothing for the running stack's sweeper


def test_delete_removes_row_and_detections(repository: PostgresPredictionRepository) -> None:
    prediction_id = new_pending(repository)
    repository.start_processing(prediction_id)
    repository.finish(prediction_id, True, [DOG])
    repository.delete(prediction_id)
    assert repository.get(prediction_id) is None


def test_migrations_are_idempotent(stack_settings: Settings) -> None:
    upgrade(stack_settings.database_url)
    upgrade(stack_settings.database_url)


def test_unreachable_database_is_dependency_unavailable() -> None:
    dead = f"postgresql+pg8000://postgres@127.0.0.1:{free_port()}/dogdetect"
    repository = PostgresPredictionRepository(make_engine(dead, connect_timeout=1))
    with pytest.raises(DependencyUnavailable) as raised:
        repository.ping()
    assert raised.value.dependency == "database"
    with pytest.raises(DependencyUnavailable):
        repository.add_pending(uuid.uuid4(), "uploads/x")
