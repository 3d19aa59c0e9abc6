"""Slot claims on the real PostgreSQL (the stack's): counted per client and in all, across
connections, each pool (waits, drawings) apart; released; and a claim whose holder never
released it (an execution killed while holding it) lapses at its expiry. The same rules as
tests/fakes.FakeSlots."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from dogdetect.adapters.postgres import make_engine
from dogdetect.adapters.postgres.slots import DRAWINGS, WAITS, PostgresSlots
from dogdetect.config import Settings

from tests.fakes import FakeSlots


@pytest.fixture
def slots(stack_settings: Settings) -> Iterator[PostgresSlots]:
    engine = make_engine(stack_settings.database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM slot_claims")
    yield PostgresSlots(engine, WAITS)
    engine.dispose()


@pytest.mark.parametrize("real", [True, False], ids=["postgres", "fake"])
def test_per_client_and_total_are_counted(slots: PostgresSlots, real: bool) -> None:
    waits = slots if real else FakeSlots()
    first = waits.hold("a", 30, per_client=2, total=3)
    assert first.id is not None and waits.hold("a", 30, 2, 3).id is not None
    assert waits.hold("a", 30, 2, 3).full == "client"
    assert waits.hold("b", 30, 2, 3).id is not None
    assert waits.hold("c", 30, 2, 3).full == "service"
    waits.release(first.id)
    assert waits.hold("c", 30, 2, 3).id is not None


def test_each_pool_is_counted_apart(slots: PostgresSlots, stack_settings: Settings) -> None:
    engine = make_engine(stack_settings.database_url)
    drawings = PostgresSlots(engine, DRAWINGS)
    try:
        assert slots.hold("a", 30, per_client=1, total=1).id is not None
        assert slots.hold("b", 30, 1, 1).full == "service"
        assert drawings.hold("a", 30, per_client=1, total=1).id is not None  # waits not counted
        assert drawings.hold("c", 30, 1, 1).full == "service"
    finally:
        engine.dispose()


def test_concurrent_claims_never_pass_the_total(slots: PostgresSlots) -> None:
    with ThreadPoolExecutor(16) as pool:
        holds = list(pool.map(lambda n: slots.hold(f"client-{n}", 30, 2, 5), range(16)))
    assert sum(h.id is not None for h in holds) == 5
    assert {h.full for h in holds if h.id is None} == {"service"}


def test_a_claim_never_released_lapses(slots: PostgresSlots) -> None:
    assert slots.hold("killed", 0.5, per_client=1, total=10).id is not None
    assert slots.hold("killed", 0.5, 1, 10).full == "client"
    time.sleep(1.0)  # past its expiry (the database's clock): nothing races here
    assert slots.hold("killed", 30, 1, 10).id is not None
    slots.release(uuid.uuid4())  # releasing an unknown claim is nothing
