"""The sweep: rows never marked enqueued once past the grace period, stuck rows, overdue
webhooks; one sweep at a time; a failure stays in its row."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from dogdetect.domain.models import Job, Status
from dogdetect.runtime import use_cases
from dogdetect.service.sweep import (
    SWEEP_LOCK,
    SweepDeps,
    SweepResult,
    stuck_reason,
    sweep_unenqueued,
)
from dogdetect.service.sweep import sweep as run_sweep

from tests.fakes import FakeAdapters, sweep_deps_for

GRACE = 60


def sweep(fakes: FakeAdapters, limit: int = 100) -> SweepResult:
    result = SweepResult()
    deps = sweep_deps_for(fakes.repository, fakes.storage, fakes.queue, limit=limit)
    sweep_unenqueued(deps, result)
    return result


def settings_of(fakes: FakeAdapters) -> Callable[[], SweepDeps]:
    """The handler's dependencies as the function wires them (its settings), on the fakes."""
    return lambda: use_cases.sweep_deps(fakes)  # type: ignore[arg-type]


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


def test_queue_down_is_counted_and_leaves_the_row_for_next_time(fakes: FakeAdapters) -> None:
    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.storage.objects[p.image_key] = b"img"
    fakes.repository.clock.advance(GRACE + 1)
    fakes.queue.break_("send")
    assert sweep(fakes) == SweepResult(0, 0, failed=1)
    assert fakes.repository.rows[p.id].enqueued_at is None
    fakes.queue.repair()
    assert sweep(fakes) == SweepResult(1, 0)


def test_sweep_handler_runs_the_sweep_on_the_given_adapters(fakes: FakeAdapters) -> None:
    from tests.unit.conftest import FakeLambdaContext, load_function

    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.storage.objects[p.image_key] = b"img"
    fakes.repository.clock.advance(fakes.settings.enqueue_grace_seconds + 1)

    result = load_function("sweep").lambda_handler({}, FakeLambdaContext(), settings_of(fakes))

    assert result == {
        "requeued": 1,
        "deleted": 0,
        "stuck_failed": 0,
        "skipped": False,
        "keys_expired": 0,
        "webhooks_announced": 0,
        "uploads_expired": 0,
        "failed": 0,
    }
    assert fakes.queue.sent == [Job(p.id, fakes.storage.bucket, p.image_key)]


# -- the scheduled sweep: one at a time, and stuck predictions given up -----------------------

STUCK = 7200


def scheduled(fakes: FakeAdapters, limit: int = 100) -> SweepResult:
    return run_sweep(
        sweep_deps_for(
            fakes.repository,
            fakes.storage,
            fakes.queue,
            fakes.notifications,
            grace_seconds=GRACE,
            stuck_after_seconds=STUCK,
            limit=limit,
        )
    )


def test_a_second_sweep_while_one_runs_skips_and_says_so(
    fakes: FakeAdapters, caplog: pytest.LogCaptureFixture
) -> None:
    p = fakes.repository.seed(Status.PENDING, enqueued=False)
    fakes.storage.objects[p.image_key] = b"img"
    fakes.repository.clock.advance(GRACE + 1)
    with fakes.repository.exclusive(SWEEP_LOCK), caplog.at_level("INFO"):
        assert scheduled(fakes) == SweepResult(0, 0, skipped=True)
    assert "sweep skipped" in caplog.text
    assert fakes.queue.sent == []  # nothing done twice
    assert scheduled(fakes) == SweepResult(1, 0)  # the lock was released


def test_the_lock_is_released_when_a_step_fails(fakes: FakeAdapters) -> None:
    fakes.repository.raise_on("fail_stuck", RuntimeError("a bug in one step"))
    assert scheduled(fakes).failed == 1
    assert fakes.repository.locks == set()


def test_a_failure_stays_in_its_row_and_the_later_steps_still_run(
    fakes: FakeAdapters, caplog: pytest.LogCaptureFixture
) -> None:
    """Storage fails for one row's key only: that row is logged and counted, the rows after
    it are repaired, and the steps after this one (stuck rows, overdue webhooks) still run."""
    rows = []
    for _ in range(3):
        rows.append(fakes.repository.seed(Status.PENDING, enqueued=False))
        fakes.repository.clock.advance(1)
    for p in rows:
        fakes.storage.objects[p.image_key] = b"img"
    stuck = fakes.repository.seed(Status.PROCESSING)
    fakes.repository.clock.advance(STUCK + 1)
    fakes.storage.break_for("exists", rows[0].image_key)

    with caplog.at_level("ERROR"):
        result = scheduled(fakes)

    assert (result.requeued, result.failed, result.stuck_failed) == (2, 1, 1)
    assert [job.prediction_id for job in fakes.queue.sent] == [rows[1].id, rows[2].id]
    assert fakes.repository.rows[rows[0].id].enqueued_at is None  # tried again next sweep
    assert fakes.repository.status_of(stuck.id) is Status.ERROR
    assert str(rows[0].id) in caplog.text
    fakes.storage.repair()
    assert scheduled(fakes).requeued == 1


def test_a_stuck_prediction_ends_error_with_a_readable_reason(fakes: FakeAdapters) -> None:
    pending = fakes.repository.seed(Status.PENDING)
    processing = fakes.repository.seed(Status.PROCESSING)
    fakes.repository.clock.advance(STUCK + 1)
    assert scheduled(fakes) == SweepResult(0, 0, stuck_failed=2)
    for p in (pending, processing):
        failed = fakes.repository.get(p.id)
        assert failed is not None and failed.status is Status.ERROR
        assert failed.error == stuck_reason(STUCK)
    assert stuck_reason(STUCK).startswith("gave up: no result 7200 seconds after")


def test_recent_finished_and_unqueued_rows_are_not_stuck(fakes: FakeAdapters) -> None:
    done = fakes.repository.seed(Status.DONE, has_dog=True)
    failed = fakes.repository.seed(Status.ERROR, error="image could not be decoded")
    unqueued = fakes.repository.seed(Status.PENDING, enqueued=False)  # the sweeper's other job
    fakes.repository.clock.advance(STUCK + 1)
    recent = fakes.repository.seed(Status.PROCESSING)
    fakes.storage.objects[unqueued.image_key] = b"img"
    result = scheduled(fakes)
    assert result.stuck_failed == 0
    assert fakes.repository.status_of(done.id) is Status.DONE
    assert fakes.repository.status_of(failed.id) is Status.ERROR
    assert fakes.repository.get(failed.id).error == "image could not be decoded"  # type: ignore[union-attr]
    assert fakes.repository.status_of(recent.id) is Status.PROCESSING
    # requeued just now by this sweep: its long-idle row has a fresh message, not stuck yet
    assert fakes.repository.status_of(unqueued.id) is Status.PENDING


def test_stuck_rows_are_bounded_by_the_limit_longest_idle_first(fakes: FakeAdapters) -> None:
    seeded = []
    for _ in range(3):
        seeded.append(fakes.repository.seed(Status.PROCESSING))
        fakes.repository.clock.advance(1)
    fakes.repository.clock.advance(STUCK)
    assert scheduled(fakes, limit=2).stuck_failed == 2
    assert [fakes.repository.status_of(p.id) for p in seeded] == [
        Status.ERROR,
        Status.ERROR,
        Status.PROCESSING,
    ]
    assert scheduled(fakes, limit=2).stuck_failed == 1


def test_sweep_handler_reports_skips_and_stuck_rows(fakes: FakeAdapters) -> None:
    from tests.unit.conftest import FakeLambdaContext, load_function

    stuck = fakes.repository.seed(Status.PENDING)
    fakes.repository.clock.advance(fakes.settings.stuck_after_seconds + 1)
    handler = load_function("sweep").lambda_handler

    result = handler({}, FakeLambdaContext(), settings_of(fakes))
    assert result == {
        "requeued": 0,
        "deleted": 0,
        "stuck_failed": 1,
        "skipped": False,
        "keys_expired": 0,
        "webhooks_announced": 0,
        "uploads_expired": 0,
        "failed": 0,
    }
    assert fakes.repository.status_of(stuck.id) is Status.ERROR
    with fakes.repository.exclusive(SWEEP_LOCK):
        assert handler({}, FakeLambdaContext(), settings_of(fakes))["skipped"] is True


# -- webhooks the finishing code did not announce ---------------------------------------------

HOOK = "https://hooks.example.com/dogs"


def test_a_stuck_prediction_with_a_webhook_is_announced_by_the_next_sweep(
    fakes: FakeAdapters,
) -> None:
    stuck = fakes.repository.seed(Status.PENDING, webhook_url=HOOK)
    fakes.repository.clock.advance(STUCK + 1)

    def sweep_with_notifications() -> SweepResult:
        return scheduled(fakes)

    first = sweep_with_notifications()
    assert (first.stuck_failed, first.webhooks_announced) == (1, 0)  # ended just now
    fakes.repository.clock.advance(GRACE + 1)
    assert sweep_with_notifications().webhooks_announced == 1
    (sent,) = fakes.notifications.sent
    assert sent.webhook_id == f"msg_{stuck.id}" and sent.payload["status"] == "ERROR"
    assert sent.payload["error"] == stuck_reason(STUCK)
    assert sweep_with_notifications().webhooks_announced == 0  # noted: once


def test_sweep_handler_announces_overdue_webhooks(fakes: FakeAdapters) -> None:
    from tests.unit.conftest import FakeLambdaContext, load_function

    done = fakes.repository.seed(Status.DONE, has_dog=True, webhook_url=HOOK)
    fakes.repository.clock.advance(fakes.settings.enqueue_grace_seconds + 1)
    result = load_function("sweep").lambda_handler({}, FakeLambdaContext(), settings_of(fakes))
    assert result["webhooks_announced"] == 1
    assert [n.webhook_id for n in fakes.notifications.sent] == [f"msg_{done.id}"]
