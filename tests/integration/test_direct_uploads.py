"""Direct uploads against the session stack: the repository's two queries on PostgreSQL (the same
answers as the fake's), the sweeper's expiry with the real bucket, and an oversized object
that reaches the bucket anyway (written past the presigned POST's size limit) ending ERROR."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dogdetect.adapters.aws import S3ImageStorage, SqsJobQueue
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.limits import DEFAULT_DIRECT_UPLOAD_MAX_BYTES
from dogdetect.domain.models import Prediction, Status, image_key_for, incoming_key_for
from dogdetect.service.sweep import (
    NO_UPLOAD_RECEIVED,
    SweepResult,
    settle_overdue_uploads,
    sweep_unenqueued,
)
from sqlalchemy import bindparam, text

from tests.fakes import FakeRepository, sweep_deps_for
from tests.integration.conftest import holding_the_sweep

GRACE = 300


@dataclass
class Rows:
    """The repository under test, its clock, and a way to let time pass for the test's rows."""

    repository: FakeRepository | PostgresPredictionRepository
    now: Callable[[], datetime]
    elapse: Callable[[list[uuid.UUID], float], None]
    made: list[uuid.UUID] = field(default_factory=list)

    def awaiting(self, expires_in: float) -> uuid.UUID:
        prediction_id = uuid.uuid4()
        self.made.append(prediction_id)
        expires_at = self.now() + timedelta(seconds=expires_in)
        self.repository.add_awaiting_upload(
            prediction_id, incoming_key_for(prediction_id), expires_at
        )
        return prediction_id

    def pending(self) -> uuid.UUID:
        prediction_id = uuid.uuid4()
        self.made.append(prediction_id)
        self.repository.add_pending(prediction_id, image_key_for(prediction_id))
        return prediction_id

    def pass_time(self, seconds: float) -> None:
        self.elapse(self.made, seconds)

    def own(self, found: list[Prediction]) -> list[uuid.UUID]:
        return [p.id for p in found if p.id in self.made]


@contextmanager
def postgres_rows(request: pytest.FixtureRequest) -> Iterator[Rows]:
    repository: PostgresPredictionRepository = request.getfixturevalue("repository")
    settings: Settings = request.getfixturevalue("stack_settings")
    engine = make_engine(settings.database_url)
    backdate = text(
        "UPDATE predictions SET created_at = created_at - make_interval(secs => :s),"
        " updated_at = updated_at - make_interval(secs => :s),"
        " upload_expires_at = upload_expires_at - make_interval(secs => :s)"
        " WHERE id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))

    def elapse(ids: list[uuid.UUID], seconds: float) -> None:
        with engine.begin() as connection:
            connection.execute(backdate, {"s": seconds, "ids": ids})

    subject = Rows(repository, lambda: datetime.now(UTC), elapse)
    try:
        with holding_the_sweep(repository):
            yield subject
    finally:
        for prediction_id in subject.made:
            repository.remove(prediction_id)
        engine.dispose()


@pytest.fixture(params=["fake", "postgres"])
def rows(request: pytest.FixtureRequest) -> Iterator[Rows]:
    if request.param == "fake":
        fake = FakeRepository()
        yield Rows(fake, fake.clock, lambda _ids, seconds: fake.clock.advance(seconds))
        return
    with postgres_rows(request) as subject:
        yield subject


@pytest.fixture
def database_rows(request: pytest.FixtureRequest) -> Iterator[Rows]:
    with postgres_rows(request) as subject:
        yield subject


def test_an_awaited_upload_is_no_lost_message(rows: Rows) -> None:
    """`unenqueued_before` (the sweeper's repair of a failed submit) leaves direct uploads to
    `uploads_overdue`: it would requeue or delete them."""
    rows.awaiting(expires_in=900)
    plain = rows.pending()
    rows.pass_time(3600)
    assert rows.own(rows.repository.unenqueued_before(60, 10_000)) == [plain]


def test_uploads_overdue_are_those_expired_past_the_grace(rows: Rows) -> None:
    later = rows.awaiting(expires_in=60)
    first = rows.awaiting(expires_in=10)
    fresh = rows.awaiting(expires_in=3600)
    rows.pending()
    rows.pass_time(GRACE + 30)

    found = rows.repository.uploads_overdue(GRACE, 10_000)
    assert rows.own(found) == [first]  # `later` expired 30 s ago, within the grace
    rows.pass_time(60)
    found = rows.repository.uploads_overdue(GRACE, 10_000)
    assert rows.own(found) == [first, later]  # the longest expired first
    assert all(p.status is Status.PENDING for p in found)
    assert rows.repository.uploads_overdue(GRACE, 1) == found[:1]

    rows.repository.mark_enqueued(first)  # settled
    assert rows.own(rows.repository.uploads_overdue(GRACE, 10_000)) == [later]
    assert fresh not in rows.own(rows.repository.uploads_overdue(0, 10_000))


def test_the_sweep_ends_an_unused_url_and_keeps_one_used(
    database_rows: Rows, storage: S3ImageStorage, own_queue: tuple[Any, str]
) -> None:
    rows = database_rows
    never, used, waiting = (rows.awaiting(expires_in=s) for s in (10, 10, 3600))
    storage.put(incoming_key_for(used), b"the photo")
    rows.pass_time(GRACE + 60)

    sqs, url = own_queue
    # The repair of failed submits first, as the sweep runs it: it must not take these rows
    # for leftovers (no message of ours, no object yet) and delete or requeue them.
    deps = sweep_deps_for(
        rows.repository, storage, SqsJobQueue(sqs, url), upload_grace_seconds=GRACE, limit=10_000
    )
    sweep_unenqueued(deps, SweepResult())
    assert all(rows.repository.get(p) is not None for p in (never, used, waiting))
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []

    settled = SweepResult()
    settle_overdue_uploads(deps, settled)
    assert settled.uploads_expired >= 1 and settled.failed == 0
    gone = rows.repository.get(never)
    assert gone is not None and (gone.status, gone.error) == (Status.ERROR, NO_UPLOAD_RECEIVED)
    waited = rows.repository.get(waiting)
    assert waited is not None and waited.status is Status.PENDING
    # The stack's own worker also hears of `used`'s object (the bucket notifies its queue) and
    # may have ended it already, for the bytes are no photo: what counts is that the sweep did
    # not call it unreceived.
    arrived = rows.repository.get(used)
    assert arrived is not None and arrived.error != NO_UPLOAD_RECEIVED
    assert set(rows.own(rows.repository.uploads_overdue(GRACE, 10_000))) == set()
    storage.delete(incoming_key_for(used))


def test_an_oversized_object_in_the_bucket_ends_error_unread(
    api: httpx.Client, storage: S3ImageStorage
) -> None:
    """Past S3's content-length-range (someone with s3:PutObject there, here the tests' own
    identity): S3's notification says the size, and the worker ends it ERROR without reading."""
    created = api.post("/image_prediction/uploads").json()
    key = created["upload"]["fields"]["key"]
    storage.put(key, b"\xff\xd8\xff" + bytes(DEFAULT_DIRECT_UPLOAD_MAX_BYTES))
    response = api.get(f"/image_prediction/{created['image_prediction_id']}")
    deadline = time.monotonic() + 60
    while response.json()["status"] not in ("DONE", "ERROR"):
        assert time.monotonic() < deadline, response.text
        response = api.get(
            f"/image_prediction/{created['image_prediction_id']}", headers={"Prefer": "wait=20"}
        )
    body = response.json()
    assert body["status"] == "ERROR"
    limit = DEFAULT_DIRECT_UPLOAD_MAX_BYTES
    assert body["error"] == f"the upload is larger than the limit of {limit} bytes"
    storage.delete(key)
