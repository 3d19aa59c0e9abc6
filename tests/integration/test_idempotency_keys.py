"""Idempotency keys in PostgreSQL (`add_pending_once`, `delete_expired_keys`, the cascade of
`remove`), the same checks on the fake the unit tests use, and real concurrency: requests
with one key at the same moment make one prediction (the primary key and ON CONFLICT).

The session stack's database is shared: each test uses keys of its own (random digests),
and backdates only its own keys, by less than the live sweeper's 24 hours."""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.idempotency import KEY_TTL_SECONDS, KeyClaim, KeyedPrediction
from dogdetect.domain.models import FinishedPrediction, Status, image_key_for
from sqlalchemy import Engine, create_engine, text

from tests.fakes import FakeRepository

Repository = FakeRepository | PostgresPredictionRepository


def digest() -> bytes:
    return hashlib.sha256(os.urandom(16)).digest()


IMAGE_A, IMAGE_B = hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()


@dataclass
class Subject:
    repository: Repository
    age_keys: Callable[[list[bytes], float], None]  # make these keys older by seconds

    def claim(
        self, key: bytes, image: bytes = IMAGE_A, ttl: int = KEY_TTL_SECONDS
    ) -> KeyedPrediction:
        prediction_id = uuid.uuid4()
        return self.repository.add_pending_once(
            prediction_id, image_key_for(prediction_id), KeyClaim(key, image, ttl)
        )


@pytest.fixture(scope="module")
def master_engine(master_database_url: str) -> Iterator[Engine]:
    engine = create_engine(master_database_url)
    yield engine
    engine.dispose()


def _age(engine: Engine) -> Callable[[list[bytes], float], None]:
    def age(keys: list[bytes], seconds: float) -> None:
        # As the master user: the functions' role may not change a key (no UPDATE).
        with engine.begin() as connection:
            for key in keys:
                connection.execute(
                    text(
                        "UPDATE idempotency_keys SET created_at = created_at"
                        " - make_interval(secs => :s) WHERE key_digest = :k"
                    ),
                    {"s": seconds, "k": key},
                )

    return age


@pytest.fixture(params=["fake", "postgres"])
def subject(request: pytest.FixtureRequest) -> Subject:
    if request.param == "fake":
        fake = FakeRepository()

        def age(keys: list[bytes], seconds: float) -> None:
            for key in keys:
                held = fake.keys[key]
                fake.keys[key] = replace(
                    held, created_at=held.created_at - timedelta(seconds=seconds)
                )

        return Subject(fake, age)
    repository: PostgresPredictionRepository = request.getfixturevalue("repository")
    return Subject(repository, _age(request.getfixturevalue("master_engine")))


def test_the_first_claim_makes_a_pending_prediction(subject: Subject) -> None:
    made = subject.claim(digest())
    assert made.created and not made.enqueued
    assert made.prediction.status is Status.PENDING
    found = subject.repository.get(made.prediction.id)
    assert found is not None and found.status is Status.PENDING


def test_a_second_claim_finds_the_first_and_makes_nothing(subject: Subject) -> None:
    key = digest()
    first = subject.claim(key)
    again = subject.claim(key, IMAGE_B)  # the image is the service's to compare
    assert not again.created and not again.enqueued
    assert again.prediction.id == first.prediction.id
    assert again.image_sha256 == IMAGE_A
    subject.repository.mark_enqueued(first.prediction.id)
    assert subject.claim(key).enqueued  # the first request got as far as its 202


def test_a_claim_sees_the_prediction_as_it_is_now(subject: Subject) -> None:
    key = digest()
    first = subject.claim(key).prediction
    subject.repository.mark_enqueued(first.id)
    assert set(subject.repository.start_processing_many([first.id])) == {first.id}
    assert subject.repository.finish_many([FinishedPrediction(first.id, False, ())]) == {first.id}
    assert subject.claim(key).prediction.status is Status.DONE


def test_an_expired_key_is_free(subject: Subject) -> None:
    key = digest()
    first = subject.claim(key).prediction
    subject.age_keys([key], 3601)
    second = subject.claim(key, ttl=3600)  # the sweep's 24 h, shortened
    assert second.created and second.prediction.id != first.id
    assert subject.repository.get(first.id) is not None  # the old prediction stays
    assert not subject.claim(key, ttl=3600).created  # the key now names the new one


def test_removing_a_prediction_frees_its_key(subject: Subject) -> None:
    key = digest()
    first = subject.claim(key).prediction
    assert subject.repository.remove(first.id) == first.image_key
    assert subject.repository.remove(first.id) is None
    assert subject.claim(key).created


def test_expired_keys_are_deleted_oldest_first(subject: Subject) -> None:
    oldest, older, young = digest(), digest(), digest()
    for key in (oldest, older, young):
        subject.claim(key)
    subject.age_keys([oldest], 3 * 3600)
    subject.age_keys([older], 2 * 3600)
    # Keys older than an hour: only this test's two (nothing else here is that old).
    assert subject.repository.delete_expired_keys(3600, limit=1) == 1
    assert subject.claim(oldest, ttl=10 * 3600).created  # it was gone
    assert not subject.claim(older, ttl=10 * 3600).created
    assert subject.repository.delete_expired_keys(3600, limit=100) == 1
    assert not subject.claim(young).created


# --- PostgreSQL only ---------------------------------------------------------------------------


def test_concurrent_claims_of_one_key_make_one_prediction(
    stack_settings: Settings, master_engine: Engine
) -> None:
    """Eight containers at once, each with its own connections (the functions' role), one key."""
    contenders = 8
    engines = [make_engine(stack_settings.database_url) for _ in range(contenders)]
    repositories = [PostgresPredictionRepository(engine) for engine in engines]
    key, start = digest(), threading.Barrier(contenders)
    tried: list[uuid.UUID] = []

    def claim(repo: PostgresPredictionRepository) -> KeyedPrediction:
        repo.ping()  # connected before the start, so the claims truly overlap
        prediction_id = uuid.uuid4()
        tried.append(prediction_id)
        start.wait(10)
        return repo.add_pending_once(
            prediction_id, image_key_for(prediction_id), KeyClaim(key, IMAGE_A)
        )

    try:
        with ThreadPoolExecutor(contenders) as pool:
            results = list(pool.map(claim, repositories))
    finally:
        for engine in engines:
            engine.dispose()
    assert sum(r.created for r in results) == 1
    (winner,) = {r.prediction.id for r in results}
    with master_engine.connect() as connection:
        made = connection.scalar(
            text("SELECT count(*) FROM predictions WHERE id = ANY(:ids)"), {"ids": tried}
        )
        keyed = connection.scalar(
            text("SELECT prediction_id FROM idempotency_keys WHERE key_digest = :k"), {"k": key}
        )
    assert made == 1 and keyed == winner  # the losers' rows were rolled back
