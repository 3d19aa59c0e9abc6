"""POST /image_prediction/uploads takes what POST /image_prediction takes besides the photo: a
`webhook` (called once the photo that came through S3 is DONE) and an `Idempotency-Key` (the
same request again is the same prediction; another request with the key, 422). An empty
`webhook=` is refused on both routes, and stores nothing."""

from __future__ import annotations

import uuid

import httpx
import pytest

from local.launcher import RunningStack
from tests.conftest import eventually, sql, wait_terminal
from tests.e2e.conftest import Receiver
from tests.e2e.test_direct_uploads import post_to_storage
from tests.photos import photo


def test_a_direct_upload_calls_its_webhook(api: httpx.Client, receiver: Receiver) -> None:
    hook = f"http://127.0.0.1:{receiver.port}/direct"
    created = api.post("/image_prediction/uploads", data={"webhook": hook})
    assert created.status_code == 201, created.text
    body = created.json()
    assert post_to_storage(body["upload"], photo("dog.jpg")).status_code in (200, 201, 204)
    prediction_id = body["image_prediction_id"]
    assert wait_terminal(api, prediction_id, timeout=120)["status"] == "DONE"
    receiver.answers = [200]
    delivery = eventually(
        lambda: receiver.deliveries[0] if receiver.deliveries else None,
        60,
        what="the direct upload's webhook",
    )
    assert delivery.path == "/direct"
    assert b'"image_prediction_id":"' + prediction_id.encode() in delivery.body.replace(b" ", b"")


def test_a_direct_upload_with_a_key_is_made_once(api: httpx.Client, stack: RunningStack) -> None:
    key = {"Idempotency-Key": f"upload-{uuid.uuid4()}"}
    first = api.post("/image_prediction/uploads", headers=key)
    again = api.post("/image_prediction/uploads", headers=key)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    prediction_id = first.json()["image_prediction_id"]
    assert again.json()["image_prediction_id"] == prediction_id
    assert again.json()["upload"]["fields"]["key"] == f"incoming/{prediction_id}"
    rows = sql(stack, "SELECT count(*) FROM predictions WHERE id = :id", id=prediction_id)
    assert rows[0][0] == 1

    other = api.post(
        "/image_prediction/uploads", headers=key, data={"webhook": "https://hooks.example.com/x"}
    )
    assert other.status_code == 422, other.text
    assert "another request" in other.json()["detail"]
    # The key's photo still goes where the first answer said, and reads as any other.
    assert post_to_storage(again.json()["upload"], photo("dog.jpg")).status_code in (200, 201, 204)
    assert wait_terminal(api, prediction_id, timeout=120)["status"] == "DONE"


@pytest.mark.parametrize("route", ["/image_prediction", "/image_prediction/uploads"])
def test_an_empty_webhook_is_a_422_and_stores_nothing(
    api: httpx.Client, stack: RunningStack, route: str
) -> None:
    before = sql(stack, "SELECT count(*) FROM predictions")[0][0]
    files = {"image": ("dog.jpg", photo("dog.jpg"))} if route == "/image_prediction" else None
    response = api.post(route, data={"webhook": ""}, files=files)
    assert response.status_code == 422, response.text
    assert "'webhook' is empty" in response.json()["detail"]
    assert sql(stack, "SELECT count(*) FROM predictions")[0][0] == before
