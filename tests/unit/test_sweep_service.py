"""sweep_unenqueued: rows never marked enqueued, once past the grace period."""

from __future__ import annotations

import pytest
from dogdetect.errors import DependencyUnavailable
from dogdetect.models import Job, Status
from dogdetect.service.sweep import SweepResult, sweep_unenqueued

from tests.fakes import FakeAdapters

GRACE = 60


def sweep(fakes: FakeAdapters, limit: int = 100) -> SweepResult:
    return sweep_unenqueued(
        fakes.repository, fakes.storage, fakes.queue, grace_seconds=GRACE, limit=limit
    )


def test_nothing_to_do(fakes: FakeAdapters) -> None:
    fakes.repository.seed(Status.PENDING, enqueued=True)
    fakes.repository.clock.advance(GRACE * 10)
    assert sweep(fakes) == SweepResult(0, 0)
    assert fakes.queue.sent == []


def test_pending_row_with_object_is_requeued_and_marked(fakes: FakeAdapters) -> None:
    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.storage.objects[p.image_key] = b"img"
    fakes.repository.clock.advance(GRACE + 1)

    assert sweep(fakes) == SweepResult(requeued=1, deleted=0)
    assert fakes.queue.sent == [Job(p.id, fakes.storage.bucket, p.image_key)]
    assert fakes.repository.rows[p.id].enqueued_at is not None
    assert sweep(fakes) == SweepResult(0, 0)  # marked: not sent twice


def test_pending_row_without_object_is_deleted(fakes: FakeAdapters) -> None:
    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.repository.clock.advance(GRACE + 1)
    assert sweep(fakes) == SweepResult(requeued=0, deleted=1)
    assert p.id not in fakes.repository.rows
    assert fakes.queue.sent == []


@pytest.mark.parametrize("status", [Status.DONE, Status.ERROR])
def test_terminal_row_is_only_marked(fakes: FakeAdapters, status: Status) -> None:
    # Its message went out and was processed; only the enqueued mark was lost.
    p = fakes.repository.seed(status, enqueued=False)
    fakes.repository.clock.advance(GRACE + 1)
    assert sweep(fakes) == SweepResult(0, 0)
    assert fakes.queue.sent == []
    assert fakes.repository.rows[p.id].enqueued_at is not None
    assert fakes.repository.status_of(p.id) is status
    assert "exists" not in fakes.storage.operations()


def test_rows_within_grace_are_left_alone(fakes: FakeAdapters) -> None:
    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.repository.clock.advance(GRACE - 1)
    assert sweep(fakes) == SweepResult(0, 0)
    assert p.id in fakes.repository.rows and fakes.repository.rows[p.id].enqueued_at is None


def test_limit_bounds_one_run_oldest_first(fakes: FakeAdapters) -> None:
    seeded = []
    for _ in range(5):
        seeded.append(fakes.repository.seed(Status.PENDING, enqueued=False))
        fakes.repository.clock.advance(1)
    fakes.repository.clock.advance(GRACE + 1)
    assert sweep(fakes, limit=2) == SweepResult(0, 2)
    assert set(fakes.repository.rows) == {p.id for p in seeded[2:]}
    assert sweep(fakes, limit=10) == SweepResult(0, 3)


def test_queue_down_propagates_and_leaves_the_row_for_next_time(fakes: FakeAdapters) -> None:
    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.storage.objects[p.image_key] = b"img"
    fakes.repository.clock.advance(GRACE + 1)
    fakes.queue.break_("send")
    with pytest.raises(DependencyUnavailable):
        sweep(fakes)
    assert fakes.repository.rows[p.id].enqueued_at is None
    fakes.queue.repair()
    assert sweep(fakes) == SweepResult(1, 0)


def test_sweep_handler_runs_the_sweep_on_the_given_adapters(fakes: FakeAdapters) -> None:
    from tests.unit.conftest import FakeLambdaContext, load_function

    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.storage.objects[p.image_key] = b"img"
    fakes.repository.clock.advance(fakes.settings.enqueue_grace_seconds + 1)

    result = load_function("sweep").lambda_handler({}, FakeLambdaContext(), lambda: fakes)

    assert result == {"requeued": 1, "deleted": 0}
    assert fakes.queue.sent == [Job(p.id, fakes.storage.bucket, p.image_key)]
