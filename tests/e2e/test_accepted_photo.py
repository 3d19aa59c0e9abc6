"""A prediction's photo never changes once accepted. The presigned POST of a direct upload stays
valid for its 15 minutes, so a client (or anyone holding it) may send it again: after DONE, with
another photo, then with a text file. Neither changes the prediction or the photo its annotated
image is drawn on, and neither object outlives the worker's look at it. After a DELETE, the
still-valid POST leaves nothing behind either."""

from __future__ import annotations

from typing import Any

import httpx
from dogdetect.adapters.aws import S3ImageStorage

from tests.conftest import eventually, wait_terminal
from tests.e2e.test_direct_uploads import created_upload, post_to_storage
from tests.photos import photo


def annotated(api: httpx.Client, prediction_id: str) -> bytes:
    response = api.get(f"/image_prediction/{prediction_id}/annotated")
    assert response.status_code == 200, response.text
    return response.content


def drop_box_emptied(storage: S3ImageStorage, upload: dict[str, Any]) -> bool:
    return not storage.exists(upload["fields"]["key"])


def test_a_repeated_post_after_done_changes_nothing(
    api: httpx.Client, storage: S3ImageStorage
) -> None:
    created = created_upload(api)
    prediction_id, upload = created["image_prediction_id"], created["upload"]
    assert post_to_storage(upload, photo("dog.jpg")).status_code == 204
    done = wait_terminal(api, prediction_id, timeout=120)
    assert (done["status"], done["has_dog"]) == ("DONE", True)
    drawn = annotated(api, prediction_id)

    for late in (photo("horses.jpg"), b"not a photo at all, only text\n"):
        assert post_to_storage(upload, late).status_code == 204  # S3 takes it: the POST is valid
        # The worker looks at it and removes it: the drop box is empty again.
        eventually(lambda: drop_box_emptied(storage, upload), 60, what="the late POST removed")
        again = api.get(f"/image_prediction/{prediction_id}").json()
        assert again == done
        assert annotated(api, prediction_id) == drawn  # drawn on the dog, as before


def test_a_post_after_delete_leaves_no_object(api: httpx.Client, storage: S3ImageStorage) -> None:
    created = created_upload(api)
    prediction_id, upload = created["image_prediction_id"], created["upload"]
    assert api.delete(f"/image_prediction/{prediction_id}").status_code == 204
    assert post_to_storage(upload, photo("dog.jpg")).status_code == 204  # still valid
    eventually(lambda: drop_box_emptied(storage, upload), 60, what="the orphan removed")
    assert not storage.exists(f"uploads/{prediction_id}")
    assert api.get(f"/image_prediction/{prediction_id}").status_code == 404
