"""The real Lambda entry points (Mangum + Powertools) invoked with stored API Gateway HTTP API
payload-2.0 and SQS events, a fake Lambda context, and fakes behind dependency overrides."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from dogdetect.domain.jobs import parse_job
from dogdetect.domain.models import Status
from dogdetect.runtime.composition import adapters
from dogdetect.runtime.observability import instrument
from dogdetect.service.predict import PredictDeps

from tests import corpus
from tests.fakes import FakeAdapters, FakeDetector, FakeRepository, FakeStorage, detection
from tests.unit.conftest import (
    FakeLambdaContext,
    load_event,
    load_function,
    response_body,
)

# An invocation that publishes no metric (status, error paths) warns of nothing (observability).
pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish:UserWarning")

CONTEXT = FakeLambdaContext()


def test_stored_submit_event_carries_a_png_multipart_body() -> None:
    event = load_event("submit_multipart")
    assert event["version"] == "2.0" and event["isBase64Encoded"] is True
    body = base64.b64decode(event["body"])
    assert corpus.png() in body
    assert event["headers"]["content-type"].startswith("multipart/form-data; boundary=")


def test_submit_handler_accepts_the_stored_event(
    submit_handler: Any, fakes: FakeAdapters, capsys: pytest.CaptureFixture[str]
) -> None:
    result = submit_handler(load_event("submit_multipart"), CONTEXT)

    assert result["statusCode"] == 202
    body = response_body(result)
    assert set(body) == {"image_prediction_id", "status", "has_dog", "options"}
    assert body["status"] == "PENDING" and body["has_dog"] is None
    pid = uuid.UUID(body["image_prediction_id"])
    assert result["headers"]["location"] == f"/image_prediction/{pid}"
    assert result["headers"]["content-type"] == "application/json"
    assert fakes.storage.objects == {f"uploads/{pid}": corpus.png()}
    assert [job.prediction_id for job in fakes.queue.sent] == [pid]

    # Metrics: one EMF document on stdout with the accepted-image count.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(emf) == 1
    assert emf[0]["ImagesAccepted"] == [1.0] and emf[0]["service"] == "submit"
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "DogDetect"


def test_submit_handler_logs_with_lambda_context_and_prediction_id(
    submit_handler: Any, submit_module: ModuleType
) -> None:
    result = submit_handler(load_event("submit_multipart"), CONTEXT)
    keys = submit_module.obs.logger.get_current_keys()
    assert keys["function_name"] == CONTEXT.function_name
    assert keys["function_request_id"] == CONTEXT.aws_request_id
    assert keys["function_arn"] == CONTEXT.invoked_function_arn
    assert keys["correlation_id"] == response_body(result)["image_prediction_id"]


def test_submit_handler_refuses_hostile_body_as_json(
    submit_handler: Any, fakes: FakeAdapters
) -> None:
    event = load_event("submit_multipart")
    raw = base64.b64decode(event["body"]).replace(corpus.png(), corpus.svg())
    event["body"] = base64.b64encode(raw).decode()
    event["headers"]["content-length"] = str(len(raw))
    result = submit_handler(event, CONTEXT)
    assert result["statusCode"] == 415
    assert result["headers"]["content-type"] == "application/json"
    assert set(response_body(result)) == {"detail"}
    assert fakes.queue.sent == []


def test_submit_handler_dependency_down_is_503_json(
    submit_handler: Any, fakes: FakeAdapters
) -> None:
    fakes.queue.break_("send")
    result = submit_handler(load_event("submit_multipart"), CONTEXT)
    assert result["statusCode"] == 503
    assert result["headers"]["retry-after"] == "1"
    assert "detail" in response_body(result)
    assert fakes.repository.rows == {} and fakes.storage.objects == {}


def test_submit_handler_unexpected_error_is_500_json(
    submit_handler: Any, fakes: FakeAdapters
) -> None:
    fakes.storage.raise_on("put", RuntimeError("bug"))
    result = submit_handler(load_event("submit_multipart"), CONTEXT)
    assert result["statusCode"] == 500
    assert response_body(result) == {"detail": "internal error"}


def test_status_handler_reads_the_stored_event_id(
    status_handler: Any, fakes: FakeAdapters, status_module: ModuleType
) -> None:
    event = load_event("status_get")
    pid = uuid.UUID(event["pathParameters"]["image_prediction_id"])
    fakes.repository.seed(Status.DONE, prediction_id=pid, has_dog=True, detections=[detection()])

    result = status_handler(event, CONTEXT)
    assert result["statusCode"] == 200
    body = response_body(result)
    assert body["image_prediction_id"] == str(pid)
    assert body["status"] == "DONE" and body["has_dog"] is True
    assert body["detections"][0]["label"] == "dog"
    assert status_module.obs.logger.get_current_keys()["correlation_id"] == str(pid)


def test_status_handler_unknown_id_is_404_json(status_handler: Any) -> None:
    result = status_handler(load_event("status_get"), CONTEXT)  # nothing seeded
    assert result["statusCode"] == 404
    assert response_body(result) == {"detail": "no prediction with this id"}


def test_status_handler_malformed_id_is_404_json(status_handler: Any) -> None:
    event = load_event("status_get")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/image_prediction/x%27--"
    event["pathParameters"] = {"image_prediction_id": "x'--"}
    result = status_handler(event, CONTEXT)
    assert result["statusCode"] == 404
    assert set(response_body(result)) == {"detail"}


def test_health_handler(status_handler: Any, fakes: FakeAdapters) -> None:
    result = status_handler(load_event("health_get"), CONTEXT)
    assert result["statusCode"] == 200
    assert response_body(result) == {
        "status": "ok",
        "checks": {"database": "ok", "storage": "ok", "queue": "ok"},
    }
    fakes.storage.break_()
    result = status_handler(load_event("health_get"), CONTEXT)
    assert result["statusCode"] == 503
    assert response_body(result)["checks"]["storage"] == "unavailable"


def test_every_handler_is_instrumented() -> None:
    for name in ("submit", "status", "predict", "sweep", "deadletter", "notify"):
        module = load_function(name)
        assert module.handler.__name__ == f"{name}_handler"  # named by instrument()
        assert module.obs.logger.service == name
        assert module.obs.metrics.namespace == "DogDetect"


def test_predict_handler_with_only_poison_messages_fails_the_batch() -> None:
    """The real predict entry point: malformed bodies fail before any dependency is built."""
    module = load_function("predict")
    event = load_event("predict_sqs_batch")
    for record in event["Records"]:
        record["body"] = "not json"
    with pytest.raises(BatchProcessingError):
        module.handler(event, CONTEXT)
    # No model or database was needed to refuse them.
    assert module.predict_deps.cache_info().currsize == 0


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def core_log() -> Iterator[_Records]:
    """Every record of the core's loggers (they reach the function's log through `dogdetect`)."""
    captured, core = _Records(), logging.getLogger("dogdetect")
    core.addHandler(captured)
    level, core.level = core.level, logging.INFO
    try:
        yield captured
    finally:
        core.removeHandler(captured)
        core.setLevel(level)


def test_predict_handler_processes_a_batch_with_a_poison_message(
    core_log: _Records, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_function("predict")
    event = load_event("predict_sqs_batch_poison")
    good = [SQSRecord(r) for i, r in enumerate(event["Records"]) if i != 1]
    poison = event["Records"][1]
    repository, storage = FakeRepository(), FakeStorage()
    ids = [parse_job(r.body).prediction_id for r in good]
    for prediction_id in ids:
        repository.seed(prediction_id=prediction_id)
        storage.objects[f"uploads/{prediction_id}"] = corpus.jpeg()
    deps = PredictDeps(repository, storage, FakeDetector([detection()]), 0.5, 10**7, 5)
    handler = instrument(
        lambda e, c: module.lambda_handler(e, c, lambda: deps), module.obs, adapters
    )

    assert handler(event, CONTEXT) == {
        "batchItemFailures": [{"itemIdentifier": poison["messageId"]}]
    }
    assert [repository.status_of(i) for i in ids] == [Status.DONE, Status.DONE]

    # One JSON log line per prediction, its id as the correlation id; the poison message is
    # named by its id, its body never logged.
    lines = [json.loads(module.obs.logger.registered_formatter.format(r)) for r in core_log.records]
    assert {line.get("correlation_id") for line in lines} >= {str(i) for i in ids}
    assert any(poison["messageId"] in line["message"] for line in lines)
    assert not any("secret-looking" in json.dumps(line) for line in lines)
    # One metric document: two images processed, two predictions DONE, none ERROR.
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [doc["ImagesProcessed"] for doc in emf] == [[2.0]]
    assert [doc["PredictionsDone"] for doc in emf] == [[2.0]]
    assert not any("PredictionsFailed" in doc for doc in emf)
