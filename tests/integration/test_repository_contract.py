"""The repository ports' contract (`domain.ports`), checked the same way
on the in-memory fake the unit tests use (`tests.fakes.FakeRepository`) and on PostgreSQL
(`PostgresPredictionRepository` on the session stack's server): same calls, same answers.

Rows are made through the port only. Time passes (`Subject.pass_time`) by advancing the
fake's clock, and in PostgreSQL by backdating every timestamp of the test's own rows by as
much, with SQL. The session stack shares that database: each test looks at its own rows (and
at the order and `limit` of whole answers), and deletes them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from dogdetect.adapters.postgres import PostgresPredictionRepository, make_engine
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable
from dogdetect.domain.idempotency import KeyClaim
from dogdetect.domain.models import (
    Box,
    Detection,
    FinishedPrediction,
    Prediction,
    Status,
    image_key_for,
)
from dogdetect.domain.options import PredictionOptions
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.exc import DBAPIError

from tests.fakes import FakeRepository

Repository = FakeRepository | PostgresPredictionRepository
# What each raises when the database refuses a write: the adapter lets SQLAlchemy's error
# through as a bug, the fake raises plain ones. Never DependencyUnavailable (an outage).
REFUSED = (DBAPIError, ValueError, RuntimeError)
# Ages below the sweeper's grace (ENQUEUE_GRACE_SECONDS, 60 s) so that the session stack's
# sweeper leaves this test's unqueued rows alone.
OLD, YOUNG = 40, 20

DETECTIONS = (
    Detection("dog", 0.9189, Box(131.8, 221.1, 310.2, 540.4)),
    Detection("bicycle", 0.51, Box(0.0, 0.5, 700.25, 400.0)),
    Detection("dog", 0.25, Box(1.0, 2.0, 3.0, 4.0)),
)


@dataclass
class Subject:
    repository: Repository
    elapse: Callable[[Sequence[uuid.UUID], float], None]
    created: list[uuid.UUID] = field(default_factory=list)

    def add(self, *, enqueued: bool = False) -> Prediction:
        prediction_id = uuid.uuid4()
        self.created.append(prediction_id)
        prediction = self.repository.add_pending(prediction_id, image_key_for(prediction_id))
        if enqueued:
            self.repository.mark_enqueued(prediction_id)
        return prediction

    def in_state(self, status: Status, *, enqueued: bool = True) -> Prediction:
        """A row brought to `status` the way the services do it."""
        prediction_id = self.add(enqueued=enqueued).id
        self.bring(prediction_id, status)
        return self.get(prediction_id)

    def bring(self, prediction_id: uuid.UUID, status: Status) -> None:
        """PENDING -> `status`, as the worker does (PROCESSING, DONE) or the sweep (ERROR)."""
        if status in (Status.PROCESSING, Status.DONE):
            assert self.start(prediction_id)
        if status is Status.DONE:
            assert self.finish(prediction_id, True, DETECTIONS)
        if status is Status.ERROR:
            assert self.repository.fail(prediction_id, "could not be decoded")

    def start(self, prediction_id: uuid.UUID) -> bool:
        """Whether a batch of this one row moved it to PROCESSING."""
        return set(self.repository.start_processing_many([prediction_id])) == {prediction_id}

    def finish(
        self, prediction_id: uuid.UUID, has_dog: bool, detections: Sequence[Detection]
    ) -> bool:
        """Whether a batch of this one answer moved its row to DONE."""
        answer = FinishedPrediction(prediction_id, has_dog, tuple(detections))
        return self.repository.finish_many([answer]) == {prediction_id}

    def get(self, prediction_id: uuid.UUID) -> Prediction:
        found = self.repository.get(prediction_id)
        assert found is not None, prediction_id
        return found

    def pass_time(self, seconds: float) -> None:
        """`seconds` go by for every row of this test (read rows again after it)."""
        self.elapse(self.created, seconds)

    def later(self, prediction: Prediction, seconds: float = 10) -> Prediction:
        """The row as it reads once `seconds` went by since its last change."""
        self.pass_time(seconds)
        return self.get(prediction.id)

    def own(self, predictions: list[Prediction]) -> list[uuid.UUID]:
        return [p.id for p in predictions if p.id in self.created]


def _backdate(engine: Engine, ids: Sequence[uuid.UUID], seconds: float) -> None:
    statement = text(
        "UPDATE predictions SET created_at = created_at - make_interval(secs => :seconds),"
        " updated_at = updated_at - make_interval(secs => :seconds),"
        " enqueued_at = enqueued_at - make_interval(secs => :seconds)"
        " WHERE id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    with engine.begin() as connection:
        connection.execute(statement, {"seconds": seconds, "ids": list(ids)})


@pytest.fixture(params=["fake", "postgres"])
def subject(request: pytest.FixtureRequest) -> Iterator[Subject]:
    if request.param == "fake":
        fake = FakeRepository()
        yield Subject(fake, lambda _ids, seconds: fake.clock.advance(seconds))
        return
    repository: PostgresPredictionRepository = request.getfixturevalue("repository")
    settings: Settings = request.getfixturevalue("stack_settings")
    engine = make_engine(settings.database_url)
    subject = Subject(repository, lambda ids, seconds: _backdate(engine, ids, seconds))
    try:
        yield subject
    finally:
        for prediction_id in subject.created:
            repository.remove(prediction_id)
        engine.dispose()


def _raises_a_bug(call: Callable[[], object]) -> None:
    """The write is refused, and not as an outage: retrying would not help."""
    with pytest.raises(REFUSED) as caught:
        call()
    assert not isinstance(caught.value, DependencyUnavailable), caught.value


# --- add_pending, get, remove ---------------------------------------------------------------


def test_add_pending_then_get(subject: Subject) -> None:
    added = subject.add()
    assert (added.status, added.image_key) == (Status.PENDING, image_key_for(added.id))
    assert (added.has_dog, added.error, added.detections) == (None, None, ())
    assert added.created_at.tzinfo is not None and added.updated_at == added.created_at
    assert subject.repository.get(added.id) == added


def test_get_unknown_is_none(subject: Subject) -> None:
    subject.add()
    assert subject.repository.get(uuid.uuid4()) is None


def test_add_pending_twice_is_refused_and_keeps_the_row(subject: Subject) -> None:
    added = subject.add()
    _raises_a_bug(lambda: subject.repository.add_pending(added.id, "uploads/another"))
    assert subject.get(added.id) == added


def test_remove_deletes_the_row_and_its_detections(subject: Subject) -> None:
    done = subject.in_state(Status.DONE)
    kept = subject.in_state(Status.DONE)
    assert subject.repository.remove(done.id) == done.image_key
    assert subject.repository.get(done.id) is None
    assert subject.repository.remove(done.id) is None  # removing what is gone is no error
    assert subject.repository.remove(uuid.uuid4()) is None
    # The same id again starts from nothing: no detection of the deleted row comes back.
    again = subject.repository.add_pending(done.id, done.image_key)
    assert again.detections == () and subject.get(done.id) == again
    assert subject.get(kept.id) == kept


# --- one row's start, finish and fail ------------------------------------------------------

# Starting and failing both move only an unfinished row.
UNFINISHED = {
    Status.PENDING: True,
    Status.PROCESSING: True,
    Status.DONE: False,
    Status.ERROR: False,
}


@pytest.mark.parametrize(("status", "allowed"), UNFINISHED.items(), ids=str)
def test_start_from_pending_or_processing_only(
    subject: Subject, status: Status, allowed: bool
) -> None:
    before = subject.later(subject.in_state(status))
    assert subject.start(before.id) is allowed
    after = subject.get(before.id)
    if allowed:  # PROCESSING again is a redelivered message: the worker takes it over
        assert after.status is Status.PROCESSING
        assert after.updated_at - before.updated_at >= timedelta(seconds=10)
        assert after == replace(before, status=Status.PROCESSING, updated_at=after.updated_at)
    else:
        assert after == before


@pytest.mark.parametrize("status", [Status.PENDING, Status.DONE, Status.ERROR], ids=str)
def test_finish_from_processing_only(subject: Subject, status: Status) -> None:
    before = subject.later(subject.in_state(status))
    assert subject.finish(before.id, False, DETECTIONS[:1]) is False
    assert subject.get(before.id) == before


def test_finish_stores_the_answer_and_detections_once(subject: Subject) -> None:
    before = subject.later(subject.in_state(Status.PROCESSING))
    assert subject.finish(before.id, True, DETECTIONS) is True
    done = subject.get(before.id)
    assert (done.status, done.has_dog, done.error) == (Status.DONE, True, None)
    assert done.detections == DETECTIONS  # every one, in the detector's order
    assert done.updated_at - before.updated_at >= timedelta(seconds=10)
    assert done.created_at == before.created_at
    # A redelivered message, or a second worker on the same one, changes nothing.
    done = subject.later(done)
    assert subject.start(done.id) is False
    assert subject.finish(done.id, False, DETECTIONS) is False
    assert subject.repository.fail(done.id, "gave up") is False
    assert subject.get(done.id) == done


def test_finish_without_detections(subject: Subject) -> None:
    before = subject.in_state(Status.PROCESSING)
    assert subject.finish(before.id, False, []) is True
    done = subject.get(before.id)
    assert (done.status, done.has_dog, done.detections) == (Status.DONE, False, ())


def test_finish_is_all_or_nothing(subject: Subject) -> None:
    # detections.label holds 64 characters: a longer one cannot be stored, so the row must not
    # be DONE without its detections.
    before = subject.in_state(Status.PROCESSING)
    unstorable = [*DETECTIONS[:1], Detection("x" * 65, 0.5, Box(0, 0, 1, 1))]
    _raises_a_bug(lambda: subject.finish(before.id, True, unstorable))
    assert subject.get(before.id) == before
    assert subject.finish(before.id, True, DETECTIONS[:1]) is True
    assert subject.get(before.id).detections == DETECTIONS[:1]


def test_text_that_cannot_be_stored_is_refused(subject: Subject) -> None:
    # PostgreSQL's text holds no NUL character; nothing is half-written when it is refused.
    unknown = uuid.uuid4()
    _raises_a_bug(lambda: subject.repository.add_pending(unknown, "uploads/\x00"))
    assert subject.repository.get(unknown) is None
    pending = subject.in_state(Status.PENDING)
    _raises_a_bug(lambda: subject.repository.fail(pending.id, "reason\x00"))
    assert subject.get(pending.id) == pending
    processing = subject.in_state(Status.PROCESSING)
    labelled = [Detection("dog\x00", 0.5, Box(0, 0, 1, 1))]
    _raises_a_bug(lambda: subject.finish(processing.id, True, labelled))
    assert subject.get(processing.id) == processing


@pytest.mark.parametrize(("status", "allowed"), UNFINISHED.items(), ids=str)
def test_fail_from_a_non_terminal_state_only(
    subject: Subject, status: Status, allowed: bool
) -> None:
    before = subject.later(subject.in_state(status))
    assert subject.repository.fail(before.id, "gave up after 5 attempts") is allowed
    after = subject.get(before.id)
    if allowed:
        assert (after.status, after.error, after.has_dog) == (
            Status.ERROR,
            "gave up after 5 attempts",
            None,
        )
        assert after.updated_at - before.updated_at >= timedelta(seconds=10)
        assert after == replace(
            before, status=Status.ERROR, error=after.error, updated_at=after.updated_at
        )
    else:  # the first reason stays; a finished answer stays
        assert after == before


def test_transitions_of_an_unknown_id_are_refused(subject: Subject) -> None:
    subject.add()
    unknown = uuid.uuid4()
    assert subject.start(unknown) is False
    assert subject.finish(unknown, True, DETECTIONS) is False
    assert subject.repository.fail(unknown, "gone") is False
    subject.repository.mark_enqueued(unknown)  # no error, and no row appears
    assert subject.repository.get(unknown) is None


# --- start_processing_many, finish_many, fail_many (a batch of the predict worker) ----------


def _one_of_each(subject: Subject) -> dict[Status, Prediction]:
    """A row in every state, each last changed 10 s ago."""
    rows = {status: subject.in_state(status) for status in Status}
    subject.pass_time(10)
    return {status: subject.get(row.id) for status, row in rows.items()}


def test_start_processing_many_moves_the_unfinished_ones(subject: Subject) -> None:
    before = _one_of_each(subject)
    unknown = uuid.uuid4()
    ids = [unknown, *(row.id for row in before.values())]
    started = subject.repository.start_processing_many(ids)
    assert set(started) == {before[Status.PENDING].id, before[Status.PROCESSING].id}
    for status, row in before.items():
        after = subject.get(row.id)
        if row.id in started:
            assert after.updated_at - row.updated_at >= timedelta(seconds=10)
            assert after == replace(row, status=Status.PROCESSING, updated_at=after.updated_at)
        else:
            assert after == row, status
    assert subject.repository.get(unknown) is None
    assert subject.repository.start_processing_many([]) == {}


def test_finish_many_stores_each_answer_once(subject: Subject) -> None:
    before = _one_of_each(subject)
    second = subject.in_state(Status.PROCESSING)
    results = [
        *(FinishedPrediction(row.id, True, DETECTIONS) for row in before.values()),
        FinishedPrediction(second.id, False, ()),
        FinishedPrediction(uuid.uuid4(), True, ()),  # unknown
    ]
    done = subject.repository.finish_many(results)
    assert done == {before[Status.PROCESSING].id, second.id}

    first = subject.get(before[Status.PROCESSING].id)
    assert (first.status, first.has_dog, first.error) == (Status.DONE, True, None)
    assert first.detections == DETECTIONS  # every one, in the detector's order
    assert first.updated_at - before[Status.PROCESSING].updated_at >= timedelta(seconds=10)
    plain = subject.get(second.id)
    assert (plain.status, plain.has_dog, plain.detections) == (Status.DONE, False, ())
    # Rows not PROCESSING are left as they were: no answer, no detection added.
    for status in (Status.PENDING, Status.DONE, Status.ERROR):
        assert subject.get(before[status].id) == before[status], status
    # Redelivered: nothing changes any more.
    assert subject.repository.finish_many(results) == set()
    assert subject.get(first.id) == first
    assert subject.repository.finish_many([]) == set()


def test_finish_many_keeps_the_first_answer_for_a_repeated_row(subject: Subject) -> None:
    row = subject.in_state(Status.PROCESSING)
    again = [FinishedPrediction(row.id, True, DETECTIONS[:1])] * 2
    assert subject.repository.finish_many(again) == {row.id}
    assert subject.get(row.id).detections == DETECTIONS[:1]


def test_finish_many_is_all_or_nothing(subject: Subject) -> None:
    good = subject.in_state(Status.PROCESSING)
    bad = subject.in_state(Status.PROCESSING)
    unstorable = (Detection("x" * 65, 0.5, Box(0, 0, 1, 1)),)
    results = [
        FinishedPrediction(good.id, True, DETECTIONS),
        FinishedPrediction(bad.id, True, unstorable),
    ]
    _raises_a_bug(lambda: subject.repository.finish_many(results))
    assert subject.get(good.id) == good and subject.get(bad.id) == bad
    assert subject.repository.finish_many(results[:1]) == {good.id}
    assert subject.get(good.id).detections == DETECTIONS


def test_fail_many_gives_each_row_its_reason(subject: Subject) -> None:
    before = _one_of_each(subject)
    reasons = {row.id: f"reason of a {status} row" for status, row in before.items()}
    reasons[uuid.uuid4()] = "gone"
    failed = subject.repository.fail_many(reasons)
    assert failed == {before[Status.PENDING].id, before[Status.PROCESSING].id}
    for row_id in failed:
        after = subject.get(row_id)
        assert (after.status, after.error, after.has_dog) == (Status.ERROR, reasons[row_id], None)
    for status in (Status.DONE, Status.ERROR):  # the first reason stays; a finished answer stays
        assert subject.get(before[status].id) == before[status]
    assert subject.repository.fail_many({}) == set()


def test_fail_many_refuses_text_it_cannot_store_and_changes_nothing(subject: Subject) -> None:
    first = subject.in_state(Status.PENDING)
    second = subject.in_state(Status.PROCESSING)
    _raises_a_bug(lambda: subject.repository.fail_many({first.id: "fine", second.id: "reason\x00"}))
    assert subject.get(first.id) == first and subject.get(second.id) == second


# --- unenqueued_before, unfinished ----------------------------------------------------------


def test_unenqueued_before_finds_old_rows_never_marked_enqueued(subject: Subject) -> None:
    oldest = subject.add()
    subject.pass_time(OLD - YOUNG)
    old = subject.add()
    subject.pass_time(1)  # distinct creation times: the order of ties is not promised
    old_failed = subject.in_state(Status.ERROR, enqueued=False)  # whatever its status
    old_enqueued = subject.add(enqueued=True)
    subject.pass_time(YOUNG)
    fresh = subject.add()

    found = subject.repository.unenqueued_before(YOUNG - 5, 10_000)
    assert subject.own(found) == [oldest.id, old.id, old_failed.id]  # oldest first
    assert subject.own(subject.repository.unenqueued_before(OLD - 5, 10_000)) == [oldest.id]
    assert subject.own(subject.repository.unenqueued_before(OLD + 5, 10_000)) == []
    assert old_enqueued.id not in subject.own(found) and fresh.id not in subject.own(found)
    # The oldest `limit` of them.
    assert [p.created_at for p in found] == sorted(p.created_at for p in found)
    assert subject.repository.unenqueued_before(YOUNG - 5, 2) == found[:2]

    subject.repository.mark_enqueued(old.id)
    assert old.id not in subject.own(subject.repository.unenqueued_before(YOUNG - 5, 10_000))


def test_unfinished_lists_sent_rows_not_yet_finished(subject: Subject) -> None:
    processing = subject.in_state(Status.PROCESSING)
    subject.pass_time(5)
    pending = subject.in_state(Status.PENDING)
    subject.in_state(Status.PENDING, enqueued=False)  # its message may never have been sent
    subject.in_state(Status.DONE)
    subject.in_state(Status.ERROR)
    subject.pass_time(1)
    never_sent_processing = subject.in_state(Status.PROCESSING, enqueued=False)

    found = subject.repository.unfinished(10_000)
    assert subject.own(found) == [processing.id, pending.id]  # oldest first
    assert [p.created_at for p in found] == sorted(p.created_at for p in found)
    assert subject.repository.unfinished(1) == found[:1]

    subject.repository.mark_enqueued(never_sent_processing.id)
    assert subject.own(subject.repository.unfinished(10_000)) == [
        processing.id,
        pending.id,
        never_sent_processing.id,
    ]
    assert subject.finish(processing.id, False, [])
    assert subject.repository.fail(pending.id, "gave up")
    assert subject.own(subject.repository.unfinished(10_000)) == [never_sent_processing.id]


# ------------------------------------------------------------------ webhooks

HOOK = "https://hooks.example.com/dogs?token=t"


def _with_webhook(subject: Subject, status: Status, url: str | None = HOOK) -> Prediction:
    """A row with a webhook, brought to `status` the way the services do it."""
    prediction_id = uuid.uuid4()
    subject.created.append(prediction_id)
    made = subject.repository.add_pending(prediction_id, image_key_for(prediction_id), url)
    assert made.webhook_url == url
    subject.repository.mark_enqueued(prediction_id)
    subject.bring(prediction_id, status)
    return subject.get(prediction_id)


def test_the_webhook_is_kept_with_the_row(subject: Subject) -> None:
    assert _with_webhook(subject, Status.DONE).webhook_url == HOOK
    assert subject.in_state(Status.DONE).webhook_url is None


def test_webhooks_due_are_finished_rows_whose_webhook_was_not_announced(
    subject: Subject,
) -> None:
    done, failed = _with_webhook(subject, Status.DONE), _with_webhook(subject, Status.ERROR)
    unfinished = [_with_webhook(subject, s) for s in (Status.PENDING, Status.PROCESSING)]
    without = subject.in_state(Status.DONE)
    ids = [done.id, failed.id, without.id, *(p.id for p in unfinished), uuid.uuid4()]

    due = subject.repository.webhooks_due(ids)
    assert {p.id for p in due} == {done.id, failed.id}
    assert {p.id: p for p in due}[done.id] == done  # the whole prediction, answer included

    subject.repository.mark_webhooks_enqueued([done.id])
    assert [p.id for p in subject.repository.webhooks_due(ids)] == [failed.id]
    assert subject.get(done.id).updated_at == done.updated_at  # the prediction is unchanged
    assert subject.repository.webhooks_due([]) == []


def test_webhooks_overdue_are_the_old_ones_oldest_first(subject: Subject) -> None:
    """Ages stay below the live sweeper's grace (60 s), which would announce them itself."""
    oldest = _with_webhook(subject, Status.ERROR)
    subject.pass_time(5)
    old = _with_webhook(subject, Status.DONE)
    announced = _with_webhook(subject, Status.DONE)
    subject.repository.mark_webhooks_enqueued([announced.id])
    subject.pass_time(OLD - 10)
    young = _with_webhook(subject, Status.DONE)
    _with_webhook(subject, Status.PROCESSING)

    found = subject.repository.webhooks_overdue(OLD - 20, 10_000)
    assert subject.own(found) == [oldest.id, old.id]
    assert young.id not in subject.own(found)
    assert [p.updated_at for p in found] == sorted(p.updated_at for p in found)
    assert subject.repository.webhooks_overdue(OLD - 20, 1) == found[:1]


# --- a request's options (migration 0008) -------------------------------------------------

ASKED = PredictionOptions(0.8, ("cat", "dog"))


def test_options_are_stored_read_and_handed_to_the_worker(subject: Subject) -> None:
    every_class = PredictionOptions(0.25)
    ids = [uuid.uuid4() for _ in range(4)]
    subject.created.extend(ids)
    made = [
        subject.repository.add_pending(ids[0], image_key_for(ids[0]), options=ASKED),
        subject.repository.add_pending(ids[1], image_key_for(ids[1]), None, every_class),
        subject.repository.add_awaiting_upload(
            ids[2], image_key_for(ids[2]), datetime.now(UTC) + timedelta(minutes=15), None, ASKED
        ),
        subject.repository.add_pending(ids[3], image_key_for(ids[3])),  # made before options
    ]
    expected = [ASKED, every_class, ASKED, None]
    assert [p.options for p in made] == expected
    assert [subject.get(i).options for i in ids] == expected
    assert subject.repository.start_processing_many(ids) == dict(zip(ids, expected, strict=True))


def test_a_keys_holder_comes_back_with_its_options(subject: Subject) -> None:
    claim = KeyClaim(uuid.uuid4().bytes * 2, b"\x01" * 32)
    first, again = uuid.uuid4(), uuid.uuid4()
    subject.created.extend([first, again])
    made = subject.repository.add_pending_once(first, image_key_for(first), claim, options=ASKED)
    assert made.created and made.prediction.options == ASKED
    other = PredictionOptions(0.5)
    found = subject.repository.add_pending_once(again, image_key_for(again), claim, options=other)
    assert not found.created
    assert found.prediction.id == first and found.prediction.options == ASKED
