"""Real photos through the whole system over HTTP: upload, queue, real YOLO, answer."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import submit, wait_terminal
from tests.photos import LABELLED_PHOTOS, photo


@pytest.mark.parametrize(("name", "expected_dog"), sorted(LABELLED_PHOTOS.items()))
def test_photo_ends_done_with_the_right_answer(
    api: httpx.Client, name: str, expected_dog: bool
) -> None:
    accepted = submit(api, photo(name), name)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "PENDING" and body["has_dog"] is None
    assert uuid.UUID(body["image_prediction_id"]).version == 4
    assert accepted.headers["location"] == f"/image_prediction/{body['image_prediction_id']}"

    result = wait_terminal(api, body["image_prediction_id"])

    assert result["status"] == "DONE", result
    assert result["has_dog"] is expected_dog
    assert result["error"] is None
    dogs = [d for d in result["detections"] if d["label"] == "dog"]
    assert bool(dogs) is expected_dog
    for detection in result["detections"]:
        box = detection["box"]
        assert 0 <= box["x1"] < box["x2"] and 0 <= box["y1"] < box["y2"]
        assert 0.25 <= detection["confidence"] <= 1


def test_dog_detection_is_confident_and_boxed(api: httpx.Client) -> None:
    prediction_id = submit(api, photo("dog.jpg")).json()["image_prediction_id"]
    result = wait_terminal(api, prediction_id)
    dogs = [d for d in result["detections"] if d["label"] == "dog"]
    dog = max(dogs, key=lambda d: d["confidence"])
    assert dog["confidence"] > 0.8
    # The dog sits in the lower left of dog.jpg (768x576).
    assert dog["box"]["x2"] < 400 and dog["box"]["y1"] > 150
