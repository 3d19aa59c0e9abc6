"""The service's waits with fakes: a wait holds a claim and gives it back; a client past its
share is refused (TooManyWaits, 429); with every wait taken the answer comes at once, the
preference not applied; nothing is claimed for a plain read, an unknown id or a finished one."""

from __future__ import annotations

import uuid

import pytest
from dogdetect.domain.errors import DependencyUnavailable, PredictionNotFound, TooManyWaits
from dogdetect.domain.models import Status
from dogdetect.service.read import Waiting, WaitLimits, read_with_wait

from tests.fakes import FakeRepository, FakeSlots

LIMITS = WaitLimits(per_client=2, total=3)


def pending(repository: FakeRepository) -> str:
    return str(repository.seed(Status.PENDING).id)


def test_a_wait_holds_a_claim_and_gives_it_back() -> None:
    repository, slots = FakeRepository(), FakeSlots()
    repository_id = pending(repository)
    prediction, applied = read_with_wait(repository_id, repository, 1, "a", Waiting(slots, LIMITS))
    assert prediction.status is Status.PENDING and applied == 1
    assert slots.operations() == ["hold", "release"] and slots.held == {}


def test_a_client_past_its_share_is_refused() -> None:
    repository, slots = FakeRepository(), FakeSlots()
    slots.held = {uuid.uuid4(): "a", uuid.uuid4(): "a"}  # two waits of client a, under way
    with pytest.raises(TooManyWaits):
        read_with_wait(pending(repository), repository, 5, "a", Waiting(slots, LIMITS))


def test_with_every_wait_taken_the_answer_comes_at_once_unapplied() -> None:
    repository, slots = FakeRepository(), FakeSlots()
    slots.held = {uuid.uuid4(): "a", uuid.uuid4(): "b", uuid.uuid4(): "c"}
    prediction, applied = read_with_wait(
        pending(repository), repository, 20, "d", Waiting(slots, LIMITS)
    )
    assert prediction.status is Status.PENDING and applied is None
    assert slots.released == []


@pytest.mark.parametrize("seconds", [None, 0])
def test_a_plain_read_claims_nothing(seconds: int | None) -> None:
    repository, slots = FakeRepository(), FakeSlots()
    read_with_wait(pending(repository), repository, seconds, "a", Waiting(slots, LIMITS))
    assert slots.operations() == []


def test_a_finished_prediction_or_an_unknown_id_claims_nothing() -> None:
    repository, slots = FakeRepository(), FakeSlots()
    done = str(repository.seed(Status.DONE, has_dog=True).id)
    _, applied = read_with_wait(done, repository, 20, "a", Waiting(slots, LIMITS))
    assert applied == 20  # nothing to wait for: the answer is the one a wait would give
    with pytest.raises(PredictionNotFound):
        read_with_wait(str(uuid.uuid4()), repository, 20, "a", Waiting(slots, LIMITS))
    assert slots.operations() == []


def test_a_release_that_fails_leaves_the_claim_to_lapse() -> None:
    repository, slots = FakeRepository(), FakeSlots()
    slots.break_("release")
    _, applied = read_with_wait(pending(repository), repository, 1, "a", Waiting(slots, LIMITS))
    assert applied == 1 and len(slots.held) == 1  # lapses at its expiry, in the database


def test_a_database_down_at_the_claim_is_a_503() -> None:
    repository, slots = FakeRepository(), FakeSlots()
    slots.break_("hold")
    with pytest.raises(DependencyUnavailable):
        read_with_wait(pending(repository), repository, 1, "a", Waiting(slots, LIMITS))
