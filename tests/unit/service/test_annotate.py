"""An annotated photo is drawn at most once, then read from where it is kept
(`dogdetect.service.annotate`): a request for one another request is drawing waits for that
drawing; with every drawing slot taken, DrawingsBusy (503). On fakes; over HTTP on the local
stack: tests/e2e/test_annotated_once.py."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable

import pytest
from dogdetect.domain.errors import AnnotationUnavailable, DrawingsBusy
from dogdetect.domain.models import Status, annotated_key_for
from dogdetect.service.annotate import DRAW_HOLD_SECONDS, Drawing, annotated_photo
from dogdetect.service.delete import delete_prediction
from PIL import Image

from tests.fakes import FakeRepository, FakeSlots, FakeStorage
from tests.unit.service.test_read_annotated import MAX_PIXELS, found, grey_jpeg

KEPT = b"the drawing kept earlier"


class Stack:
    """One DONE prediction with a photo, its repository, bucket and drawing slots."""

    def __init__(self, total: int = 2) -> None:
        self.repository, self.storage, self.slots = FakeRepository(), FakeStorage(), FakeSlots()
        prediction = self.repository.seed(Status.DONE, detections=[found("dog", (5, 5, 40, 30))])
        self.id, self.photo_key = prediction.id, prediction.image_key
        self.storage.objects[self.photo_key] = grey_jpeg(64, 48)
        self.total = total
        self.now = 0.0
        self.on_sleep: Callable[[], None] = lambda: None

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.on_sleep()

    def drawing(self) -> Drawing:
        return Drawing(
            self.repository,
            self.storage,
            self.slots,
            self.total,
            MAX_PIXELS,
            sleep=self.sleep,
            clock=lambda: self.now,
        )

    def annotated(self) -> bytes:
        return annotated_photo(str(self.id), self.drawing())

    def photo_reads(self) -> int:
        return self.storage.calls.count(("get", self.photo_key))


def is_jpeg(data: bytes) -> bool:
    return Image.open(io.BytesIO(data)).format == "JPEG"


def test_the_first_request_draws_and_keeps_the_photo_the_next_ones_read_it() -> None:
    stack = Stack()
    first = stack.annotated()
    assert is_jpeg(first)
    assert stack.storage.objects[annotated_key_for(stack.id)] == first
    stack.storage.objects[annotated_key_for(stack.id)] = KEPT  # what is kept is what is served
    assert stack.annotated() == KEPT
    assert stack.photo_reads() == 1  # drawn once
    assert stack.slots.held == {} and len(stack.slots.released) == 1


def test_a_drawing_goes_with_its_photo() -> None:
    stack = Stack()
    stack.annotated()
    del stack.storage.objects[stack.photo_key]  # expired by the lifecycle rule
    with pytest.raises(AnnotationUnavailable, match="no longer stored"):
        stack.annotated()
    assert stack.storage.objects == {}


def test_a_request_while_another_draws_the_same_photo_gets_that_drawing() -> None:
    stack = Stack()
    other = stack.slots.hold(str(stack.id), DRAW_HOLD_SECONDS, 1, stack.total)  # drawing now
    assert other.id is not None

    def the_other_finishes() -> None:
        if stack.now >= 0.7:
            stack.storage.objects[annotated_key_for(stack.id)] = KEPT

    stack.on_sleep = the_other_finishes
    assert stack.annotated() == KEPT
    assert stack.photo_reads() == 0  # not drawn a second time
    assert 0.7 <= stack.now < 2  # looked again soon after it was kept


def test_a_drawing_that_does_not_come_in_time_is_503_to_the_one_waiting() -> None:
    stack = Stack()
    stack.slots.hold(str(stack.id), DRAW_HOLD_SECONDS, 1, stack.total)
    with pytest.raises(DrawingsBusy, match="still being drawn"):
        stack.annotated()
    assert stack.now == pytest.approx(stack.drawing().share_seconds)
    assert stack.photo_reads() == 0


def test_with_every_drawing_slot_taken_the_answer_is_503_at_once() -> None:
    stack = Stack(total=2)
    for _ in range(2):
        stack.slots.hold(str(uuid.uuid4()), DRAW_HOLD_SECONDS, 1, stack.total)
    with pytest.raises(DrawingsBusy, match="every drawing slot is taken"):
        stack.annotated()
    assert stack.now == 0 and stack.photo_reads() == 0


def test_the_slot_is_released_when_the_photo_is_gone() -> None:
    stack = Stack()
    del stack.storage.objects[stack.photo_key]
    with pytest.raises(AnnotationUnavailable, match="no longer stored"):
        stack.annotated()
    assert stack.slots.held == {}


def test_a_drawing_that_cannot_be_kept_is_still_answered() -> None:
    stack = Stack()
    stack.storage.break_("put_new")
    assert is_jpeg(stack.annotated())
    assert annotated_key_for(stack.id) not in stack.storage.objects
    assert stack.slots.held == {}


def test_a_prediction_deleted_while_drawn_leaves_no_drawing_behind() -> None:
    stack = Stack()

    class DeletedMeanwhile(FakeStorage):
        def put_new(self, key: str, data: bytes) -> bool:
            stack.repository.remove(stack.id)  # DELETE ran between the drawing and its keeping
            return super().put_new(key, data)

    deleting = DeletedMeanwhile()
    deleting.objects = stack.storage.objects
    stack.storage = deleting
    assert is_jpeg(stack.annotated())
    assert annotated_key_for(stack.id) not in stack.storage.objects


def test_delete_removes_the_drawing() -> None:
    stack = Stack()
    stack.annotated()
    delete_prediction(str(stack.id), stack.repository, stack.storage)
    assert stack.storage.objects == {}
