"""Waiting (Prefer: wait=N), safe retries (Idempotency-Key) and deletion, over HTTP against the
local stack: the gateway, the submit and status functions in their own environments with
their own IAM, PostgreSQL, S3 and the predict poller with the real model. (API keys and
Idempotency-Key scopes are in test_security.py, on the stack started with keys.)"""

from __future__ import annotations

import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from dogdetect.adapters.aws import S3ImageStorage
from dogdetect.adapters.postgres import PostgresPredictionRepository
from dogdetect.domain.models import Status, image_key_for
from PIL import Image
from sqlalchemy import create_engine, text

from local.launcher import RunningStack
from tests.conftest import wait_terminal
from tests.corpus import jpeg, png
from tests.photos import photo

# --- helpers ------------------------------------------------------------------------------------


def get(api: httpx.Client, prediction_id: str, prefer: str | None = None) -> httpx.Response:
    headers = {"Prefer": prefer} if prefer is not None else {}
    return api.get(f"/image_prediction/{prediction_id}", headers=headers)


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def accepted(api: httpx.Client, image: bytes, headers: dict[str, str] | None = None) -> str:
    response = api.post("/image_prediction", files={"image": ("a.jpg", image)}, headers=headers)
    assert response.status_code == 202, response.text
    prediction_id: str = response.json()["image_prediction_id"]
    return prediction_id


def pending_forever(repository: PostgresPredictionRepository) -> str:
    """A prediction that stays PENDING: its row is queued as far as the sweeper knows, but no
    message was sent (its image is absent too), so no worker ever takes it."""
    prediction_id = uuid.uuid4()
    repository.add_pending(prediction_id, image_key_for(prediction_id))
    repository.mark_enqueued(prediction_id)
    return str(prediction_id)


@pytest.fixture(scope="module")
def count_predictions(stack: RunningStack) -> Iterator[Callable[[], int]]:
    engine = create_engine(stack.environment["MASTER_DATABASE_URL"])

    def count() -> int:
        with engine.connect() as connection:
            return int(connection.scalar(text("SELECT count(*) FROM predictions")) or 0)

    yield count
    engine.dispose()


# --- waiting --------------------------------------------------------------------------------


def test_one_request_with_a_wait_gets_the_finished_prediction(api: httpx.Client) -> None:
    prediction_id = accepted(api, photo("dog.jpg"))
    response = get(api, prediction_id, "wait=20")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "DONE" and body["has_dog"] is True
    assert response.headers["preference-applied"] == "wait=20"
    assert response.headers["vary"] == "Prefer"


def test_a_longer_wait_is_clamped_to_20_seconds(api: httpx.Client) -> None:
    prediction_id = accepted(api, jpeg())
    wait_terminal(api, prediction_id)
    response = get(api, prediction_id, "wait=3600")
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "wait=20"


def test_an_unfinished_prediction_is_answered_when_the_wait_runs_out(
    api: httpx.Client, repository: PostgresPredictionRepository
) -> None:
    prediction_id = pending_forever(repository)
    response, seconds = timed(lambda: get(api, prediction_id, "wait=2"))
    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert response.headers["preference-applied"] == "wait=2"
    assert seconds >= 2.0  # it did wait
    repository.remove(uuid.UUID(prediction_id))


@pytest.mark.parametrize("prefer", ["wait=soon", "wait=-3", "wait", "respond-async", "wait=0"])
def test_a_prefer_header_it_cannot_use_is_ignored(
    api: httpx.Client, repository: PostgresPredictionRepository, prefer: str
) -> None:
    prediction_id = pending_forever(repository)
    response, seconds = timed(lambda: get(api, prediction_id, prefer))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "PENDING"
    assert "preference-applied" not in response.headers
    assert seconds < 5  # no wait happened (20 s would have, had it been read as one)
    repository.remove(uuid.UUID(prediction_id))


def test_an_unknown_id_is_404_at_once_whatever_the_wait(api: httpx.Client) -> None:
    response, seconds = timed(lambda: get(api, str(uuid.uuid4()), "wait=20"))
    assert response.status_code == 404
    assert response.json() == {"detail": "no prediction with this id"}
    assert "preference-applied" not in response.headers
    assert seconds < 10  # not after the 20 s wait


# --- safe retries ---------------------------------------------------------------------------


def post_keyed(api: httpx.Client, key: str, image: bytes) -> httpx.Response:
    return api.post(
        "/image_prediction", files={"image": ("a.jpg", image)}, headers={"Idempotency-Key": key}
    )


def test_a_retry_with_the_same_key_gets_the_first_answer_and_queues_nothing(
    api: httpx.Client, count_predictions: Callable[[], int]
) -> None:
    key, before = f"order-{uuid.uuid4()}", count_predictions()
    first = post_keyed(api, key, photo("dog.jpg"))
    assert first.status_code == 202, first.text
    wait_terminal(api, first.json()["image_prediction_id"])
    again = post_keyed(api, key, photo("dog.jpg"))
    assert again.status_code == 202
    assert again.json() == first.json()  # the first answer, PENDING, though it is DONE now
    assert again.headers["location"] == first.headers["location"]
    assert count_predictions() == before + 1


def test_the_same_key_with_another_image_is_422(
    api: httpx.Client, count_predictions: Callable[[], int]
) -> None:
    key = f"order-{uuid.uuid4()}"
    assert post_keyed(api, key, jpeg()).status_code == 202
    before = count_predictions()
    response = post_keyed(api, key, png())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert "another image" in response.json()["detail"]
    assert count_predictions() == before


@pytest.mark.parametrize(
    "key",
    [b"", b"x" * 256, b"caf\xc3\xa9", b"tab\there", b'""', b'"' + b"y" * 256 + b'"'],
    ids=repr,
)
def test_a_malformed_key_is_400_and_nothing_is_stored(
    api: httpx.Client, count_predictions: Callable[[], int], key: bytes
) -> None:
    before = count_predictions()
    response = api.post(
        "/image_prediction",
        files={"image": ("a.jpg", jpeg())},
        headers=[(b"Idempotency-Key", key)],
    )
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in response.json()["detail"]
    assert count_predictions() == before


def test_concurrent_requests_with_one_key_make_one_prediction(
    stack: RunningStack, count_predictions: Callable[[], int]
) -> None:
    senders, key, image = 6, f"order-{uuid.uuid4()}", jpeg()
    before, start = count_predictions(), threading.Barrier(senders)

    def send() -> httpx.Response:
        with httpx.Client(base_url=stack.api_url, timeout=60) as client:
            start.wait(10)
            return post_keyed(client, key, image)

    with ThreadPoolExecutor(senders) as pool:
        answers = list(pool.map(lambda _: send(), range(senders)))
    statuses = sorted(a.status_code for a in answers)
    # One makes it; the others, depending on when they came, get its answer or are told the
    # first is still being answered (409, retry) - never a prediction of their own.
    assert set(statuses) <= {202, 409} and 202 in statuses, [a.text for a in answers]
    assert len({a.json()["image_prediction_id"] for a in answers if a.status_code == 202}) == 1
    assert count_predictions() == before + 1
    with httpx.Client(base_url=stack.api_url, timeout=60) as client:
        retried = post_keyed(client, key, image)
    assert retried.status_code == 202
    assert retried.json() == next(a.json() for a in answers if a.status_code == 202)


# --- deletion ---------------------------------------------------------------------------------


def test_delete_removes_the_prediction_its_detections_and_its_image(
    api: httpx.Client, storage: S3ImageStorage, stack: RunningStack
) -> None:
    prediction_id = accepted(api, photo("dog.jpg"))
    assert wait_terminal(api, prediction_id)["detections"]
    key = image_key_for(uuid.UUID(prediction_id))
    assert storage.exists(key)

    response = api.delete(f"/image_prediction/{prediction_id}")
    assert response.status_code == 204 and response.content == b""

    assert get(api, prediction_id).status_code == 404
    assert api.delete(f"/image_prediction/{prediction_id}").status_code == 404
    assert not storage.exists(key)  # the submit function's s3:DeleteObject, under local IAM
    engine = create_engine(stack.environment["MASTER_DATABASE_URL"])
    with engine.connect() as connection:
        left = connection.scalar(
            text("SELECT count(*) FROM detections WHERE prediction_id = :id"),
            {"id": uuid.UUID(prediction_id)},
        )
    engine.dispose()
    assert left == 0


@pytest.mark.parametrize("raw_id", [str(uuid.uuid4()), "not-an-id", str(uuid.uuid4()).upper()])
def test_deleting_what_is_not_there_is_404(api: httpx.Client, raw_id: str) -> None:
    response = api.delete(f"/image_prediction/{raw_id}")
    assert response.status_code == 404
    assert response.json() == {"detail": "no prediction with this id"}


def test_a_deleted_key_is_free_again(api: httpx.Client) -> None:
    key = f"order-{uuid.uuid4()}"
    first = post_keyed(api, key, jpeg()).json()["image_prediction_id"]
    assert api.delete(f"/image_prediction/{first}").status_code == 204
    again = post_keyed(api, key, png())  # even with another image: the key went with it
    assert again.status_code == 202
    assert again.json()["image_prediction_id"] != first


def slow_image() -> bytes:
    """A 36-megapixel PNG (a small file: a gradient): decoding it keeps a worker busy for
    most of a second, so its prediction stays PROCESSING long enough to be caught."""
    side = 6000
    ramp = np.linspace(0, 255, side, dtype=np.float32)
    pixels = np.empty((side, side, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = ramp[None, :], ramp[:, None], 128
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=9)
    return out.getvalue()


def test_deleting_a_prediction_being_processed(
    api: httpx.Client, repository: PostgresPredictionRepository, stack: RunningStack
) -> None:
    """The worker has it (PROCESSING) when the client deletes it: the worker neither crashes
    nor brings it back, and the pipeline goes on."""

    def picked_up(prediction_id: uuid.UUID) -> Status:
        """Its first status after PENDING, read every 10 ms."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = repository.get(prediction_id)
            assert found is not None
            if found.status is not Status.PENDING:
                return found.status
            time.sleep(0.01)
        raise AssertionError(f"{prediction_id} not picked up within 60 s")

    image, caught = slow_image(), None
    for _ in range(5):  # the PROCESSING window is short; try until one is caught in it
        prediction_id = uuid.UUID(accepted(api, image))
        if picked_up(prediction_id) is Status.PROCESSING:
            assert api.delete(f"/image_prediction/{prediction_id}").status_code == 204
            caught = prediction_id
            break
    assert caught is not None, "never caught a prediction while PROCESSING"
    time.sleep(3)  # long enough for the worker to have finished it
    assert repository.get(caught) is None
    assert get(api, str(caught)).status_code == 404
    poller_log = (stack.state_dir / "poller.log").read_text(errors="replace")
    assert "Traceback" not in poller_log.split(str(caught))[-1]  # nothing crashed after it
    after = wait_terminal(api, accepted(api, photo("dog.jpg")))
    assert after["status"] == "DONE" and after["has_dog"] is True
