"""The dead-letter consumer: the core service with the in-memory repository, then the real
entry point (Powertools BatchProcessor, partial failures) with the stored dead-letter event."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.jobs import parse_job
from dogdetect.domain.models import Status
from dogdetect.service.deadletter import (
    DeadLetterDeps,
    DeadLetterOutcome,
    abandon_reason,
    settle_dead_letter,
)

from tests.fakes import FakeRepository
from tests.unit.conftest import FakeLambdaContext, load_event, load_function

# Powertools warns when an invocation publishes no metric: expected where nothing is abandoned.
pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish:UserWarning")

MAX_RECEIVE_COUNT = 5
SECRET_KEY = "uploads/do-not-log-this-key"
deadletter_app = load_function("deadletter")


def deps_of(repository: FakeRepository) -> DeadLetterDeps:
    return DeadLetterDeps(repository=repository, max_receive_count=MAX_RECEIVE_COUNT)


def body_for(prediction_id: uuid.UUID) -> str:
    return json.dumps(
        {
            "image_prediction_id": str(prediction_id),
            "bucket": "b",
            "key": f"uploads/{prediction_id}",
        }
    )


def no_deps() -> DeadLetterDeps:
    raise AssertionError("a malformed message must not need the database")


# ------------------------------------------------------------------ the service


@pytest.mark.parametrize("status", [Status.PENDING, Status.PROCESSING])
def test_an_unfinished_prediction_is_marked_error_for_a_person(status: Status) -> None:
    repository = FakeRepository()
    row = repository.seed(status)
    outcome = settle_dead_letter(body_for(row.id), lambda: deps_of(repository))
    assert outcome is DeadLetterOutcome.ABANDONED and outcome.abandoned
    after = repository.get(row.id)
    assert after is not None and after.status is Status.ERROR
    assert after.error == (
        "gave up: the prediction did not finish after 5 attempts (it failed or timed out each time)"
    )
    assert after.error == abandon_reason(MAX_RECEIVE_COUNT)


def test_the_reason_names_the_configured_limit() -> None:
    assert "after 7 attempts" in abandon_reason(7)


def test_an_error_recorded_by_predict_is_kept_and_still_counts_as_abandoned() -> None:
    repository = FakeRepository()
    row = repository.seed(Status.ERROR, error="gave up after 5 attempts: StoredImageMissing")
    outcome = settle_dead_letter(body_for(row.id), lambda: deps_of(repository))
    assert outcome is DeadLetterOutcome.ALREADY_FAILED and outcome.abandoned
    after = repository.get(row.id)
    assert after is not None and after.error == "gave up after 5 attempts: StoredImageMissing"


def test_a_finished_prediction_is_left_alone() -> None:
    repository = FakeRepository()
    row = repository.seed(Status.DONE, has_dog=True)
    outcome = settle_dead_letter(body_for(row.id), lambda: deps_of(repository))
    assert outcome is DeadLetterOutcome.ALREADY_DONE and not outcome.abandoned
    assert repository.status_of(row.id) is Status.DONE


def test_an_unknown_prediction_is_consumed() -> None:
    repository = FakeRepository()
    outcome = settle_dead_letter(body_for(uuid.uuid4()), lambda: deps_of(repository))
    assert outcome is DeadLetterOutcome.UNKNOWN and not outcome.abandoned
    assert repository.rows == {}


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "",
        json.dumps([SECRET_KEY]),
        json.dumps({"bucket": "b", "key": SECRET_KEY}),
        json.dumps({"image_prediction_id": "not-a-uuid", "bucket": "b", "key": SECRET_KEY}),
    ],
)
def test_a_malformed_body_is_consumed_without_the_database_and_not_logged(
    body: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dogdetect"):
        outcome = settle_dead_letter(body, no_deps)
    assert outcome is DeadLetterOutcome.MALFORMED and not outcome.abandoned
    (record,) = [r for r in caplog.records if r.name.startswith("dogdetect")]
    assert record.levelno == logging.WARNING
    logged = json.dumps(record.__dict__, default=str)
    assert SECRET_KEY not in logged
    if body:
        assert body not in logged


def test_a_database_failure_propagates_so_the_message_is_retried() -> None:
    repository = FakeRepository()
    row = repository.seed(Status.PENDING)
    repository.break_("fail")
    with pytest.raises(DependencyUnavailable):
        settle_dead_letter(body_for(row.id), lambda: deps_of(repository))
    assert repository.status_of(row.id) is Status.PENDING


def test_logs_carry_the_prediction_id_but_not_the_key(caplog: pytest.LogCaptureFixture) -> None:
    repository = FakeRepository()
    row = repository.seed(Status.PENDING)
    with caplog.at_level(logging.INFO, logger="dogdetect"):
        settle_dead_letter(body_for(row.id), lambda: deps_of(repository))
    (record,) = [r for r in caplog.records if r.name.startswith("dogdetect")]
    assert record.__dict__["prediction_id"] == str(row.id)
    assert f"uploads/{row.id}" not in json.dumps(record.__dict__, default=str)


# ------------------------------------------------------------------ the Lambda entry point


def run_batch(event: dict[str, Any], repository: FakeRepository) -> Any:
    return deadletter_app.lambda_handler(event, FakeLambdaContext(), lambda: deps_of(repository))


def batch_world(status: Status = Status.PROCESSING) -> tuple[FakeRepository, dict[str, Any]]:
    event = load_event("deadletter_sqs_batch")
    repository = FakeRepository()
    for record in event["Records"]:
        repository.seed(status, prediction_id=parse_job(record["body"]).prediction_id)
    return repository, event


def ids_of(event: dict[str, Any]) -> list[uuid.UUID]:
    return [parse_job(r["body"]).prediction_id for r in event["Records"]]


def test_stored_event_comes_from_the_dead_letter_queue() -> None:
    event = load_event("deadletter_sqs_batch")
    assert len(event["Records"]) == 2
    for raw in event["Records"]:
        record = SQSRecord(raw)
        assert record.event_source == "aws:sqs"
        assert "JobsDeadLetterQueue" in record.event_source_arn
        assert "JobsQueue" in str(record.attributes.dead_letter_queue_source_arn)
        parse_job(record.body)


def test_batch_marks_every_abandoned_prediction_and_reports_no_failure(
    capsys: pytest.CaptureFixture[str],
) -> None:
    repository, event = batch_world()
    deadletter_app.obs.metrics.clear_metrics()
    assert run_batch(event, repository) == {"batchItemFailures": []}
    assert [repository.status_of(pid) for pid in ids_of(event)] == [Status.ERROR, Status.ERROR]

    # The metric the PredictionsAbandoned alarm watches: namespace, name and the one dimension.
    deadletter_app.obs.metrics.flush_metrics()
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "DogDetect"
    assert directive["Dimensions"] == [["service"]] and emf["service"] == "deadletter"
    assert [m["Name"] for m in directive["Metrics"]] == ["PredictionsAbandoned"]
    assert emf["PredictionsAbandoned"] == [1.0, 1.0]


def test_batch_reports_only_the_record_whose_update_failed() -> None:
    repository, event = batch_world()
    first = ids_of(event)[0]
    event["Records"][1]["body"] = json.dumps({"bucket": "b", "key": SECRET_KEY})
    repository.break_("fail")  # the database is down: the malformed record needs none
    result = run_batch(event, repository)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert repository.status_of(first) is Status.PROCESSING  # retried later


def test_batch_with_every_record_failing_fails_the_invocation() -> None:
    repository, event = batch_world()
    repository.break_()
    with pytest.raises(BatchProcessingError):
        run_batch(event, repository)


def test_real_entry_point_is_instrumented() -> None:
    assert deadletter_app.handler.__name__ == "deadletter_handler"
    assert deadletter_app.obs.logger.service == "deadletter"
    assert deadletter_app.obs.metrics.namespace == "DogDetect"


# ------------------------------------------------------------------ webhooks


def test_an_abandoned_prediction_with_a_webhook_is_announced() -> None:
    from tests.fakes import FakeNotificationQueue

    repository, notifications = FakeRepository(), FakeNotificationQueue()
    row = repository.seed(Status.PROCESSING, webhook_url="https://hooks.example.com/x")
    deps = DeadLetterDeps(repository, MAX_RECEIVE_COUNT, notifications=notifications)
    assert settle_dead_letter(body_for(row.id), lambda: deps) is DeadLetterOutcome.ABANDONED
    (sent,) = notifications.sent
    assert sent.payload["status"] == "ERROR"
    assert sent.payload["error"] == abandon_reason(MAX_RECEIVE_COUNT)
    assert repository.rows[row.id].webhook_enqueued_at is not None


def test_an_outage_of_the_notifications_queue_still_consumes_the_dead_letter() -> None:
    """The prediction is ERROR whatever happens to its webhook: the sweep announces it."""
    from tests.fakes import FakeNotificationQueue

    repository, notifications = FakeRepository(), FakeNotificationQueue()
    row = repository.seed(Status.PROCESSING, webhook_url="https://hooks.example.com/x")
    notifications.break_()
    deps = DeadLetterDeps(repository, MAX_RECEIVE_COUNT, notifications=notifications)
    assert settle_dead_letter(body_for(row.id), lambda: deps) is DeadLetterOutcome.ABANDONED
    assert repository.status_of(row.id) is Status.ERROR
    assert repository.rows[row.id].webhook_enqueued_at is None
