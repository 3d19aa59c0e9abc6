"""The real Lambda entry points with stored API Gateway events of the issue 11 features: a
DELETE, a GET with Prefer: wait=N, and the stored upload sent twice with an Idempotency-Key."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from dogdetect.adapters.detector.geometry import MAX_DETECTIONS
from dogdetect.domain.limits import LAMBDA_PAYLOAD_LIMIT_BYTES, MAX_LIST_LIMIT
from dogdetect.domain.models import Box, Detection, Status

from tests import corpus
from tests.fakes import FakeAdapters, detection
from tests.unit.conftest import FakeLambdaContext, load_event, response_body

pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish:UserWarning")
CONTEXT = FakeLambdaContext()


def _id(event: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(event["pathParameters"]["image_prediction_id"])


def test_the_stored_delete_event_deletes_row_and_image(
    submit_handler: Any, fakes: FakeAdapters
) -> None:
    event = load_event("delete_prediction")
    assert event["routeKey"] == "DELETE /image_prediction/{image_prediction_id}"
    p = fakes.repository.seed(Status.DONE, prediction_id=_id(event), has_dog=False)
    fakes.storage.objects[p.image_key] = b"photo"

    result = submit_handler(event, CONTEXT)
    assert result["statusCode"] == 204 and not result["body"]
    assert "content-type" not in {name.lower() for name in result["headers"]}
    assert fakes.repository.rows == {} and fakes.storage.objects == {}
    assert submit_handler(event, CONTEXT)["statusCode"] == 404


def test_the_stored_wait_event_says_the_preference_was_applied(
    status_handler: Any, fakes: FakeAdapters
) -> None:
    event = load_event("status_get_wait")
    assert event["headers"]["prefer"] == "wait=10"
    fakes.repository.seed(Status.DONE, prediction_id=_id(event), detections=[detection()])

    result = status_handler(event, CONTEXT)
    assert result["statusCode"] == 200
    assert result["headers"]["preference-applied"] == "wait=10"
    assert response_body(result)["status"] == "DONE"


def test_the_stored_upload_sent_twice_with_a_key_is_one_prediction(
    submit_handler: Any, fakes: FakeAdapters
) -> None:
    event = load_event("submit_multipart")
    event["headers"]["idempotency-key"] = "b1946ac9-retry"
    first, again = submit_handler(event, CONTEXT), submit_handler(event, CONTEXT)
    assert first["statusCode"] == again["statusCode"] == 202
    assert response_body(first) == response_body(again)
    assert first["headers"]["location"] == again["headers"]["location"]
    assert len(fakes.repository.rows) == 1 and len(fakes.queue.sent) == 1


def test_an_encoded_slash_is_not_a_separator(status_handler: Any, fakes: FakeAdapters) -> None:
    # API Gateway decodes `http.path`, which Mangum routes on; `rawPath` keeps the %2F.
    event = load_event("status_get_encoded_slash")
    assert event["rawPath"].endswith("%2Fannotated")
    assert event["requestContext"]["http"]["path"].endswith("/annotated")
    pid = uuid.UUID(event["rawPath"].split("/")[2].split("%")[0])
    seeded = fakes.repository.seed(Status.DONE, prediction_id=pid, detections=[detection()])
    fakes.storage.objects[seeded.image_key] = corpus.jpeg()  # the annotated route would draw

    result = status_handler(event, CONTEXT)
    assert result["statusCode"] == 404, result
    assert result["headers"]["content-type"] == "application/json"


def test_the_stored_list_event_answers_a_page(status_handler: Any, fakes: FakeAdapters) -> None:
    event = load_event("status_list")
    assert event["routeKey"] == "GET /image_prediction"
    done = [fakes.repository.seed(Status.DONE, has_dog=True) for _ in range(3)]
    fakes.repository.seed(Status.PENDING)

    result = status_handler(event, CONTEXT)
    assert result["statusCode"] == 200, result
    body = response_body(result)
    assert set(body) == {"items", "next_cursor"} and len(body["items"]) == 2
    assert {item["status"] for item in body["items"]} == {"DONE"}
    assert {item["image_prediction_id"] for item in body["items"]} <= {str(p.id) for p in done}
    assert isinstance(body["next_cursor"], str)


def test_a_not_modified_page_has_no_content_type(status_handler: Any) -> None:
    event = load_event("status_get")
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/"
    first = status_handler(event, CONTEXT)
    event["headers"]["if-none-match"] = first["headers"]["etag"]
    result = status_handler(event, CONTEXT)
    assert result["statusCode"] == 304 and not result["body"]
    assert "content-type" not in {name.lower() for name in result["headers"]}


def test_the_fullest_page_fits_a_lambda_answer(status_handler: Any, fakes: FakeAdapters) -> None:
    """100 predictions of 300 detections each (the detector's most), with COCO's longest
    label and the widest numbers the detector writes: the answer Lambda returns, body escaped
    in its JSON envelope, stays under Lambda's 6 MB."""
    widest = Detection("baseball glove", 0.1234, Box(12345.6, 12345.6, 12345.6, 12345.6))
    for _ in range(MAX_LIST_LIMIT):
        fakes.repository.seed(Status.DONE, has_dog=False, detections=[widest] * MAX_DETECTIONS)
    event = load_event("status_list")
    event["rawQueryString"] = f"limit={MAX_LIST_LIMIT}"
    event["queryStringParameters"] = {"limit": str(MAX_LIST_LIMIT)}

    result = status_handler(event, CONTEXT)
    assert result["statusCode"] == 200
    assert len(response_body(result)["items"]) == MAX_LIST_LIMIT
    size = len(json.dumps(result).encode())
    assert size < LAMBDA_PAYLOAD_LIMIT_BYTES, size
