"""Prefer: wait=N on GET /image_prediction/{id}: the header's reading (RFC 7240), the waiting
service on a fake clock, and the status app's answers and headers."""

from __future__ import annotations

import uuid

import pytest
from dogdetect.api.prefer import MAX_WAIT_SECONDS, requested_wait
from dogdetect.domain.errors import PredictionNotFound
from dogdetect.domain.models import FinishedPrediction, Status
from dogdetect.service.polling import MAX_DELAY_SECONDS
from dogdetect.service.read import wait_for_prediction

from tests.fakes import FakeRepository, detection
from tests.unit.conftest import Wired

# --- the header ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("wait=5", 5),
        ("wait=1", 1),
        ("wait=20", 20),
        ("wait=21", 20),  # clamped
        ("wait=3600", 20),
        ("wait=" + "9" * 5000, 20),  # clamped without making a 5000-digit int
        ("wait=007", 7),
        ('wait="9"', 9),  # a word may be a quoted string
        ("WAIT=4", 4),  # preference names are case-insensitive
        ("wait = 6", 6),  # BWS around "="
        ("respond-async, wait=10", 10),
        ("wait=3; foo=bar", 3),  # parameters are ignored
        ('handling=lenient, foo="a, b", wait=2', 2),  # a comma inside quotes splits nothing
        ("wait=4, wait=9", 4),  # only the first instance counts (RFC 7240, section 2)
        ("x y z, wait=8", 8),  # a malformed element alone is skipped
    ],
)
def test_a_wait_preference_is_read(header: str, seconds: int) -> None:
    assert requested_wait(header) == seconds


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "wait",
        "wait=",
        "wait=0",  # nothing to wait for
        "wait=-1",
        "wait=1.5",
        "wait=abc",
        "wait=abc, wait=5",  # the first instance decides, and it is unusable
        "handling=strict; wait=5",  # a parameter of another preference, not the preference
        "respond-async",
        '"wait=5"',
        "wait=5 5",
        ";;;,,,===",
        "w\u00e4it=5",
    ],
)
def test_anything_else_asks_for_no_wait(header: str | None) -> None:
    assert requested_wait(header) is None


# --- the service ----------------------------------------------------------------------------


class FakeTime:
    """A clock that moves only when the code under test sleeps; `on_sleep` runs each time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.on_sleep = lambda: None

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep()


def test_a_finished_prediction_is_answered_without_sleeping() -> None:
    repo, time = FakeRepository(), FakeTime()
    p = repo.seed(Status.DONE, has_dog=True, detections=[detection()])
    assert wait_for_prediction(str(p.id), repo, 20, time.sleep, time.clock).status is Status.DONE
    assert time.sleeps == []


def test_the_answer_comes_as_soon_as_the_prediction_is_done() -> None:
    repo, time = FakeRepository(), FakeTime()
    p = repo.seed(Status.PROCESSING)

    def finish_after_a_second() -> None:
        if time.now >= 1.0:
            repo.finish_many([FinishedPrediction(p.id, True, (detection(),))])

    time.on_sleep = finish_after_a_second
    done = wait_for_prediction(str(p.id), repo, 20, time.sleep, time.clock)
    assert done.status is Status.DONE and done.has_dog is True
    assert 1.0 <= time.now < 1.0 + MAX_DELAY_SECONDS + 1e-9  # not the whole 20 s


def test_polls_back_off_from_a_tenth_to_half_a_second() -> None:
    repo, time = FakeRepository(), FakeTime()
    p = repo.seed(Status.PENDING)
    assert wait_for_prediction(str(p.id), repo, 3, time.sleep, time.clock).status is Status.PENDING
    assert time.sleeps[:4] == [0.1, 0.2, 0.4, 0.5]
    assert all(s <= MAX_DELAY_SECONDS for s in time.sleeps)
    assert time.now == pytest.approx(3.0)  # the last sleep is cut to the deadline


def test_no_wait_asked_is_one_look() -> None:
    repo, time = FakeRepository(), FakeTime()
    p = repo.seed(Status.PENDING)
    assert wait_for_prediction(str(p.id), repo, 0, time.sleep, time.clock).status is Status.PENDING
    assert time.sleeps == [] and repo.operations() == ["get"]


def test_an_error_ends_the_wait_too() -> None:
    repo, time = FakeRepository(), FakeTime()
    p = repo.seed(Status.PROCESSING)
    time.on_sleep = lambda: repo.fail(p.id, "the image could not be decoded: x")
    found = wait_for_prediction(str(p.id), repo, 20, time.sleep, time.clock)
    assert found.status is Status.ERROR and time.sleeps == [0.1]


@pytest.mark.parametrize("raw_id", [str(uuid.uuid4()), "not-an-id"])
def test_an_unknown_id_is_404_at_once(raw_id: str) -> None:
    repo, time = FakeRepository(), FakeTime()
    with pytest.raises(PredictionNotFound):
        wait_for_prediction(raw_id, repo, 20, time.sleep, time.clock)
    assert time.sleeps == []


def test_a_prediction_deleted_while_waited_for_is_404() -> None:
    repo, time = FakeRepository(), FakeTime()
    p = repo.seed(Status.PENDING)
    time.on_sleep = lambda: repo.remove(p.id)
    with pytest.raises(PredictionNotFound):
        wait_for_prediction(str(p.id), repo, 20, time.sleep, time.clock)
    assert time.sleeps == [0.1]


# --- over the status app ------------------------------------------------------------------


def test_wait_is_applied_and_said(status_api: Wired) -> None:
    p = status_api.repository.seed(Status.DONE, has_dog=False)
    response = status_api.client.get(f"/image_prediction/{p.id}", headers={"Prefer": "wait=5"})
    assert response.status_code == 200
    assert response.headers["preference-applied"] == "wait=5"
    assert response.headers["vary"] == "Prefer"
    assert response.json()["status"] == "DONE"


def test_a_wait_over_the_limit_is_clamped(status_api: Wired) -> None:
    p = status_api.repository.seed(Status.DONE, has_dog=False)
    response = status_api.client.get(f"/image_prediction/{p.id}", headers={"Prefer": "wait=600"})
    assert response.headers["preference-applied"] == f"wait={MAX_WAIT_SECONDS}"


@pytest.mark.parametrize("prefer", [None, "wait=soon", "respond-async", "wait=0"])
def test_no_usable_wait_is_no_wait_and_no_error(status_api: Wired, prefer: str | None) -> None:
    p = status_api.repository.seed(Status.PENDING)
    headers = {"Prefer": prefer} if prefer is not None else {}
    response = status_api.client.get(f"/image_prediction/{p.id}", headers=headers)
    assert response.status_code == 200
    assert response.json()["status"] == "PENDING"
    assert "preference-applied" not in response.headers
    assert status_api.repository.operations() == ["get"]  # one look, no waiting


def test_an_unknown_id_with_a_wait_is_404_without_the_header(status_api: Wired) -> None:
    response = status_api.client.get(
        f"/image_prediction/{uuid.uuid4()}", headers={"Prefer": "wait=20"}
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "no prediction with this id"}
    assert "preference-applied" not in response.headers
