"""`dogdetect_client.client` against a fake API on 127.0.0.1 (tests/fake_api.py): retries after
Retry-After with one Idempotency-Key, bounded tries, the presigned path for large photos,
waiting with Prefer: wait, and every outcome as a Result."""

from __future__ import annotations

import email.utils
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dogdetect_client.client import (
    DIRECT_LIMIT,
    FAILED,
    MAX_LIST_LIMIT,
    REJECTED,
    ApiError,
    Client,
    Page,
    multipart,
    result_of,
    retry_after_seconds,
)

from tests.fake_api import ANNOTATED, JPEG_START, Answer, FakeApi, form_parts, prediction

DOG_PHOTO = JPEG_START + b" a photo of a dog"
GATEWAY_429 = Answer(429, {"message": "Too Many Requests"})
ANY_ID = "0b3f7c52-9e1d-4a6b-8f2c-5d7e9a1b3c46"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    yield fake
    fake.close()


class Sleeps:
    """Records the pauses the client asks for instead of taking them."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


def client_of(api: FakeApi, sleeps: Sleeps | None = None, **options: object) -> Client:
    return Client(api.url, sleep=sleeps or Sleeps(), timeout=5, **options)  # type: ignore[arg-type]


# --- retries ------------------------------------------------------------------------------


def test_429_and_503_are_retried_after_retry_after_with_the_same_idempotency_key(
    api: FakeApi,
) -> None:
    api.script(
        "POST",
        "/image_prediction",
        Answer(429, {"message": "Too Many Requests"}, {"Retry-After": "2"}),
        Answer(503, {"detail": "database is unavailable"}, {"Retry-After": "1"}),
    )
    sleeps = Sleeps()
    prediction_id = client_of(api, sleeps).submit(DOG_PHOTO)
    posts = api.made("POST", "/image_prediction")
    assert len(posts) == 3
    keys = {p.headers["idempotency-key"] for p in posts}
    assert len(keys) == 1 and keys != {""}
    assert sleeps.taken == [2.0, 1.0]
    assert list(api.photos) == [prediction_id]  # one prediction, whatever the tries


def test_each_upload_has_a_key_of_its_own(api: FakeApi) -> None:
    client = client_of(api)
    first, second = client.submit(DOG_PHOTO), client.submit(DOG_PHOTO)
    assert first != second
    keys = [p.headers["idempotency-key"] for p in api.made("POST", "/image_prediction")]
    assert len(set(keys)) == 2


def test_a_given_idempotency_key_is_sent_as_given(api: FakeApi) -> None:
    client_of(api).submit(DOG_PHOTO, idempotency_key="order-42")
    assert api.made("POST", "/image_prediction")[0].headers["idempotency-key"] == "order-42"


def test_retry_after_is_capped(api: FakeApi) -> None:
    api.script("GET", "/health", Answer(429, {"message": "x"}, {"Retry-After": "3600"}))
    sleeps = Sleeps()
    client_of(api, sleeps, max_retry_after=7).health()
    assert sleeps.taken == [7]


def test_retry_after_as_an_http_date(api: FakeApi) -> None:
    later = email.utils.formatdate(time.time() + 5, usegmt=True)
    api.script("GET", "/health", Answer(429, {"message": "x"}, {"Retry-After": later}))
    sleeps = Sleeps()
    client_of(api, sleeps).health()
    assert len(sleeps.taken) == 1 and 3 <= sleeps.taken[0] <= 5


def test_without_retry_after_it_backs_off_more_each_time(api: FakeApi) -> None:
    api.script("GET", f"/image_prediction/{ANY_ID}", *[GATEWAY_429] * 4)
    api.script(
        "GET", f"/image_prediction/{ANY_ID}", Answer(200, prediction(ANY_ID, "DONE", False, []))
    )
    sleeps = Sleeps()
    assert client_of(api, sleeps).get(ANY_ID)["status"] == "DONE"
    bounds = [(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0)]
    assert len(sleeps.taken) == 4
    for taken, (low, high) in zip(sleeps.taken, bounds, strict=True):
        assert low <= taken <= high


def test_tries_are_bounded(api: FakeApi) -> None:
    api.script("POST", "/image_prediction", *[Answer(503, {"detail": "down"})] * 10)
    sleeps = Sleeps()
    with pytest.raises(ApiError) as raised:
        client_of(api, sleeps, tries=4).submit(DOG_PHOTO)
    assert raised.value.status == 503 and raised.value.detail == "down"
    assert len(api.made("POST", "/image_prediction")) == 4
    assert len(sleeps.taken) == 3


def test_a_refusal_is_not_retried(api: FakeApi) -> None:
    sleeps = Sleeps()
    with pytest.raises(ApiError) as raised:
        client_of(api, sleeps).submit(b"plain text")
    assert raised.value.status == 415
    assert raised.value.detail.startswith("not a supported image")
    assert len(api.made("POST", "/image_prediction")) == 1 and sleeps.taken == []


def test_a_keyed_upload_still_being_answered_is_retried(api: FakeApi) -> None:
    in_flight = Answer(
        409, {"detail": "the first request is not answered yet"}, {"Retry-After": "1"}
    )
    api.script("POST", "/image_prediction", in_flight)
    sleeps = Sleeps()
    client_of(api, sleeps).submit(DOG_PHOTO)
    assert sleeps.taken == [1.0]


def test_no_answer_at_all_is_retried_then_reported() -> None:
    with socket.socket() as taken:  # a port nothing listens on
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(ApiError) as raised:
        Client(f"http://127.0.0.1:{port}", sleep=sleeps, tries=3).get(ANY_ID)
    assert raised.value.status is None and "no answer" in raised.value.detail
    assert len(sleeps.taken) == 2


def test_health_is_a_probe_tried_twice_at_most(api: FakeApi) -> None:
    api.script("GET", "/health", GATEWAY_429, GATEWAY_429, GATEWAY_429)
    with pytest.raises(ApiError) as raised:
        client_of(api).health()
    assert raised.value.status == 429 and raised.value.detail == "Too Many Requests"
    assert len(api.made("GET", "/health")) == 2


def test_retry_after_values() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past


# --- uploads ------------------------------------------------------------------------------


def test_a_photo_over_the_direct_limit_goes_through_a_presigned_upload(api: FakeApi) -> None:
    photo = JPEG_START + b"dog" + bytes(DIRECT_LIMIT)  # one byte past 4.5 MB and more
    client = client_of(api)
    prediction_id = client.submit(photo)
    assert api.made("POST", "/image_prediction") == api.made("POST", "/image_prediction/uploads")
    (offer,) = api.made("POST", "/image_prediction/uploads")
    assert offer.body == b""  # the route takes no body
    assert api.photos[prediction_id] == photo  # the bytes reached the bucket, whole
    (upload,) = api.made("POST", "/bucket")
    assert "x-api-key" not in upload.headers  # the API's key is not the bucket's business
    assert client.wait(prediction_id)["has_dog"] is True


def test_options_go_as_form_fields_before_the_photo(api: FakeApi) -> None:
    client_of(api).submit(JPEG_START + b"dog", confidence=0.8, classes=["dog", "cat"])
    (sent,) = api.made("POST", "/image_prediction")
    parts = form_parts(sent.headers["content-type"], sent.body)
    assert [(name, content) for name, _, content in parts[:2]] == [
        ("confidence", b"0.8"),
        ("classes", b"dog,cat"),
    ]
    assert parts[2][0] == "image"


def test_a_presigned_upload_asks_its_options_in_a_form(api: FakeApi) -> None:
    client = client_of(api, direct_limit=10)
    client.predict(JPEG_START + b"dog" + bytes(20), confidence=0.5, classes=["traffic light"])
    (offer,) = api.made("POST", "/image_prediction/uploads")
    assert offer.headers["content-type"] == "application/x-www-form-urlencoded"
    assert offer.body == b"confidence=0.5&classes=traffic+light"


def test_a_photo_at_the_limit_goes_to_the_api(api: FakeApi) -> None:
    client_of(api, direct_limit=100).submit(JPEG_START + bytes(97))
    assert api.made("POST", "/image_prediction/uploads") == []
    assert len(api.made("POST", "/image_prediction")) == 1


def test_the_presigned_upload_is_retried(api: FakeApi) -> None:
    api.script("POST", "/image_prediction/uploads", GATEWAY_429)
    api.script("POST", "/bucket", Answer(503, b"<Error><Message>Slow Down</Message></Error>"))
    client = client_of(api, direct_limit=10)
    prediction_id = client.submit(JPEG_START + b"dog" + bytes(20))
    assert len(api.made("POST", "/image_prediction/uploads")) == 2
    assert len(api.made("POST", "/bucket")) == 2
    assert list(api.photos) == [prediction_id]


def test_a_bucket_refusal_says_what_s3_said(api: FakeApi) -> None:
    too_big = (
        b"<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum"
        b" allowed size</Message></Error>"
    )
    api.script("POST", "/bucket", Answer(400, too_big))
    with pytest.raises(ApiError) as raised:
        client_of(api, direct_limit=10).submit(JPEG_START + bytes(20))
    assert raised.value.status == 400
    assert raised.value.detail == "Your proposed upload exceeds the maximum allowed size"


def test_multipart_bodies_parse_back() -> None:
    body, content_type = multipart(
        {"key": "incoming/x", "policy": "p"}, "file", 'a"b.jpg', b"\x00\xff"
    )
    assert form_parts(content_type, body) == [
        ("key", None, b"incoming/x"),
        ("policy", None, b"p"),
        ("file", "a%22b.jpg", b"\x00\xff"),
    ]


# --- waiting, predicting, the other routes ------------------------------------------------


def test_wait_holds_with_prefer_until_done(api: FakeApi) -> None:
    client = client_of(api)
    prediction_id = client.submit(DOG_PHOTO)
    pending = prediction(prediction_id, "PENDING", None, [])
    api.script("GET", f"/image_prediction/{prediction_id}", Answer(200, pending))
    body = client.wait(prediction_id, timeout=60)
    assert body["status"] == "DONE"
    gets = api.made("GET", f"/image_prediction/{prediction_id}")
    assert [g.headers["prefer"] for g in gets] == ["wait=20", "wait=20"]


def test_wait_asks_for_no_more_than_is_left(api: FakeApi) -> None:
    client = client_of(api)
    prediction_id = client.submit(DOG_PHOTO)
    client.wait(prediction_id, timeout=5)
    (get,) = api.made("GET", f"/image_prediction/{prediction_id}")
    assert get.headers["prefer"] in ("wait=4", "wait=5")


def test_wait_gives_up_after_its_timeout(api: FakeApi) -> None:
    client = Client(api.url, timeout=5)  # real pauses: an answer not held is not a spin
    prediction_id = client.submit(DOG_PHOTO)
    pending = Answer(200, prediction(prediction_id, "PENDING", None, []))
    api.script("GET", f"/image_prediction/{prediction_id}", *[pending] * 50)
    started = time.monotonic()
    result = client.wait(prediction_id, timeout=1.2)
    assert result["status"] == "PENDING"
    assert 1.2 <= time.monotonic() - started < 5
    assert 2 <= len(api.made("GET", f"/image_prediction/{prediction_id}")) <= 4


def test_predict_answers_every_outcome(api: FakeApi, tmp_path: Path) -> None:
    dog, text = tmp_path / "dog.jpg", tmp_path / "notes.jpg"
    dog.write_bytes(DOG_PHOTO)
    text.write_bytes(b"not a photo")
    client = client_of(api)
    done = client.predict(dog)
    assert (done.path, done.status, done.has_dog) == (str(dog), "DONE", True)
    assert done.detections[0]["label"] == "dog" and done.error is None
    rejected = client.predict(text)
    assert (rejected.status, rejected.image_prediction_id) == (REJECTED, None)
    assert rejected.error is not None and "415" in rejected.error
    missing = client.predict(tmp_path / "gone.jpg")
    assert missing.status == REJECTED and "cannot read" in (missing.error or "")
    api.script("POST", "/image_prediction", *[Answer(503, {"detail": "down"})] * 6)
    assert client.predict(dog).status == FAILED


def test_predict_tells_the_id_as_soon_as_it_is_accepted(api: FakeApi) -> None:
    told: list[str] = []
    api.script("GET", "/image_prediction/*", Answer(503, {"detail": "down"}))

    def submitted(prediction_id: str) -> None:
        told.append(prediction_id)
        assert api.made("GET", "/image_prediction/") == []  # before waiting for it

    result = client_of(api).predict(DOG_PHOTO, on_submitted=submitted)
    assert told == [result.image_prediction_id] and result.status == "DONE"
    rejected = client_of(api).predict(b"not a photo", on_submitted=submitted)
    assert rejected.status == REJECTED and len(told) == 1  # nothing accepted, nothing told


def test_list_asks_for_a_page_and_reads_it(api: FakeApi) -> None:
    made = [api.add(DOG_PHOTO) for _ in range(5)]
    api.statuses[made[1]] = "ERROR"
    client = client_of(api, api_key="k-1")
    first = client.list(limit=2)
    assert [item["image_prediction_id"] for item in first.items] == made[::-1][:2]
    assert first.next_cursor is not None
    second = client.list(limit=2, cursor=first.next_cursor)
    assert [item["image_prediction_id"] for item in second.items] == made[::-1][2:4]
    assert client.list(limit=2, status="ERROR") == Page([api._status(made[1])], None)
    assert api.made("GET", "/image_prediction?")[-1].path == (
        "/image_prediction?limit=2&status=ERROR"
    )
    assert {r.headers.get("x-api-key") for r in api.requests} == {"k-1"}


def test_list_beyond_the_services_limit_is_its_422(api: FakeApi) -> None:
    with pytest.raises(ApiError) as raised:
        client_of(api).list(limit=MAX_LIST_LIMIT + 1)
    assert raised.value.status == 422
    assert client_of(api).list(limit=MAX_LIST_LIMIT) == Page([], None)


def test_result_of_a_status_document() -> None:
    done = prediction(ANY_ID, "DONE", True, [{"label": "dog", "confidence": 0.9}])
    assert result_of(done, "dog.jpg").to_json() == {
        "path": "dog.jpg",
        "image_prediction_id": ANY_ID,
        "status": "DONE",
        "has_dog": True,
        "detections": [{"label": "dog", "confidence": 0.9}],
        "error": None,
    }
    failed = {**done, "status": "ERROR", "has_dog": None, "detections": [], "error": "x"}
    assert (result_of(failed).status, result_of(failed).error) == ("ERROR", "x")
    unreadable = result_of({**done, "detections": [{"label": 3}]})
    assert (unreadable.status, unreadable.image_prediction_id) == (FAILED, ANY_ID)


def test_annotated_delete_and_the_api_key(api: FakeApi) -> None:
    client = client_of(api, api_key="secret-1")
    prediction_id = client.submit(DOG_PHOTO)
    assert client.annotated(prediction_id) == ANNOTATED
    client.delete(prediction_id)
    with pytest.raises(ApiError) as raised:
        client.annotated(prediction_id)
    assert raised.value.status == 404 and raised.value.detail == "no prediction with this id"
    assert {r.headers.get("x-api-key") for r in api.requests} == {"secret-1"}


def test_health_answers_503_as_unhealthy(api: FakeApi) -> None:
    checks = {"database": "ok", "storage": "unavailable", "queue": "ok"}
    down = Answer(503, {"status": "unavailable", "checks": checks})
    api.script("GET", "/health", *[down] * 6)
    assert client_of(api).health() == (False, {"status": "unavailable", "checks": checks})


# --- a server's answer never crashes the client -------------------------------------------

UNREADABLE_RETRY_AFTER = ["²", "٣", "-5", "1.5", "soon", "", "Mon, 99 Foo 2026 99:99:99 GMT"]


@pytest.mark.parametrize("value", UNREADABLE_RETRY_AFTER)
def test_an_unreadable_retry_after_falls_back_to_the_backoff(api: FakeApi, value: str) -> None:
    refused = Answer(503, {"detail": "busy"}, {"Retry-After": value})
    done = prediction(ANY_ID, "DONE", False, [])
    api.script("GET", f"/image_prediction/{ANY_ID}", refused, Answer(200, done))
    sleeps = Sleeps()
    assert client_of(api, sleeps, max_retry_after=7).get(ANY_ID)["status"] == "DONE"
    assert len(sleeps.taken) == 1 and 0.25 <= sleeps.taken[0] <= 0.5  # the first backoff


def test_retry_after_reads_ascii_digits_only() -> None:
    assert retry_after_seconds("²") is None and retry_after_seconds("٣") is None
    assert retry_after_seconds("9" * 400) == float("9" * 12)
    assert retry_after_seconds("Fri, 31 Dec 9999 23:59:59 GMT") is not None  # capped by the client


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (Answer(202, b"<html>not json</html>"), "not JSON"),
        (Answer(202, b"\xff\xfe"), "not JSON"),
        (Answer(202, b"[" * 100_000), "not JSON"),
        (Answer(202, ["image_prediction_id"]), "has no image_prediction_id"),
        (Answer(202, {"image_prediction_id": 7}), "has no image_prediction_id (str)"),
    ],
    ids=["html", "not-utf8", "nested-deep", "a-list", "id-not-text"],
)
def test_an_unreadable_accepted_answer_is_a_failed_result(
    api: FakeApi, answer: Answer, said: str
) -> None:
    api.script("POST", "/image_prediction", answer)
    result = client_of(api).predict(DOG_PHOTO)
    # Failed on reading the answer itself, not later (a GET of a made-up id would fail too).
    assert result.status == FAILED and result.error and said in result.error, result
    assert api.made("GET", "/image_prediction") == []


@pytest.mark.parametrize(
    "body",
    [
        {"image_prediction_id": ANY_ID},  # no status
        {"status": "DONE", "has_dog": True, "detections": "dog"},
        {"status": "DONE", "has_dog": True, "detections": [{"label": "dog", "confidence": "x"}]},
        {"status": "DONE", "has_dog": "yes", "detections": []},
    ],
    ids=["no-status", "detections-text", "confidence-text", "has-dog-text"],
)
def test_an_unreadable_prediction_is_a_failed_result(api: FakeApi, body: dict[str, object]) -> None:
    api.script("POST", "/image_prediction", Answer(202, {"image_prediction_id": ANY_ID}))
    api.script("GET", f"/image_prediction/{ANY_ID}", Answer(200, body))
    result = client_of(api).predict(DOG_PHOTO)
    assert result.status == FAILED and result.error, result
