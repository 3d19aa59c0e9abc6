"""Direct uploads with fakes: the route, S3's notifications on the jobs queue (real event JSON
from tests/events/), the worker's refusals, and the sweeper's expiry of unused URLs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from dogdetect.api.auth import require_api_key
from dogdetect.config import Settings
from dogdetect.domain.errors import (
    DependencyUnavailable,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InvalidWebhook,
)
from dogdetect.domain.jobs import MalformedJob, parse_job, parse_message
from dogdetect.domain.limits import DEFAULT_DIRECT_UPLOAD_MAX_BYTES
from dogdetect.domain.models import Job, Status, image_key_for, incoming_key_for
from dogdetect.runtime import use_cases
from dogdetect.service.predict import PredictDeps, QueuedJob, process_jobs
from dogdetect.service.sweep import NO_UPLOAD_RECEIVED, SweepResult, sweep
from dogdetect.service.sweep import settle_overdue_uploads as settle
from dogdetect.service.uploads import UploadDeps, create_upload
from fastapi.testclient import TestClient

from tests import corpus
from tests.fakes import (
    Clock,
    FakeAdapters,
    FakeDetector,
    FakePresigner,
    FakeQueue,
    FakeRepository,
    FakeStorage,
    detection,
    sweep_deps_for,
)
from tests.unit.conftest import FakeLambdaContext, load_event, load_function

EXPIRES, GRACE, LIMIT = 900, 300, DEFAULT_DIRECT_UPLOAD_MAX_BYTES
EVENT = "predict_sqs_s3_notifications"
# The event's records: a POST of a photo; one S3 reports as over the limit, its key
# URL-encoded as moto encodes it (AWS leaves the slash); S3's test event; a key not ours.
PHOTO, OVERSIZED, TEST_EVENT, NOT_OURS = range(4)


def bodies() -> list[str]:
    return [record["body"] for record in load_event(EVENT)["Records"]]


def with_key(body: str, key: str, event_name: str | None = None) -> str:
    """The event's first record's body, for another object key (and event name)."""
    payload = json.loads(body)
    payload["Records"][0]["s3"]["object"]["key"] = key
    if event_name is not None:
        payload["Records"][0]["eventName"] = event_name
    return json.dumps(payload)


# --- parsing -------------------------------------------------------------------------------


def test_s3_notification_names_the_prediction_by_its_key() -> None:
    job = parse_message(bodies()[PHOTO])
    prediction_id = uuid.UUID("3f2b1c0d-8e7a-4b6c-9d5e-1f0a2b3c4d5e")
    assert job == Job(prediction_id, "test-bucket", incoming_key_for(prediction_id), 104857)


def test_url_encoded_key_is_decoded() -> None:
    job = parse_message(bodies()[OVERSIZED])
    prediction_id = uuid.UUID("5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d")
    assert job == Job(prediction_id, "test-bucket", f"incoming/{prediction_id}", 26_000_000)


@pytest.mark.parametrize("index", [TEST_EVENT, NOT_OURS])
def test_test_event_and_foreign_keys_are_nothing_to_do(index: int) -> None:
    assert parse_message(bodies()[index]) is None
    with pytest.raises(MalformedJob):  # a dead letter must name a prediction
        parse_job(bodies()[index])


@pytest.mark.parametrize(
    "key",
    [
        "uploads/3f2b1c0d-8e7a-4b6c-9d5e-1f0a2b3c4d5e",  # submit's own prefix
        "incoming/3F2B1C0D-8E7A-4B6C-9D5E-1F0A2B3C4D5E",  # not the canonical spelling
        "incoming/3f2b1c0d8e7a4b6c9d5e1f0a2b3c4d5e",
        "incoming/3f2b1c0d-8e7a-4b6c-9d5e-1f0a2b3c4d5e/x",
        "incoming/",
    ],
)
def test_keys_other_than_incoming_and_an_id_are_ignored(key: str) -> None:
    assert parse_message(with_key(bodies()[PHOTO], key)) is None


def test_other_s3_events_are_ignored() -> None:
    body = with_key(
        bodies()[PHOTO], "incoming/3f2b1c0d-8e7a-4b6c-9d5e-1f0a2b3c4d5e", "ObjectRemoved:Delete"
    )
    assert parse_message(body) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["Records"].append(p["Records"][0]),  # S3 sends one record per message
        lambda p: p["Records"].clear(),
        lambda p: p["Records"][0]["s3"]["object"].pop("size"),
        lambda p: p["Records"][0]["s3"]["object"].update(size="104857"),
        lambda p: p["Records"][0]["s3"]["object"].update(size=-1),
        lambda p: p["Records"][0].pop("s3"),
        lambda p: p.update(Records="x"),
    ],
)
def test_malformed_notifications_are_poison(change: Any) -> None:
    payload = json.loads(bodies()[PHOTO])
    change(payload)
    with pytest.raises(MalformedJob):
        parse_message(json.dumps(payload))


def test_our_own_job_messages_still_parse() -> None:
    job = Job(uuid.uuid4(), "test-bucket", "uploads/x")
    assert (
        parse_message(
            json.dumps(
                {
                    "image_prediction_id": str(job.prediction_id),
                    "bucket": job.bucket,
                    "key": job.key,
                }
            )
        )
        == job
    )


# --- the route -----------------------------------------------------------------------------


@pytest.fixture
def uploads_api() -> Iterator[tuple[TestClient, UploadDeps]]:
    module: ModuleType = load_function("submit")
    clock = Clock()
    deps = UploadDeps(FakeRepository(clock), FakePresigner(clock), LIMIT, EXPIRES)
    module.app.dependency_overrides.update(
        {require_api_key: lambda: None, module.upload_deps: lambda: deps}
    )
    try:
        with TestClient(module.app, raise_server_exceptions=False) as client:
            yield client, deps
    finally:
        module.app.dependency_overrides.clear()


def test_route_answers_201_with_the_presigned_post(
    uploads_api: tuple[TestClient, UploadDeps],
) -> None:
    client, deps = uploads_api
    response = client.post("/image_prediction/uploads")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"image_prediction_id", "upload", "expires_at", "options"}
    prediction_id = uuid.UUID(body["image_prediction_id"])
    assert response.headers["location"] == f"/image_prediction/{prediction_id}"
    assert body["upload"]["url"] == "https://test-bucket.s3.example/"
    assert body["upload"]["fields"]["key"] == f"incoming/{prediction_id}"
    assert body["expires_at"] == "2024-01-01T12:15:00Z"
    assert isinstance(deps.presigner, FakePresigner)
    assert deps.presigner.signed == [(f"incoming/{prediction_id}", LIMIT, EXPIRES)]
    assert isinstance(deps.repository, FakeRepository)
    assert deps.repository.status_of(prediction_id) is Status.PENDING


def test_route_with_the_database_down_is_503_and_stores_nothing(
    uploads_api: tuple[TestClient, UploadDeps],
) -> None:
    client, deps = uploads_api
    assert isinstance(deps.repository, FakeRepository)
    deps.repository.break_()
    response = client.post("/image_prediction/uploads")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert set(response.json()) == {"detail"}
    assert deps.repository.rows == {}


# --- the service ---------------------------------------------------------------------------


def made(clock: Clock | None = None) -> tuple[FakeRepository, FakePresigner, UploadDeps]:
    clock = clock or Clock()
    repository, presigner = FakeRepository(clock), FakePresigner(clock)
    return repository, presigner, UploadDeps(repository, presigner, LIMIT, EXPIRES, clock=clock)


def test_create_upload_signs_before_it_records() -> None:
    repository, presigner, deps = made()
    created = create_upload(deps)
    # The POST writes the drop box; the row names where the accepted photo will be.
    assert created.post.fields["key"] == incoming_key_for(created.prediction.id)
    assert created.prediction.image_key == image_key_for(created.prediction.id)
    assert repository.rows[created.prediction.id].upload_expires_at == created.post.expires_at
    assert presigner.operations() == ["presign_post"]
    assert repository.operations() == ["add_awaiting_upload"]


def test_a_webhook_goes_with_the_row() -> None:
    repository, _, deps = made()
    created = create_upload(deps, webhook_url="https://hooks.example.com/x")
    assert repository.rows[created.prediction.id].prediction.webhook_url == (
        "https://hooks.example.com/x"
    )


def test_the_same_keyed_request_again_is_the_same_prediction_until_its_expiry() -> None:
    clock = Clock()
    repository, presigner, deps = made(clock)
    first = create_upload(deps, idempotency_key="k-1", webhook_url="https://hooks.example.com/x")
    clock.advance(100)
    again = create_upload(deps, idempotency_key="k-1", webhook_url="https://hooks.example.com/x")
    assert again.prediction.id == first.prediction.id and len(repository.rows) == 1
    assert again.post.expires_at == first.post.expires_at  # not a fresh 15 minutes
    drop_box = incoming_key_for(first.prediction.id)
    assert presigner.signed[-1] == (drop_box, LIMIT, EXPIRES - 100)


@pytest.mark.parametrize(
    "other",
    [{"webhook_url": "https://hooks.example.com/y"}, {}],
    ids=["another-webhook", "no-webhook"],
)
def test_a_key_with_another_request_is_refused(other: dict[str, str]) -> None:
    repository, _, deps = made()
    create_upload(deps, idempotency_key="k-1", webhook_url="https://hooks.example.com/x")
    with pytest.raises(IdempotencyKeyReused):
        create_upload(deps, idempotency_key="k-1", **other)
    assert len(repository.rows) == 1


def test_a_malformed_key_or_webhook_signs_and_stores_nothing() -> None:
    repository, presigner, deps = made()
    with pytest.raises(IdempotencyKeyInvalid):
        create_upload(deps, idempotency_key="\n")
    with pytest.raises(InvalidWebhook):
        create_upload(deps, webhook_url="ftp://hooks.example.com/x")
    assert presigner.signed == [] and repository.rows == {}


def test_a_presign_failure_records_nothing() -> None:
    repository, presigner, deps = made()
    presigner.break_()
    with pytest.raises(DependencyUnavailable):
        create_upload(deps)
    assert repository.rows == {}


def awaiting(
    clock: Clock, repository: FakeRepository, storage: FakeStorage, photo: bool
) -> uuid.UUID:
    prediction_id = uuid.uuid4()
    key = incoming_key_for(prediction_id)
    repository.add_awaiting_upload(prediction_id, key, clock() + timedelta(seconds=EXPIRES))
    if photo:
        storage.objects[key] = corpus.jpeg()
    return prediction_id


def settle_overdue_uploads(repository: FakeRepository, storage: FakeStorage, grace: int) -> int:
    result = SweepResult()
    settle(sweep_deps_for(repository, storage, upload_grace_seconds=grace), result)
    return result.uploads_expired


def test_unused_url_ends_error_once_expired_and_past_the_grace() -> None:
    clock = Clock()
    repository, storage = FakeRepository(clock), FakeStorage()
    never = awaiting(clock, repository, storage, photo=False)
    arrived = awaiting(clock, repository, storage, photo=True)
    clock.advance(EXPIRES + GRACE - 1)
    assert settle_overdue_uploads(repository, storage, GRACE) == 0
    assert repository.status_of(never) is Status.PENDING

    clock.advance(2)
    assert settle_overdue_uploads(repository, storage, GRACE) == 1
    ended = repository.get(never)
    assert ended is not None and (ended.status, ended.error) == (Status.ERROR, NO_UPLOAD_RECEIVED)
    # The photo came (S3 queued it): it stays as it is, and the stuck-row rule watches it now.
    assert repository.status_of(arrived) is Status.PENDING
    assert repository.rows[arrived].enqueued_at == clock()
    assert settle_overdue_uploads(repository, storage, GRACE) == 0  # settled: not again
    assert repository.uploads_overdue(GRACE, 100) == []


@pytest.mark.parametrize("status", [Status.PROCESSING, Status.DONE, Status.ERROR])
def test_a_prediction_under_way_or_finished_is_only_settled(status: Status) -> None:
    clock = Clock()
    repository, storage = FakeRepository(clock), FakeStorage()
    prediction_id = awaiting(clock, repository, storage, photo=False)
    row = repository.rows[prediction_id]
    row.prediction = replace(row.prediction, status=status)
    before = repository.get(prediction_id)
    clock.advance(EXPIRES + GRACE + 1)
    assert settle_overdue_uploads(repository, storage, GRACE) == 0
    assert repository.get(prediction_id) == before
    assert repository.rows[prediction_id].enqueued_at == clock()


def test_the_sweep_neither_requeues_nor_deletes_a_url_still_valid() -> None:
    """An awaiting row has no message of ours and no object yet: to `sweep_unenqueued` it
    would look like a failed submit's leftover, to delete."""
    clock = Clock()
    repository, storage, queue = FakeRepository(clock), FakeStorage(), FakeQueue()
    waiting = awaiting(clock, repository, storage, photo=False)
    clock.advance(EXPIRES - 1)
    result = sweep(sweep_deps_for(repository, storage, queue, upload_grace_seconds=GRACE))
    assert (result.requeued, result.deleted, result.uploads_expired) == (0, 0, 0)
    assert repository.status_of(waiting) is Status.PENDING and queue.sent == []

    clock.advance(GRACE + 2)
    result = sweep(sweep_deps_for(repository, storage, queue, upload_grace_seconds=GRACE))
    assert (result.requeued, result.deleted, result.uploads_expired) == (0, 0, 1)
    assert repository.status_of(waiting) is Status.ERROR


# --- the worker ----------------------------------------------------------------------------


def worker(repository: FakeRepository, storage: FakeStorage) -> PredictDeps:
    return PredictDeps(
        repository, storage, FakeDetector([detection("dog", 0.9)]), 0.5, 10**7, 5,
        max_direct_upload_bytes=LIMIT,
    )  # fmt: skip


def seeded(job: Job | None, repository: FakeRepository, storage: FakeStorage, data: bytes) -> Job:
    assert job is not None
    repository.add_awaiting_upload(job.prediction_id, job.key, repository.clock())
    storage.objects[job.key] = data
    return job


def test_the_handler_runs_the_photo_refuses_the_oversized_and_consumes_the_rest() -> None:
    module = load_function("predict")
    repository, storage = FakeRepository(), FakeStorage()
    photo = seeded(parse_message(bodies()[PHOTO]), repository, storage, corpus.jpeg())
    big = seeded(parse_message(bodies()[OVERSIZED]), repository, storage, corpus.jpeg())
    deps = worker(repository, storage)

    answer = module.lambda_handler(load_event(EVENT), FakeLambdaContext(), lambda: deps)

    assert answer == {"batchItemFailures": []}  # the test event and the stranger consumed
    done = repository.get(photo.prediction_id)
    assert done is not None and (done.status, done.has_dog) == (Status.DONE, True)
    refused = repository.get(big.prediction_id)
    assert refused is not None and refused.status is Status.ERROR
    assert refused.error == f"the upload is larger than the limit of {LIMIT} bytes"
    assert ("get", big.key) not in storage.calls  # refused unread


def test_a_batch_of_nothing_to_do_builds_nothing() -> None:
    module = load_function("predict")
    event = load_event(EVENT)
    event["Records"] = [event["Records"][TEST_EVENT], event["Records"][NOT_OURS]]

    def no_deps() -> PredictDeps:
        raise AssertionError("nothing to process: no model, no database")

    assert module.lambda_handler(event, FakeLambdaContext(), no_deps) == {"batchItemFailures": []}


def queued(job: Job | None, attempt: int = 1) -> QueuedJob:
    assert job is not None
    return QueuedJob(f"m-{job.prediction_id}", job, attempt)


def test_not_an_image_ends_error_with_the_decoders_reason() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    job = seeded(parse_message(bodies()[PHOTO]), repository, storage, corpus.html())
    assert process_jobs([queued(job)], worker(repository, storage)) == []
    row = repository.get(job.prediction_id)
    assert row is not None and row.status is Status.ERROR
    assert row.error is not None and row.error.startswith("the image could not be decoded: ")


def test_an_empty_object_ends_error_unread() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    job = seeded(parse_message(bodies()[PHOTO]), repository, storage, b"")
    empty = Job(job.prediction_id, job.bucket, job.key, 0)
    assert process_jobs([queued(empty)], worker(repository, storage)) == []
    row = repository.get(job.prediction_id)
    assert row is not None and (row.status, row.error) == (Status.ERROR, "the upload is empty")


def test_a_second_notification_leaves_a_finished_prediction_as_it_is() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    job = seeded(parse_message(bodies()[PHOTO]), repository, storage, corpus.jpeg())
    deps = worker(repository, storage)
    assert process_jobs([queued(job)], deps) == []
    finished = repository.get(job.prediction_id)
    storage.objects[job.key] = corpus.html()  # the client POSTed again, another file
    assert process_jobs([queued(job)], deps) == []
    oversized = Job(job.prediction_id, job.bucket, job.key, LIMIT + 1)
    assert process_jobs([queued(oversized)], deps) == []
    assert repository.get(job.prediction_id) == finished


def test_a_refusal_that_cannot_be_recorded_is_tried_again() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    big = queued(seeded(parse_message(bodies()[OVERSIZED]), repository, storage, b"x"))
    repository.break_("fail_many")
    assert process_jobs([big], worker(repository, storage)) == [big]
    assert repository.status_of(big.job.prediction_id) is Status.PENDING


def test_the_sweep_function_ends_unused_urls_after_its_grace() -> None:
    settings = Settings(direct_upload_grace_seconds=10)
    fakes = FakeAdapters(settings=settings)
    clock = fakes.repository.clock
    unused = awaiting(clock, fakes.repository, fakes.storage, photo=False)
    clock.advance(EXPIRES + 11)  # past this grace, well within the default one

    # The function's own wiring (use_cases.sweep_deps) on the fakes and these settings.
    deps = lambda: use_cases.sweep_deps(fakes)  # noqa: E731
    result = load_function("sweep").lambda_handler({}, FakeLambdaContext(), deps)

    assert result["uploads_expired"] == 1
    assert fakes.repository.status_of(unused) is Status.ERROR


# --- the accepted photo never changes ------------------------------------------------------


def test_the_worker_accepts_the_photo_where_no_post_reaches_and_empties_the_drop_box() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    job = seeded(parse_message(bodies()[PHOTO]), repository, storage, corpus.jpeg())
    assert process_jobs([queued(job)], worker(repository, storage)) == []
    assert storage.objects == {image_key_for(job.prediction_id): corpus.jpeg()}


def test_a_photo_accepted_first_stays_whatever_the_drop_box_holds() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    job = seeded(parse_message(bodies()[PHOTO]), repository, storage, corpus.html())
    storage.objects[image_key_for(job.prediction_id)] = corpus.jpeg()  # an earlier job's
    assert process_jobs([queued(job)], worker(repository, storage)) == []
    done = repository.get(job.prediction_id)
    assert done is not None and done.status is Status.DONE  # the accepted JPEG, not the HTML
    assert storage.objects == {image_key_for(job.prediction_id): corpus.jpeg()}


def test_a_late_post_to_a_finished_prediction_is_removed_unread() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    job = seeded(parse_message(bodies()[PHOTO]), repository, storage, corpus.jpeg())
    assert process_jobs([queued(job)], worker(repository, storage)) == []
    storage.objects[job.key] = corpus.html()  # the POST sent again
    storage.calls.clear()
    assert process_jobs([queued(job)], worker(repository, storage)) == []
    assert storage.objects == {image_key_for(job.prediction_id): corpus.jpeg()}
    assert ("get", job.key) not in storage.calls


def test_a_post_for_a_deleted_prediction_is_removed() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    job = parse_message(bodies()[PHOTO])
    assert job is not None
    storage.objects[job.key] = corpus.jpeg()  # no row: deleted before the POST came
    assert process_jobs([queued(job)], worker(repository, storage)) == []
    assert storage.objects == {}
