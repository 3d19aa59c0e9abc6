"""A request's `confidence` and `classes` over HTTP on the local stack (the gateway, submit
and status in their own environments, PostgreSQL, S3, the worker with the real model): what
the worker keeps, `has_dog`, the 422s, the options in every answer (202, 201, GET, the
webhook), an Idempotency-Key's request; and submit's 413 saying where larger photos go."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from local.launcher import RunningStack
from tests.conftest import eventually, sql, wait_terminal
from tests.e2e.conftest import Receiver
from tests.e2e.test_direct_uploads import post_to_storage
from tests.photos import photo

PHOTO_TIMEOUT = 120


def predicted(api: httpx.Client, data: dict[str, str] | None = None, name: str = "dog.jpg") -> Any:
    accepted = api.post("/image_prediction", files={"image": (name, photo(name))}, data=data)
    assert accepted.status_code == 202, accepted.text
    body = wait_terminal(api, accepted.json()["image_prediction_id"], timeout=PHOTO_TIMEOUT)
    assert body["status"] == "DONE", body
    assert body["options"] == accepted.json()["options"]
    return body


def found(body: dict[str, Any]) -> list[tuple[str, float]]:
    return [(d["label"], d["confidence"]) for d in body["detections"]]


@pytest.fixture(scope="module")
def everything(api: httpx.Client) -> list[tuple[str, float]]:
    """dog.jpg's detections as the service answers without options: a dog, and below 0.8
    at least one other thing, or the tests of this module could not fail."""
    body = predicted(api)
    assert body["options"] == {"confidence": 0.25, "classes": None}
    dogs = [c for label, c in found(body) if label == "dog"]
    assert dogs and 0.8 <= max(dogs) < 0.97, found(body)
    assert any(c < 0.8 for _, c in found(body)) and any(lb != "dog" for lb, _ in found(body))
    return found(body)


def test_a_higher_confidence_drops_the_detections_below_it(
    api: httpx.Client, everything: list[tuple[str, float]]
) -> None:
    body = predicted(api, {"confidence": "0.8"})
    assert body["options"] == {"confidence": 0.8, "classes": None}
    assert found(body) == [(label, c) for label, c in everything if c >= 0.8]
    assert body["has_dog"] is True


def test_has_dog_follows_the_confidence(
    api: httpx.Client, everything: list[tuple[str, float]]
) -> None:
    above_the_dog = max(c for label, c in everything if label == "dog") + 0.01
    body = predicted(api, {"confidence": f"{above_the_dog:.4f}"})
    assert body["has_dog"] is False
    assert found(body) == [(label, c) for label, c in everything if c >= above_the_dog]


def test_classes_keep_only_their_detections_and_has_dog_still_looks_for_a_dog(
    api: httpx.Client, everything: list[tuple[str, float]]
) -> None:
    dogs = predicted(api, {"classes": "dog"})
    assert dogs["options"] == {"confidence": 0.25, "classes": ["dog"]}
    assert found(dogs) == [(label, c) for label, c in everything if label == "dog"]
    others = predicted(api, {"classes": "cat, Horse"})
    assert others["options"]["classes"] == ["cat", "horse"]
    assert found(others) == [] and others["has_dog"] is True


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"confidence": "0.1"}, "'confidence' must be a number from 0.25 to 1"),
        ({"confidence": "1.5"}, "'confidence' must be a number from 0.25 to 1"),
        ({"confidence": "x"}, "'confidence' must be a number from 0.25 to 1"),
        ({"classes": "dog,unicorn"}, "'unicorn'"),
        ({"classes": ""}, "'classes' is empty"),
    ],
)
@pytest.mark.parametrize("route", ["/image_prediction", "/image_prediction/uploads"])
def test_options_it_cannot_apply_are_a_422_and_store_nothing(
    api: httpx.Client, stack: RunningStack, route: str, data: dict[str, str], words: str
) -> None:
    before = sql(stack, "SELECT count(*) FROM predictions")[0][0]
    files = {"image": ("dog.jpg", photo("dog.jpg"))} if route == "/image_prediction" else None
    response = api.post(route, data=data, files=files)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["detail"]
    assert sql(stack, "SELECT count(*) FROM predictions")[0][0] == before


def test_unknown_fields_stay_ignored(api: httpx.Client) -> None:
    response = api.post(
        "/image_prediction",
        files={"image": ("dog.jpg", photo("dog.jpg"))},
        data={"model": "yolov5", "threshold": "0.9"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["options"] == {"confidence": 0.25, "classes": None}


def test_the_same_key_with_other_options_is_a_422(api: httpx.Client, stack: RunningStack) -> None:
    key = {"Idempotency-Key": f"options-{uuid.uuid4()}"}
    files = {"image": ("dog.jpg", photo("dog.jpg"))}
    first = api.post("/image_prediction", files=files, headers=key, data={"confidence": "0.8"})
    assert first.status_code == 202, first.text
    again = api.post("/image_prediction", files=files, headers=key, data={"confidence": "0.80"})
    assert again.status_code == 202 and again.json() == first.json()
    other = api.post("/image_prediction", files=files, headers=key, data={"confidence": "0.9"})
    assert other.status_code == 422, other.text
    assert "other options" in other.json()["detail"]
    none = api.post("/image_prediction", files=files, headers=key)
    assert none.status_code == 422, none.text
    prediction_id = first.json()["image_prediction_id"]
    rows = sql(stack, "SELECT min_confidence FROM predictions WHERE id = :id", id=prediction_id)
    assert rows == [(0.8,)]


def test_a_direct_upload_applies_its_options_and_its_webhook_carries_them(
    api: httpx.Client, receiver: Receiver, everything: list[tuple[str, float]]
) -> None:
    receiver.answers = [200]
    hook = f"http://127.0.0.1:{receiver.port}/options"
    created = api.post(
        "/image_prediction/uploads", data={"webhook": hook, "confidence": "0.8", "classes": "dog"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["options"] == {"confidence": 0.8, "classes": ["dog"]}
    sent = post_to_storage(created.json()["upload"], photo("dog.jpg"))
    assert sent.status_code in (200, 201, 204), sent.text
    prediction_id = created.json()["image_prediction_id"]
    body = wait_terminal(api, prediction_id, timeout=PHOTO_TIMEOUT)
    assert body["status"] == "DONE", body
    assert body["options"] == {"confidence": 0.8, "classes": ["dog"]}
    assert found(body) == [(lb, c) for lb, c in everything if lb == "dog" and c >= 0.8]
    delivery = eventually(
        lambda: receiver.deliveries[0] if receiver.deliveries else None, 60, what="the webhook"
    )
    assert json.loads(delivery.body) == body


def test_submits_413_says_how_to_send_a_larger_photo(api: httpx.Client) -> None:
    big = photo("dog.jpg") + b"\0" * 4_500_001  # under the gateway's 6 MB, over submit's limit
    response = api.post("/image_prediction", files={"image": ("big.jpg", big)})
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert "limit of 4500000 bytes" in detail
    assert "up to 25000000 bytes with POST /image_prediction/uploads" in detail
    assert "/docs" in detail


def test_the_python_client_asks_them_too(
    stack: RunningStack, everything: list[tuple[str, float]]
) -> None:
    """`dogdetect predict --confidence --classes` is this call (tests/clients: the flags)."""
    from dogdetect_client import Client

    result = Client(stack.api_url).predict(photo("dog.jpg"), confidence=0.8, classes=["dog"])
    assert result.status == "DONE", result.error
    assert [(d["label"], d["confidence"]) for d in result.detections] == [
        (lb, c) for lb, c in everything if lb == "dog" and c >= 0.8
    ]
    assert result.has_dog is True
