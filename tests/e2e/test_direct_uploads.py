"""Direct uploads over HTTP: POST /image_prediction/uploads at the gateway, then the photo as a
multipart POST (httpx) straight to the local S3 endpoint with the presigned fields, whose
ObjectCreated notification on the jobs queue starts the real worker. The session stack's
presigned POSTs expire after TEST_DIRECT_UPLOAD_EXPIRES_SECONDS (tests/conftest.py)."""

from __future__ import annotations

import io
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from dogdetect.adapters.aws import S3ImageStorage
from dogdetect.domain.limits import DEFAULT_DIRECT_UPLOAD_MAX_BYTES, DEFAULT_MAX_UPLOAD_BYTES
from PIL import Image

from local.launcher import RunningStack
from tests import corpus
from tests.conftest import (
    TEST_DIRECT_UPLOAD_EXPIRES_SECONDS,
    TEST_DIRECT_UPLOAD_GRACE_SECONDS,
    submit,
    wait_terminal,
)
from tests.photos import photo


def created_upload(api: httpx.Client) -> dict[str, Any]:
    response = api.post("/image_prediction/uploads")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/image_prediction/{body['image_prediction_id']}"
    return body


def post_to_storage(upload: dict[str, Any], data: bytes, **fields: str) -> httpx.Response:
    """What a client does with the answer: the fields, then the file, to the URL."""
    form = {**upload["fields"], **fields}
    return httpx.post(upload["url"], data=form, files={"file": ("photo.jpg", data)}, timeout=60)


def waited(api: httpx.Client, prediction_id: str, timeout: float) -> dict[str, Any]:
    """The prediction once DONE or ERROR, asked with Prefer: wait (held up to 20 s a time)."""
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(f"/image_prediction/{prediction_id}", headers={"Prefer": "wait=20"})
        if response.status_code == 200 and response.json()["status"] in ("DONE", "ERROR"):
            body: dict[str, Any] = response.json()
            return body
        assert response.status_code in (200, 429, 503), response.text
        assert time.monotonic() < deadline, f"{prediction_id} unfinished: {response.text}"


def large_dog_photo() -> bytes:
    """dog.jpg at 16 megapixels with grain: a JPEG over the API's own upload limit."""
    original = Image.open(io.BytesIO(photo("dog.jpg"))).convert("RGB")
    large = original.resize((original.width * 6, original.height * 6), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(7).integers(-12, 13, (large.height, large.width, 3))
    grained = np.clip(np.asarray(large, dtype=np.int16) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(grained).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_a_photo_sent_to_storage_reads_as_one_sent_to_the_api(
    api: httpx.Client, stack: RunningStack
) -> None:
    created = created_upload(api)
    prediction_id = created["image_prediction_id"]
    assert set(created) == {"image_prediction_id", "upload", "expires_at", "options"}
    # The local S3 endpoint, as the client sees it; the fields of a SigV4 POST policy.
    assert created["upload"]["url"] == f"http://127.0.0.1:{stack.ports['aws']}/dogdetect-uploads"
    assert created["upload"]["fields"]["key"] == f"incoming/{prediction_id}"
    assert {"policy", "x-amz-signature", "x-amz-credential"} <= set(created["upload"]["fields"])
    expires_at = datetime.fromisoformat(created["expires_at"])
    left = (expires_at - datetime.now(UTC)).total_seconds()
    assert 0 < left <= TEST_DIRECT_UPLOAD_EXPIRES_SECONDS
    before = api.get(f"/image_prediction/{prediction_id}").json()
    assert (before["status"], before["has_dog"], before["error"]) == ("PENDING", None, None)

    stored = post_to_storage(created["upload"], photo("dog.jpg"))
    assert stored.status_code == 204, stored.text

    direct = waited(api, prediction_id, 60)
    assert direct["status"] == "DONE" and direct["has_dog"] is True, direct
    through_api = wait_terminal(api, submit(api, photo("dog.jpg")).json()["image_prediction_id"])
    for field in ("status", "has_dog", "detections", "error"):
        assert direct[field] == through_api[field], field
    assert set(direct) == set(through_api)


def test_a_photo_too_large_for_the_api_goes_to_storage(api: httpx.Client) -> None:
    large = large_dog_photo()
    assert DEFAULT_MAX_UPLOAD_BYTES < len(large) < DEFAULT_DIRECT_UPLOAD_MAX_BYTES
    assert submit(api, large).status_code == 413
    created = created_upload(api)
    assert post_to_storage(created["upload"], large).status_code == 204
    result = waited(api, created["image_prediction_id"], 90)
    assert result["status"] == "DONE" and result["has_dog"] is True, result
    dog = max(result["detections"], key=lambda d: d["confidence"] if d["label"] == "dog" else 0)
    assert dog["box"]["x2"] > 768  # boxes in the large photo's pixels, not the model's


def test_not_an_image_ends_error_with_the_reason(api: httpx.Client) -> None:
    created = created_upload(api)
    assert post_to_storage(created["upload"], corpus.html()).status_code == 204  # S3 takes bytes
    result = waited(api, created["image_prediction_id"], 60)
    assert result["status"] == "ERROR" and result["has_dog"] is None
    assert result["error"].startswith("the image could not be decoded: "), result["error"]


def test_an_oversized_upload_is_refused_by_storage_and_stores_nothing(
    api: httpx.Client, storage: S3ImageStorage
) -> None:
    created = created_upload(api)
    oversized = b"\xff\xd8\xff" + bytes(DEFAULT_DIRECT_UPLOAD_MAX_BYTES)
    refused = post_to_storage(created["upload"], oversized)
    assert refused.status_code == 400 and "<Code>EntityTooLarge</Code>" in refused.text
    assert not storage.exists(created["upload"]["fields"]["key"])
    status = api.get(f"/image_prediction/{created['image_prediction_id']}").json()["status"]
    assert status == "PENDING"  # still waiting for a photo it can take


def test_the_post_names_one_key_only(api: httpx.Client, storage: S3ImageStorage) -> None:
    created = created_upload(api)
    elsewhere = f"incoming/{uuid.uuid4()}"
    refused = post_to_storage(created["upload"], photo("dog.jpg"), key=elsewhere)
    assert refused.status_code == 403 and "Policy Condition failed" in refused.text
    assert not storage.exists(elsewhere)


@pytest.mark.post_policy_fields
def test_the_post_takes_no_field_its_policy_does_not_name(
    api: httpx.Client, storage: S3ImageStorage
) -> None:
    created = created_upload(api)
    public = post_to_storage(created["upload"], photo("dog.jpg"), acl="public-read")
    assert public.status_code == 403 and "Extra input fields" in public.text
    assert not storage.exists(created["upload"]["fields"]["key"])


def test_an_upload_that_never_comes_ends_error_and_the_url_expires(
    api: httpx.Client, stack: RunningStack, storage: S3ImageStorage
) -> None:
    created = created_upload(api)
    # Once its POST has expired and the grace has passed (the database's clock is this
    # machine's), the next sweep ends it: one is run then, rather than waited for.
    overdue = datetime.fromisoformat(created["expires_at"]) + timedelta(
        seconds=TEST_DIRECT_UPLOAD_GRACE_SECONDS + 0.5
    )
    time.sleep(max(0.0, (overdue - datetime.now(UTC)).total_seconds()))
    assert not stack.sweep()["skipped"]  # the sweep's run after that instant, and it succeeded
    result = api.get(f"/image_prediction/{created['image_prediction_id']}").json()
    assert (result["status"], result["error"]) == ("ERROR", "no upload received"), result
    assert result["has_dog"] is None and result["detections"] == []

    late = post_to_storage(created["upload"], photo("dog.jpg"))
    assert late.status_code == 403 and "Policy expired" in late.text
    assert not storage.exists(created["upload"]["fields"]["key"])


def test_deleting_removes_the_uploaded_photo(api: httpx.Client, storage: S3ImageStorage) -> None:
    created = created_upload(api)
    prediction_id, key = created["image_prediction_id"], created["upload"]["fields"]["key"]
    assert post_to_storage(created["upload"], photo("horses.jpg")).status_code == 204
    assert waited(api, prediction_id, 60)["has_dog"] is False
    accepted = f"uploads/{prediction_id}"  # the worker took the photo out of the drop box
    assert storage.exists(accepted) and not storage.exists(key)
    assert api.delete(f"/image_prediction/{prediction_id}").status_code == 204
    assert not storage.exists(accepted)
    assert api.get(f"/image_prediction/{prediction_id}").status_code == 404
