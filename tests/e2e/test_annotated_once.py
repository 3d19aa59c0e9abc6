"""The annotated photo is drawn at most once, kept in the bucket (annotated/<id>), and its
drawings are bounded: a request for a photo another request is drawing gets that drawing;
with every drawing slot taken the answer is 503 with Retry-After at once, and reads, `/health`
and the page keep the status function's other executions. The probe's case: 16 concurrent
`/annotated` made every one of them 500 at the status timeout and `/health` take 27 s.
Latencies are `make bench`'s (bench/contention.py); here, the mechanism over HTTP."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from dogdetect.adapters.aws import S3ImageStorage
from dogdetect.adapters.postgres.slots import DRAWINGS
from dogdetect.config import Settings
from dogdetect.domain.errors import StoredImageMissing
from dogdetect.domain.models import annotated_key_for
from PIL import Image
from sqlalchemy import create_engine, text

from local.launcher import RunningStack, warm_status_environments
from tests.conftest import submit_backing_off, wait_terminal
from tests.photos import photo

TOTAL = Settings().drawings_total


def done_prediction(api: httpx.Client) -> str:
    accepted, _ = submit_backing_off(api, photo("dog.jpg"), "dog.jpg")
    assert accepted.status_code == 202, accepted.text
    prediction_id = str(accepted.json()["image_prediction_id"])
    assert wait_terminal(api, prediction_id, timeout=120)["status"] == "DONE"
    return prediction_id


def small_jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, shade, shade)).save(out, "JPEG")
    return out.getvalue()


def annotated(api: httpx.Client, prediction_id: str) -> httpx.Response:
    return api.get(f"/image_prediction/{prediction_id}/annotated", timeout=60)


def kept(storage: S3ImageStorage, prediction_id: str) -> bytes | None:
    try:
        return storage.get(annotated_key_for(uuid.UUID(prediction_id)))
    except StoredImageMissing:
        return None


class DrawingClaims:
    """Claims on the drawing slots, as another execution holds them while it draws (`client`:
    the prediction it draws)."""

    def __init__(self, stack: RunningStack) -> None:
        self.engine = create_engine(stack.environment["DATABASE_URL"])

    def hold(self, prediction_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO slot_claims (id, pool, client, expires_at)"
                    " VALUES (:id, :pool, :client, now() + interval '60 seconds')"
                ),
                {"id": uuid.uuid4(), "pool": DRAWINGS, "client": prediction_id},
            )

    def release_all(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                text("DELETE FROM slot_claims WHERE pool = :pool"), {"pool": DRAWINGS}
            )


@pytest.fixture
def claims(stack: RunningStack) -> Iterator[DrawingClaims]:
    held = DrawingClaims(stack)
    held.release_all()
    yield held
    held.release_all()
    held.engine.dispose()


def test_the_first_request_draws_and_keeps_it_the_next_ones_read_it(
    api: httpx.Client, storage: S3ImageStorage
) -> None:
    prediction_id = done_prediction(api)
    first = annotated(api, prediction_id)
    assert first.status_code == 200, first.text
    assert kept(storage, prediction_id) == first.content
    marker = small_jpeg(7)  # what is kept is what is served: not drawn again
    storage.put(annotated_key_for(uuid.UUID(prediction_id)), marker)
    again = annotated(api, prediction_id)
    assert again.status_code == 200 and again.content == marker


def test_a_request_while_another_draws_the_photo_gets_that_drawing(
    api: httpx.Client, storage: S3ImageStorage, claims: DrawingClaims
) -> None:
    prediction_id = done_prediction(api)
    claims.hold(prediction_id)  # another execution is drawing it
    marker = small_jpeg(99)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(annotated, api, prediction_id)
        # Drawing the photo itself would have answered by now (a slow machine only lets it
        # find the marker sooner: this cannot fail for slowness).
        time.sleep(3)
        assert not waiting.done() and kept(storage, prediction_id) is None
        storage.put(annotated_key_for(uuid.UUID(prediction_id)), marker)  # the other is done
        answer = waiting.result()
    assert answer.status_code == 200, answer.text
    assert answer.content == marker  # a drawing of its own would differ


def test_a_drawing_that_never_comes_is_503_with_retry_after(
    api: httpx.Client, claims: DrawingClaims
) -> None:
    prediction_id = done_prediction(api)
    claims.hold(prediction_id)  # an execution killed while drawing: its claim has to lapse
    answer = annotated(api, prediction_id)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert answer.json() == {
        "detail": "the annotated photo is still being drawn: retry after Retry-After"
    }


def test_with_every_drawing_slot_taken_it_is_503_and_the_other_routes_answer(
    api: httpx.Client, storage: S3ImageStorage, claims: DrawingClaims
) -> None:
    prediction_id = done_prediction(api)
    for _ in range(TOTAL):
        claims.hold(str(uuid.uuid4()))
    busy = annotated(api, prediction_id)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json() == {"detail": "every drawing slot is taken: retry after Retry-After"}
    assert kept(storage, prediction_id) is None  # nothing drawn
    assert api.get("/health").status_code == 200
    assert api.get(f"/image_prediction/{prediction_id}").json()["status"] == "DONE"
    claims.release_all()
    assert annotated(api, prediction_id).status_code == 200


def test_sixteen_at_once_get_the_kept_drawing_or_503_and_retried_get_it(
    api: httpx.Client, storage: S3ImageStorage
) -> None:
    """The probe's case with everyday photos: 16 concurrent requests, 4 predictions. Each
    answer is the drawing (200) or a 503 with Retry-After, never a 500; /health answers while
    they run; retried, every one gets the one drawing kept for its prediction."""
    predictions = [done_prediction(api) for _ in range(4)]
    warm_status_environments(api)  # what is checked is drawing's bound, not cold starts
    with ThreadPoolExecutor(16) as pool:
        sent = [pool.submit(annotated, api, predictions[n % 4]) for n in range(16)]
        health = api.get("/health")
        answers = [s.result() for s in sent]
    assert health.status_code == 200
    assert {a.status_code for a in answers} <= {200, 503}, [a.text for a in answers]
    assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 503)
    for n, answer in enumerate(answers):
        for _ in range(60):  # as a client honouring Retry-After
            if answer.status_code != 503:
                break
            time.sleep(int(answer.headers["retry-after"]))
            answer = annotated(api, predictions[n % 4])
        assert answer.status_code == 200, answer.text
        assert answer.content == kept(storage, predictions[n % 4])


def test_delete_removes_the_drawing(api: httpx.Client, storage: S3ImageStorage) -> None:
    prediction_id = done_prediction(api)
    assert annotated(api, prediction_id).status_code == 200
    assert kept(storage, prediction_id) is not None
    assert api.delete(f"/image_prediction/{prediction_id}").status_code == 204
    assert kept(storage, prediction_id) is None


def test_a_drawing_goes_with_its_photo(api: httpx.Client, storage: S3ImageStorage) -> None:
    prediction_id = done_prediction(api)
    assert annotated(api, prediction_id).status_code == 200
    storage.delete(f"uploads/{prediction_id}")  # the photo expired (UploadRetentionDays)
    gone = annotated(api, prediction_id)
    assert gone.status_code == 404
    assert gone.json() == {"detail": "the photo of this prediction is no longer stored"}
    assert kept(storage, prediction_id) is None
