"""Deleting and waiting against PostgreSQL: `remove` takes the detections with the row; every
step a worker may still take on a deleted row changes nothing; and a waiting read holds no
database connection while it sleeps."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.models import Box, Detection, FinishedPrediction, Status, image_key_for
from dogdetect.service.read import wait_for_prediction
from sqlalchemy import Engine, create_engine, text

DOG = Detection("dog", 0.9, Box(1.0, 2.0, 3.0, 4.0))


@pytest.fixture(scope="module")
def master_engine(master_database_url: str) -> Iterator[Engine]:
    engine = create_engine(master_database_url)
    yield engine
    engine.dispose()


def detections_of(engine: Engine, prediction_id: uuid.UUID) -> int:
    with engine.connect() as connection:
        count = connection.scalar(
            text("SELECT count(*) FROM detections WHERE prediction_id = :id"),
            {"id": prediction_id},
        )
    return int(count or 0)


def processing(repository: PostgresPredictionRepository) -> uuid.UUID:
    prediction_id = uuid.uuid4()
    repository.add_pending(prediction_id, image_key_for(prediction_id))
    repository.mark_enqueued(prediction_id)
    assert set(repository.start_processing_many([prediction_id])) == {prediction_id}
    return prediction_id


def test_remove_takes_the_detections_with_the_row(
    repository: PostgresPredictionRepository, master_engine: Engine
) -> None:
    prediction_id = processing(repository)
    assert repository.finish_many([FinishedPrediction(prediction_id, True, (DOG, DOG))])
    assert detections_of(master_engine, prediction_id) == 2
    assert repository.remove(prediction_id) == image_key_for(prediction_id)
    assert repository.get(prediction_id) is None
    assert detections_of(master_engine, prediction_id) == 0
    assert repository.remove(prediction_id) is None


def test_a_worker_on_a_deleted_row_changes_nothing(
    repository: PostgresPredictionRepository, master_engine: Engine
) -> None:
    prediction_id = processing(repository)
    assert repository.remove(prediction_id) is not None
    # Whatever step the worker was at, each is a no-op now: no row comes back, no detection
    # is written (its foreign key would have failed the whole batch).
    assert repository.finish_many([FinishedPrediction(prediction_id, True, (DOG,))]) == set()
    assert not repository.fail(prediction_id, "gave up")
    assert repository.fail_many({prediction_id: "gave up"}) == set()
    assert set(repository.start_processing_many([prediction_id])) == set()
    repository.mark_enqueued(prediction_id)
    assert repository.get(prediction_id) is None
    assert detections_of(master_engine, prediction_id) == 0


def test_a_batch_with_a_deleted_row_stores_the_others(
    repository: PostgresPredictionRepository,
) -> None:
    deleted, kept = processing(repository), processing(repository)
    repository.remove(deleted)
    done = repository.finish_many(
        [FinishedPrediction(deleted, True, (DOG,)), FinishedPrediction(kept, False, (DOG,))]
    )
    assert done == {kept}
    finished = repository.get(kept)
    assert finished is not None and finished.status is Status.DONE


def test_waiting_holds_no_connection_while_it_sleeps(stack_settings: Settings) -> None:
    engine = make_engine(stack_settings.database_url)
    repository = PostgresPredictionRepository(engine)
    prediction_id = processing(repository)
    held_while_sleeping: list[int] = []

    def sleep(seconds: float) -> None:
        held_while_sleeping.append(engine.pool.checkedout())  # type: ignore[attr-defined]
        if len(held_while_sleeping) == 3:
            repository.finish_many([FinishedPrediction(prediction_id, False, ())])

    try:
        found = wait_for_prediction(str(prediction_id), repository, 20, sleep)
    finally:
        engine.dispose()
    assert found.status is Status.DONE
    assert held_while_sleeping == [0, 0, 0]
