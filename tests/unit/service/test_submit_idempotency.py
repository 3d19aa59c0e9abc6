"""Idempotency-Key on POST /image_prediction: the key's syntax, its scope, the service on the
fakes, and the submit app's answers. Real concurrency against PostgreSQL is in
tests/integration/test_idempotency_keys.py, over HTTP in tests/e2e/test_api_features.py."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest
from dogdetect.api.auth import current_settings
from dogdetect.config import Settings
from dogdetect.domain.errors import (
    DependencyUnavailable,
    IdempotencyKeyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    UnsupportedImage,
)
from dogdetect.domain.idempotency import KEY_TTL_SECONDS, key_digest, parse_key
from dogdetect.domain.models import FinishedPrediction, Status
from dogdetect.service.submit import accept_upload
from dogdetect.service.sweep import sweep
from fastapi.testclient import TestClient

from tests import corpus
from tests.fakes import FakeAdapters, sweep_deps_for
from tests.unit.conftest import Wired, submit_deps_for

# --- the key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("a", "a"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("x" * 255, "x" * 255),
        ("with space and ~!@#$%^&*()", "with space and ~!@#$%^&*()"),
        ('"quoted-key"', "quoted-key"),  # the draft's Structured Field String
        ('"a \\"b\\" \\\\c"', 'a "b" \\c'),
        ('"' + "y" * 255 + '"', "y" * 255),
        ('"unclosed', '"unclosed'),  # not a string: taken as it is
    ],
)
def test_a_key_is_1_to_255_printable_ascii_characters(raw: str, key: str) -> None:
    assert parse_key(raw) == key


@pytest.mark.parametrize(
    "raw",
    [
        "",
        '""',
        "x" * 256,
        '"' + "y" * 256 + '"',
        "tab\there",
        "new\nline",
        "caf\u00e9",
        "\x7f",
    ],
    ids=repr,
)
def test_anything_else_is_refused(raw: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid):
        parse_key(raw)


def test_a_key_is_scoped_to_the_api_key() -> None:
    assert key_digest("k", None) != key_digest("k", "client-a")
    assert key_digest("k", "client-a") != key_digest("k", "client-b")
    assert key_digest("k", "client-a") == key_digest("k", "client-a")
    assert key_digest("k", None) != key_digest("l", None)
    assert len(key_digest("k", None)) == 32


# --- the service --------------------------------------------------------------------------------


def test_the_same_key_and_image_make_one_prediction_and_one_job() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    first = accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    again = accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    assert again.id == first.id
    assert len(fakes.repository.rows) == 1 and len(fakes.queue.sent) == 1
    assert list(fakes.storage.objects) == [first.image_key]


def test_without_a_key_every_upload_is_new() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    assert accept_upload(corpus.jpeg(), deps) != accept_upload(corpus.jpeg(), deps)
    assert len(fakes.queue.sent) == 2 and fakes.repository.keys == {}


def test_another_image_with_the_key_is_refused_and_nothing_stored() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    with pytest.raises(IdempotencyKeyReused):
        accept_upload(corpus.png(), deps, idempotency_key="key-1")
    assert len(fakes.repository.rows) == 1 and len(fakes.queue.sent) == 1
    assert len(fakes.storage.objects) == 1


def test_keys_of_different_api_keys_do_not_meet() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    mine = accept_upload(corpus.jpeg(), deps, idempotency_key="shared", api_key="client-a")
    theirs = accept_upload(corpus.jpeg(), deps, idempotency_key="shared", api_key="client-b")
    assert mine.id != theirs.id and len(fakes.queue.sent) == 2


def test_a_key_is_free_again_after_24_hours() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    first = accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    fakes.repository.clock.advance(KEY_TTL_SECONDS - 1)
    assert accept_upload(corpus.jpeg(), deps, idempotency_key="key-1").id == first.id
    fakes.repository.clock.advance(2)
    later = accept_upload(corpus.png(), deps, idempotency_key="key-1")  # another image: fine now
    assert later.id != first.id and len(fakes.queue.sent) == 2


def test_a_failed_first_request_frees_its_key() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    fakes.queue.break_("send")
    with pytest.raises(DependencyUnavailable):
        accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    assert fakes.repository.rows == {} and fakes.repository.keys == {}
    fakes.queue.repair()
    retried = accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    assert fakes.repository.status_of(retried.id) is Status.PENDING
    assert len(fakes.queue.sent) == 1


def test_a_first_request_not_yet_answered_is_409() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    # The first request has its row and key, and is still storing or queueing.
    fakes.repository.break_("mark_enqueued")  # its 202 went out; the sweeper marks it later
    first = accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    with pytest.raises(IdempotencyKeyInFlight):
        accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    fakes.repository.repair()
    fakes.repository.mark_enqueued(first.id)
    assert accept_upload(corpus.jpeg(), deps, idempotency_key="key-1").id == first.id
    assert len(fakes.queue.sent) == 1


def test_a_deleted_prediction_frees_its_key() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    first = accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    fakes.repository.remove(first.id)
    again = accept_upload(corpus.jpeg(), deps, idempotency_key="key-1")
    assert again.id != first.id and len(fakes.queue.sent) == 2


def test_the_key_is_checked_before_the_image() -> None:
    fakes = FakeAdapters()
    with pytest.raises(IdempotencyKeyInvalid):
        accept_upload(b"", submit_deps_for(fakes), idempotency_key="")
    assert fakes.repository.calls == [] and fakes.storage.calls == []


def test_a_bad_image_with_a_key_stores_nothing_and_holds_no_key() -> None:
    fakes = FakeAdapters()
    with pytest.raises(UnsupportedImage):  # the image's own 415
        accept_upload(corpus.plain_text(), submit_deps_for(fakes), idempotency_key="key-1")
    assert fakes.repository.calls == [] and fakes.repository.keys == {}


def test_the_sweep_deletes_keys_older_than_24_hours() -> None:
    fakes = FakeAdapters()
    deps = submit_deps_for(fakes)
    old = accept_upload(corpus.jpeg(), deps, idempotency_key="old")
    fakes.repository.clock.advance(KEY_TTL_SECONDS - 60)
    accept_upload(corpus.jpeg(), deps, idempotency_key="young")
    fakes.repository.clock.advance(61)
    result = sweep(sweep_deps_for(fakes.repository, fakes.storage, fakes.queue))
    assert result.keys_expired == 1
    assert [k.prediction_id for k in fakes.repository.keys.values()] != [old.id]
    assert len(fakes.repository.keys) == 1
    assert old.id in fakes.repository.rows  # the prediction stays; only its key goes


# --- over the submit app ------------------------------------------------------------------------


def post(
    client: TestClient, data: bytes, key: str | None, api_key: str | None = None
) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    if api_key is not None:
        headers["X-API-Key"] = api_key
    return client.post("/image_prediction", files={"image": ("a.jpg", data)}, headers=headers)


def test_a_retry_gets_the_first_answer_again(submit_api: Wired) -> None:
    first = post(submit_api.client, corpus.jpeg(), "retry-me")
    assert first.status_code == 202, first.text
    # Meanwhile the worker finished it: the retry still gets the answer the first one got.
    pid = next(iter(submit_api.repository.rows))
    submit_api.repository.start_processing_many([pid])
    submit_api.repository.finish_many([FinishedPrediction(pid, False, ())])
    again = post(submit_api.client, corpus.jpeg(), "retry-me")
    assert again.status_code == 202
    assert again.json() == first.json()
    assert first.json() == {
        "image_prediction_id": str(pid),
        "status": "PENDING",
        "has_dog": None,
        "options": {"confidence": 0.25, "classes": None},
    }
    assert again.headers["location"] == first.headers["location"]
    assert len(submit_api.queue.sent) == 1


def test_the_key_with_another_image_is_422(submit_api: Wired) -> None:
    post(submit_api.client, corpus.jpeg(), "k")
    response = post(submit_api.client, corpus.png(), "k")
    assert response.status_code == 422
    assert response.json() == {
        "detail": "this Idempotency-Key was used with another image; use a new key for a new image"
    }
    assert len(submit_api.repository.rows) == 1 and len(submit_api.queue.sent) == 1


@pytest.mark.parametrize("key", [b"", b"x" * 256, b"caf\xc3\xa9", b"a\x7fb"], ids=repr)
def test_a_malformed_key_is_400_and_nothing_stored(submit_api: Wired, key: bytes) -> None:
    response = submit_api.client.post(
        "/image_prediction",
        files={"image": ("a.jpg", corpus.jpeg())},
        headers=[(b"Idempotency-Key", key)],
    )
    assert response.status_code == 400, response.text
    assert "Idempotency-Key" in response.json()["detail"]
    assert submit_api.repository.rows == {} and submit_api.storage.objects == {}
    assert submit_api.queue.sent == []


def test_in_flight_is_409_with_retry_after(submit_api: Wired) -> None:
    submit_api.repository.break_("mark_enqueued")
    assert post(submit_api.client, corpus.jpeg(), "k").status_code == 202
    response = post(submit_api.client, corpus.jpeg(), "k")
    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert "not been answered yet" in response.json()["detail"]


@pytest.fixture
def keyed_submit_api(submit_module: ModuleType, submit_api: Wired) -> Iterator[Wired]:
    """submit_api, as when API keys are on (their check itself is bypassed, as there)."""
    keys_on = Settings(api_keys="client-a,client-b")
    submit_module.app.dependency_overrides[current_settings] = lambda: keys_on
    yield submit_api


def test_with_api_keys_on_each_client_has_its_own_keys(keyed_submit_api: Wired) -> None:
    client = keyed_submit_api.client
    mine = post(client, corpus.jpeg(), "same-key", "client-a").json()["image_prediction_id"]
    theirs = post(client, corpus.png(), "same-key", "client-b")
    assert theirs.status_code == 202  # not 422: their key is theirs
    assert theirs.json()["image_prediction_id"] != mine
    assert post(client, corpus.jpeg(), "same-key", "client-a").json()["image_prediction_id"] == mine
