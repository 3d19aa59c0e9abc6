"""A request's `confidence` and `classes` through the services on the fakes, and through the
submit and status apps: refused with a 422 that says why and stores nothing, stored with the
prediction, applied by the worker, shown in every answer, part of an Idempotency-Key's
request. Over HTTP on the real stack: tests/e2e/test_prediction_options.py."""

from __future__ import annotations

import uuid
from dataclasses import replace

import httpx
import pytest
from dogdetect.config import Settings
from dogdetect.domain.errors import IdempotencyKeyReused, InvalidOptions, UploadTooLarge
from dogdetect.domain.models import Job, Status
from dogdetect.domain.options import PredictionOptions
from dogdetect.service.predict import PredictDeps, QueuedJob, process_batch
from dogdetect.service.submit import accept_upload
from dogdetect.service.uploads import UploadDeps, create_upload
from fastapi.testclient import TestClient

from tests import corpus
from tests.fakes import (
    Clock,
    FakeAdapters,
    FakeDetector,
    FakePresigner,
    FakeRepository,
    FakeStorage,
    detection,
)
from tests.unit.conftest import Wired, submit_deps_for
from tests.unit.service.test_uploads import uploads_api  # noqa: F401  (a fixture)

FLOOR = Settings().dog_confidence  # 0.25

# --- submit ---------------------------------------------------------------------------------


def test_submit_stores_the_options_asked_with_the_defaults_filled(fakes: FakeAdapters) -> None:
    deps = submit_deps_for(fakes)
    asked = accept_upload(corpus.png(), deps, confidence="0.8", classes="dog,cat")
    plain = accept_upload(corpus.png(), deps)
    assert asked.options == PredictionOptions(0.8, ("cat", "dog"))
    assert plain.options == PredictionOptions(FLOOR, None)
    stored = {pid: row.prediction.options for pid, row in fakes.repository.rows.items()}
    assert stored == {asked.id: asked.options, plain.id: plain.options}


@pytest.mark.parametrize(("confidence", "classes"), [("0.1", None), ("2", None), (None, "cats")])
def test_submit_refuses_options_it_cannot_apply_and_stores_nothing(
    fakes: FakeAdapters, confidence: str | None, classes: str | None
) -> None:
    with pytest.raises(InvalidOptions):
        accept_upload(corpus.png(), submit_deps_for(fakes), confidence=confidence, classes=classes)
    assert fakes.repository.calls == [] and fakes.storage.calls == [] and fakes.queue.calls == []


def test_a_key_again_with_other_options_is_refused(fakes: FakeAdapters) -> None:
    deps = submit_deps_for(fakes)
    first = accept_upload(corpus.png(), deps, idempotency_key="k", confidence="0.8")
    again = accept_upload(corpus.png(), deps, idempotency_key="k", confidence="0.80")
    assert again.id == first.id  # the same options, spelled otherwise
    for other in ({"confidence": "0.9"}, {"confidence": "0.8", "classes": "dog"}, {}):
        with pytest.raises(IdempotencyKeyReused) as refused:
            accept_upload(corpus.png(), deps, idempotency_key="k", **other)
        assert "other options" in refused.value.detail
    assert len(fakes.repository.rows) == 1


def test_a_key_held_by_a_prediction_made_before_options_matches_the_defaults(
    fakes: FakeAdapters,
) -> None:
    """A retry across the deploy that added options: its first request applied the floor to
    every class, as a request without options does now."""
    deps = submit_deps_for(fakes)
    first = accept_upload(corpus.png(), deps, idempotency_key="old")
    row = fakes.repository.rows[first.id]
    row.prediction = replace(row.prediction, options=None)
    assert accept_upload(corpus.png(), deps, idempotency_key="old").id == first.id
    with pytest.raises(IdempotencyKeyReused):
        accept_upload(corpus.png(), deps, idempotency_key="old", confidence="0.5")


def test_submits_413_says_how_to_send_a_larger_photo(fakes: FakeAdapters) -> None:
    deps = submit_deps_for(fakes)
    with pytest.raises(UploadTooLarge) as refused:
        accept_upload(b"\xff" * (deps.max_upload_bytes + 1), deps)
    detail = refused.value.detail
    assert f"limit of {deps.max_upload_bytes} bytes" in detail
    assert f"up to {deps.direct_upload_max_bytes} bytes" in detail
    assert "POST /image_prediction/uploads" in detail and "/docs" in detail
    assert fakes.repository.calls == [] and fakes.storage.calls == []


# --- direct uploads -------------------------------------------------------------------------


def _upload_deps() -> UploadDeps:
    clock = Clock()
    return UploadDeps(FakeRepository(clock), FakePresigner(clock), 25_000_000, 900)


def test_a_direct_upload_stores_its_options_and_a_key_again_needs_the_same() -> None:
    deps = _upload_deps()
    made = create_upload(deps, idempotency_key="u", confidence="0.6", classes="dog")
    assert made.prediction.options == PredictionOptions(0.6, ("dog",))
    assert create_upload(deps, idempotency_key="u", confidence="0.6", classes="dog").prediction.id
    with pytest.raises(IdempotencyKeyReused):
        create_upload(deps, idempotency_key="u", confidence="0.6")
    with pytest.raises(InvalidOptions):
        create_upload(deps, classes="unicorn")
    assert isinstance(deps.repository, FakeRepository) and len(deps.repository.rows) == 1


# --- the worker -----------------------------------------------------------------------------

FOUND = [
    detection("dog", 0.9),
    detection("dog", 0.5),
    detection("cat", 0.85),
    detection("car", 0.3),
]


def _predicted(
    options: PredictionOptions | None, dog_confidence: float = FLOOR
) -> tuple[bool | None, list[tuple[str, float]]]:
    """has_dog and the detections kept (label, confidence) of a prediction with `options`
    whose photo the detector finds FOUND in."""
    repository, storage = FakeRepository(), FakeStorage()
    deps = PredictDeps(repository, storage, FakeDetector(FOUND), dog_confidence, 10**7, 5)
    p = repository.seed(options=options)
    storage.objects[p.image_key] = corpus.jpeg()
    assert process_batch([QueuedJob("m", Job(p.id, storage.bucket, p.image_key), 1)], deps) == []
    done = repository.get(p.id)
    assert done is not None and done.status is Status.DONE
    return done.has_dog, [(d.label, d.confidence) for d in done.detections]


def test_the_worker_keeps_what_the_options_ask_and_has_dog_follows_the_confidence() -> None:
    assert _predicted(PredictionOptions(0.8)) == (True, [("dog", 0.9), ("cat", 0.85)])
    assert _predicted(PredictionOptions(0.95)) == (False, [])
    assert _predicted(PredictionOptions(0.25, ("dog",))) == (True, [("dog", 0.9), ("dog", 0.5)])


def test_has_dog_answers_for_a_dog_whatever_the_classes() -> None:
    assert _predicted(PredictionOptions(0.8, ("cat",))) == (True, [("cat", 0.85)])
    assert _predicted(PredictionOptions(0.95, ("cat",))) == (False, [])


def test_a_prediction_made_before_options_is_answered_as_before() -> None:
    everything = [(d.label, d.confidence) for d in FOUND]
    assert _predicted(None, dog_confidence=0.95) == (False, everything)
    assert _predicted(None, dog_confidence=0.5) == (True, everything)


# --- the apps -------------------------------------------------------------------------------


def _post(client: TestClient, data: dict[str, str] | dict[str, list[str]]) -> httpx.Response:
    files = {"image": ("a.png", corpus.png(), "image/png")}
    response: httpx.Response = client.post("/image_prediction", data=data, files=files)
    return response


def test_submit_answers_the_options_applied(submit_api: Wired) -> None:
    asked = _post(submit_api.client, {"confidence": "0.8", "classes": "dog"})
    assert asked.status_code == 202, asked.text
    assert asked.json()["options"] == {"confidence": 0.8, "classes": ["dog"]}
    plain = _post(submit_api.client, {"unknown": "stays ignored"})
    assert plain.status_code == 202, plain.text
    assert plain.json()["options"] == {"confidence": FLOOR, "classes": None}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"confidence": "0.1"}, "from 0.25 to 1"),
        ({"confidence": "1.5"}, "from 0.25 to 1"),
        ({"confidence": "x"}, "from 0.25 to 1"),
        ({"classes": "unicorn"}, "'unicorn'"),
        ({"confidence": ""}, "'confidence' is empty"),
        ({"classes": ""}, "'classes' is empty"),
        ({"confidence": ["0.5", "0.6"]}, "'confidence' at most once"),
        ({"classes": ["dog", "cat"]}, "'classes' at most once"),
    ],
)
def test_options_the_service_cannot_apply_are_a_422_saying_why(
    submit_api: Wired, data: dict[str, str] | dict[str, list[str]], words: str
) -> None:
    response = _post(submit_api.client, data)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert submit_api.repository.rows == {} and submit_api.storage.objects == {}


def test_submits_413_over_http(submit_api: Wired) -> None:
    files = {"image": ("big.jpg", b"\xff" * (Settings().max_upload_bytes + 1), "image/jpeg")}
    response = submit_api.client.post("/image_prediction", files=files)
    assert response.status_code == 413
    assert "POST /image_prediction/uploads" in response.json()["detail"]


def test_get_shows_the_options(status_api: Wired) -> None:
    p = status_api.repository.seed(Status.DONE, has_dog=True, options=PredictionOptions(0.7))
    old = status_api.repository.seed(Status.DONE, has_dog=False)
    body = status_api.client.get(f"/image_prediction/{p.id}").json()
    assert body["options"] == {"confidence": 0.7, "classes": None}
    assert status_api.client.get(f"/image_prediction/{old.id}").json()["options"] is None


def test_the_upload_route_takes_the_options_as_submit_does(
    uploads_api: tuple[TestClient, UploadDeps],  # noqa: F811  (the fixture)
) -> None:
    client, _ = uploads_api
    made = client.post("/image_prediction/uploads", data={"confidence": "0.9", "classes": "Cat"})
    assert made.status_code == 201, made.text
    assert made.json()["options"] == {"confidence": 0.9, "classes": ["cat"]}
    refused = client.post("/image_prediction/uploads", data={"confidence": "0.05"})
    assert refused.status_code == 422 and "from 0.25 to 1" in refused.json()["detail"]
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    assert client.post("/image_prediction/uploads", headers=key).status_code == 201
    other = client.post("/image_prediction/uploads", headers=key, data={"classes": "dog"})
    assert other.status_code == 422, other.text
