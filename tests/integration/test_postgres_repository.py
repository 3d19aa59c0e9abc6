"""The PostgreSQL repository against the real database of the local stack, connected as the
functions are (the application role)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from dogdetect.adapters.aws import S3ImageStorage, SqsJobQueue
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.models import Box, Detection, FinishedPrediction, Status
from dogdetect.runtime.migrate import upgrade
from dogdetect.service.sweep import SweepResult, stuck_reason, sweep
from sqlalchemy import Engine, event, text

from local.launcher import RunningStack, free_port
from tests.fakes import sweep_deps_for
from tests.integration.conftest import holding_the_sweep

DOG = Detection("dog", 0.91, Box(1.0, 2.0, 30.0, 40.0))
CAT = Detection("cat", 0.42, Box(5.0, 6.0, 7.0, 8.0))


def new_pending(repository: PostgresPredictionRepository) -> uuid.UUID:
    prediction_id = uuid.uuid4()
    repository.add_pending(prediction_id, f"uploads/{prediction_id}")
    return prediction_id


def start(repository: PostgresPredictionRepository, prediction_id: uuid.UUID) -> bool:
    return set(repository.start_processing_many([prediction_id])) == {prediction_id}


def finish(
    repository: PostgresPredictionRepository,
    prediction_id: uuid.UUID,
    has_dog: bool,
    detections: tuple[Detection, ...],
) -> bool:
    answer = FinishedPrediction(prediction_id, has_dog, detections)
    return repository.finish_many([answer]) == {prediction_id}


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
    assert start(repository, prediction_id)
    assert finish(repository, prediction_id, True, (DOG, CAT))
    done = repository.get(prediction_id)
    assert done is not None
    assert done.status is Status.DONE and done.has_dog is True
    assert done.detections == (DOG, CAT)
    assert done.updated_at >= done.created_at


def test_a_finished_row_never_changes_again(repository: PostgresPredictionRepository) -> None:
    prediction_id = new_pending(repository)
    start(repository, prediction_id)
    finish(repository, prediction_id, True, (DOG,))
    assert not start(repository, prediction_id)
    assert not finish(repository, prediction_id, False, (CAT,))
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
    start(repository, prediction_id)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(lambda _: finish(repository, prediction_id, True, (DOG,)), range(8))
        )
    assert outcomes.count(True) == 1
    done = repository.get(prediction_id)
    assert done is not None and done.detections == (DOG,)


# What a batch of ten images costs the database: one statement starts the rows, one UPDATE and
# one INSERT store every answer with its detections (two transactions in all).
BATCH_STATEMENTS = 3


def test_a_batch_of_ten_is_stored_in_three_statements(stack_settings: Settings) -> None:
    engine = make_engine(stack_settings.database_url)
    repository = PostgresPredictionRepository(engine)
    ids = [new_pending(repository) for _ in range(10)]
    results = [FinishedPrediction(i, n % 2 == 0, (DOG, CAT)[: n % 3]) for n, i in enumerate(ids)]
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert set(repository.start_processing_many(ids)) == set(ids)
        assert repository.finish_many(results) == set(ids)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    try:
        assert len(statements) == BATCH_STATEMENTS, statements
        for result in results:
            stored = repository.get(result.prediction_id)
            assert stored is not None and stored.status is Status.DONE
            assert (stored.has_dog, stored.detections) == (result.has_dog, result.detections)
    finally:
        for prediction_id in ids:
            repository.remove(prediction_id)
        engine.dispose()


def test_two_workers_finishing_one_batch_store_each_answer_once(
    repository: PostgresPredictionRepository,
) -> None:
    ids = [new_pending(repository) for _ in range(5)]
    assert set(repository.start_processing_many(ids)) == set(ids)
    results = [FinishedPrediction(i, True, (DOG,)) for i in ids]
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: repository.finish_many(results), range(4)))
    assert sorted(i for done in outcomes for i in done) == sorted(ids)  # each once, by someone
    for prediction_id in ids:
        stored = repository.get(prediction_id)
        assert stored is not None and stored.detections == (DOG,)
        repository.remove(prediction_id)


def test_fail_records_the_reason(repository: PostgresPredictionRepository) -> None:
    prediction_id = new_pending(repository)
    assert repository.fail(prediction_id, "image could not be decoded")
    failed = repository.get(prediction_id)
    assert failed is not None
    assert failed.status is Status.ERROR and failed.error == "image could not be decoded"


def test_unknown_id_is_none(repository: PostgresPredictionRepository) -> None:
    assert repository.get(uuid.uuid4()) is None
    assert not start(repository, uuid.uuid4())


def test_only_old_unenqueued_rows_are_swept(repository: PostgresPredictionRepository) -> None:
    unenqueued = new_pending(repository)
    enqueued = new_pending(repository)
    repository.mark_enqueued(enqueued)
    swept = {p.id for p in repository.unenqueued_before(0, 1000)}
    assert unenqueued in swept and enqueued not in swept
    assert unenqueued not in {p.id for p in repository.unenqueued_before(3600, 1000)}
    repository.mark_enqueued(unenqueued)  # leave nothing for the running stack's sweeper


def test_remove_deletes_row_and_detections(repository: PostgresPredictionRepository) -> None:
    prediction_id = new_pending(repository)
    start(repository, prediction_id)
    finish(repository, prediction_id, True, (DOG,))
    assert repository.remove(prediction_id) == f"uploads/{prediction_id}"
    assert repository.get(prediction_id) is None


def _schema(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a migration can change: the revision, the columns and the grants."""
    queries = {
        "revision": "SELECT version_num FROM alembic_version",
        "columns": "SELECT table_name, column_name, data_type, is_nullable"
        " FROM information_schema.columns WHERE table_schema = 'public'"
        " ORDER BY table_name, column_name",
        "grants": "SELECT grantee, table_name, privilege_type"
        " FROM information_schema.role_table_grants WHERE table_schema = 'public'"
        " ORDER BY grantee, table_name, privilege_type",
    }
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                name: [tuple(r) for r in connection.execute(text(q))] for name, q in queries.items()
            }
    finally:
        engine.dispose()


def test_migrations_are_idempotent(master_database_url: str) -> None:
    upgrade(master_database_url)
    once = _schema(master_database_url)
    upgrade(master_database_url)
    assert once["revision"] and once["columns"] and once["grants"]
    assert _schema(master_database_url) == once


def test_unreachable_database_is_dependency_unavailable() -> None:
    dead = f"postgresql+pg8000://postgres@127.0.0.1:{free_port()}/dogdetect"
    repository = PostgresPredictionRepository(make_engine(dead, connect_timeout=1))
    with pytest.raises(DependencyUnavailable) as raised:
        repository.ping()
    assert raised.value.dependency == "database"
    with pytest.raises(DependencyUnavailable):
        repository.add_pending(uuid.uuid4(), "uploads/x")


# -- the sweep: one at a time (an advisory lock), and stuck rows given up -----------------------

STUCK = 7200
GAVE_UP = "gave up: a test's stuck row"


def test_a_second_holder_of_a_lock_is_refused_until_it_is_released(
    repository: PostgresPredictionRepository, stack_settings: Settings
) -> None:
    other = PostgresPredictionRepository(make_engine(stack_settings.database_url))
    name = f"test-lock-{uuid.uuid4()}"
    with repository.exclusive(name) as first, other.exclusive(name) as second:
        assert (first, second) == (True, False)
    with other.exclusive(name) as again:
        assert again  # released at the end of the block, on the connection that took it
    with pytest.raises(RuntimeError), repository.exclusive(name):
        raise RuntimeError("the block failed")
    with other.exclusive(name) as after_a_failure:
        assert after_a_failure


def test_two_concurrent_sweeps_never_overlap(
    repository: PostgresPredictionRepository,
    storage: S3ImageStorage,
    own_queue: tuple[Any, str],
) -> None:
    queue = SqsJobQueue(*own_queue)
    inside, finish = threading.Event(), threading.Event()

    class SlowRepository:
        """The real repository, whose sweep pauses while it holds the lock."""

        def __getattr__(self, name: str) -> Any:
            return getattr(repository, name)

        def fail_stuck(self, older_than_seconds: int, reason: str, limit: int) -> int:
            inside.set()
            finish.wait(30)
            return repository.fail_stuck(older_than_seconds, reason, limit)

    def run(on: Any) -> SweepResult:
        return sweep(
            sweep_deps_for(on, storage, queue, grace_seconds=3600, stuck_after_seconds=STUCK)
        )

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(run, SlowRepository())
        # (it skips if the stack's own sweeper holds the lock just then: start it again)
        while not inside.wait(0.05):
            if first.done():
                assert first.result().skipped
                first = pool.submit(run, SlowRepository())
        second = run(repository)
        finish.set()
        assert second == SweepResult(0, 0, skipped=True)
        assert not first.result().skipped


def backdate(
    engine: Engine, ids: list[uuid.UUID], updated_seconds: int, enqueued_seconds: int
) -> None:
    """Age rows as if time had passed (as the functions' role: it may UPDATE)."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE predictions SET"
                " updated_at = now() - make_interval(secs => :updated),"
                " enqueued_at = CASE WHEN enqueued_at IS NULL THEN NULL"
                " ELSE now() - make_interval(secs => :enqueued) END"
                " WHERE id = ANY(:ids)"
            ),
            {"updated": updated_seconds, "enqueued": enqueued_seconds, "ids": ids},
        )


def queued(repository: PostgresPredictionRepository) -> uuid.UUID:
    prediction_id = new_pending(repository)
    repository.mark_enqueued(prediction_id)
    return prediction_id


def test_only_stuck_rows_end_error(
    repository: PostgresPredictionRepository, stack_settings: Settings
) -> None:
    engine = make_engine(stack_settings.database_url)
    with holding_the_sweep(repository):  # the stack's sweeper stays out meanwhile
        pending, processing, done = queued(repository), queued(repository), queued(repository)
        repository.start_processing_many([processing, done])
        finish(repository, done, True, (DOG,))
        never_queued = new_pending(repository)
        fresh = queued(repository)
        requeued_late = queued(repository)  # by the sweeper, after a long outage
        backdate(engine, [pending, processing, done, never_queued], STUCK + 60, STUCK + 60)
        backdate(engine, [requeued_late], STUCK + 60, 5)

        assert repository.fail_stuck(STUCK, GAVE_UP, 100) == 2

    for stuck in (pending, processing):
        row = repository.get(stuck)
        assert row is not None and (row.status, row.error) == (Status.ERROR, GAVE_UP)
    finished = repository.get(done)
    assert finished is not None
    assert (finished.status, finished.error, finished.detections) == (Status.DONE, None, (DOG,))
    for untouched in (never_queued, fresh, requeued_late):
        row = repository.get(untouched)
        assert row is not None and row.status is Status.PENDING
    for prediction_id in (pending, processing, done, never_queued, fresh, requeued_late):
        repository.remove(prediction_id)


def test_stuck_rows_are_given_up_at_most_limit_at_a_time(
    repository: PostgresPredictionRepository, stack_settings: Settings
) -> None:
    engine = make_engine(stack_settings.database_url)
    with holding_the_sweep(repository):
        rows = [queued(repository) for _ in range(3)]
        backdate(engine, rows, STUCK + 60, STUCK + 60)
        # The database is shared with other tests, whose stuck rows may count too: what holds
        # is that no call gives up more than its limit, and that calls in turn get them all.
        counts = []
        while given_up := repository.fail_stuck(STUCK, GAVE_UP, 2):
            counts.append(given_up)
            assert len(counts) < 100
        assert max(counts) == 2
        assert sum(counts) >= len(rows)
        for prediction_id in rows:
            found = repository.get(prediction_id)
            assert found is not None and found.status is Status.ERROR
    for prediction_id in rows:
        repository.remove(prediction_id)


def test_the_sweep_gives_up_on_a_stuck_row_with_its_reason(
    repository: PostgresPredictionRepository, stack: RunningStack, stack_settings: Settings
) -> None:
    """The stack's own sweep function (its STUCK_AFTER_SECONDS is the default, STUCK), run
    once the row is stuck, rather than a sweep of the test's that the stack's may lock out."""
    stuck, fresh = queued(repository), queued(repository)
    backdate(make_engine(stack_settings.database_url), [stuck], STUCK + 60, STUCK + 60)
    assert not stack.sweep()["skipped"]
    row = repository.get(stuck)
    # (or the stack's scheduled sweep gave up on it first: the same setting, the same reason)
    assert row is not None and (row.status, row.error) == (Status.ERROR, stuck_reason(STUCK))
    untouched = repository.get(fresh)
    assert untouched is not None and untouched.status is Status.PENDING
    repository.remove(stuck)
    repository.remove(fresh)
