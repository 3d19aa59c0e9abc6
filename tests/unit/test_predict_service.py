"""process_job, and the SQS partial-batch contract around it (Powertools BatchProcessor)."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from dogdetect.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.jobs import MalformedJob, parse_job
from dogdetect.models import Job, Prediction, Status
from dogdetect.service.predict import PredictDeps, failure_reason, has_dog, process_job
from dogdetect.settings import Settings

from tests import corpus
from tests.fakes import FakeDetector, FakeRepository, FakeStorage, detection
from tests.unit.conftest import FakeLambdaContext, load_event, load_function

THRESHOLD = 0.5
MAX_ATTEMPTS = 3


class World:
    def __init__(self, detector: FakeDetector | None = None) -> None:
        self.repository = FakeRepository()
        self.storage = FakeStorage()
        self.detector = detector or FakeDetector([detection("dog", 0.9)])
        self.deps = PredictDeps(
            repository=self.repository,
            storage=self.storage,
            detector=self.detector,
            dog_confidence=THRESHOLD,
            max_image_pixels=Settings().max_image_pixels,
            max_receive_count=MAX_ATTEMPTS,
        )

    def queued(
        self,
        image: bytes | None = None,
        status: Status = Status.PENDING,
        prediction_id: uuid.UUID | None = None,
    ) -> Job:
        p = self.repository.seed(status, prediction_id=prediction_id)
        self.storage.objects[p.image_key] = corpus.jpeg() if image is None else image
        return Job(p.id, self.storage.bucket, p.image_key)

    def row(self, job: Job) -> Prediction:
        found = self.repository.get(job.prediction_id)
        assert found is not None
        return found


@pytest.mark.parametrize(
    ("detections", "expected"),
    [
        ([detection("dog", 0.9)], True),
        ([detection("dog", THRESHOLD)], True),  # at the threshold counts
        ([detection("dog", THRESHOLD - 0.01)], False),
        ([detection("cat", 0.99), detection("person", 0.8)], False),
        ([detection("cat", 0.99), detection("dog", 0.6)], True),
        ([], False),
    ],
)
def test_dog_against_the_threshold(detections: list[Any], expected: bool) -> None:
    world = World(FakeDetector(detections))
    job = world.queued()
    process_job(job, 1, world.deps)
    row = world.row(job)
    assert row.status is Status.DONE
    assert row.has_dog is expected
    assert list(row.detections) == detections  # every detection kept, dog or not
    assert row.error is None
    assert has_dog(detections, THRESHOLD) is expected


def test_detector_sees_the_decoded_upright_image() -> None:
    world = World()
    job = world.queued(corpus.exif_rotated_jpeg())
    process_job(job, 1, world.deps)
    (image,) = world.detector.seen
    w, h = corpus.EXIF_STORED_SIZE
    assert image.shape == (w, h, 3) and image.dtype == np.uint8


@pytest.mark.parametrize(
    "bad",
    [
        "truncated_jpeg",
        "html",
        "png_bomb",
        "png_over_pixel_limit",
        "random_bytes",
        # issue 9: a TypeError inside Pillow's load was retried until "gave up ...: TypeError"
        "tiff_strip_offsets_text",
        "jpeg_scan_flood",
        "gif_block_flood",
    ],
)
def test_undecodable_image_ends_error_on_the_first_attempt(bad: str) -> None:
    world = World()
    job = world.queued(corpus.CASES_BY_NAME[bad].data())
    process_job(job, 1, world.deps)  # returns: the message is deleted, not retried
    row = world.row(job)
    assert row.status is Status.ERROR
    assert row.error is not None and row.error.startswith("the image could not be decoded: ")
    assert len(row.error) > len("the image could not be decoded: ") + 10  # says why
    assert world.detector.seen == []


@pytest.mark.parametrize(
    "quirky", ["jpeg_exif_text_resolution_unit", "webp_exif_text_resolution_unit"]
)
def test_odd_exif_is_no_reason_to_fail(quirky: str) -> None:
    # Pillow's exif_transpose raised struct.error on a ResolutionUnit stored as text: the job
    # was retried for 13 minutes, then ended "gave up after 3 attempts: error".
    world = World()
    job = world.queued(corpus.CASES_BY_NAME[quirky].data())
    process_job(job, 1, world.deps)
    assert world.row(job).status is Status.DONE
    (image,) = world.detector.seen
    w, h = corpus.EXIF_STORED_SIZE
    assert image.shape == (w, h, 3)  # upright: the orientation was applied


@pytest.mark.parametrize(
    "fault",
    [DependencyUnavailable("storage"), StoredImageMissing("gone"), RuntimeError("model")],
    ids=type,
)
def test_transient_failure_is_reraised_and_row_stays_processing(fault: Exception) -> None:
    world = World()
    job = world.queued()
    if isinstance(fault, DependencyUnavailable):
        world.storage.break_("get")
    elif isinstance(fault, StoredImageMissing):
        world.storage.objects.clear()
    else:
        world.detector.fault = fault
    with pytest.raises(type(fault)):
        process_job(job, MAX_ATTEMPTS - 1, world.deps)
    assert world.row(job).status is Status.PROCESSING
    assert "fail" not in world.repository.operations()

    # Redelivered after the fault is gone: processed normally.
    world.storage.repair()
    world.storage.objects[job.key] = corpus.jpeg()
    world.detector.fault = None
    process_job(job, MAX_ATTEMPTS, world.deps)
    assert world.row(job).status is Status.DONE


@pytest.mark.parametrize("attempt", [MAX_ATTEMPTS, MAX_ATTEMPTS + 2])
def test_last_attempt_marks_error_and_reraises(attempt: int) -> None:
    world = World(FakeDetector(fault=RuntimeError("boom")))
    job = world.queued()
    with pytest.raises(RuntimeError, match="boom"):
        process_job(job, attempt, world.deps)
    row = world.row(job)
    assert row.status is Status.ERROR
    assert (
        row.error == f"gave up after {MAX_ATTEMPTS} attempts: unexpected error RuntimeError: boom"
    )


def _storage_down(world: World) -> None:
    world.storage.break_("get")


def _object_gone(world: World) -> None:
    world.storage.objects.clear()


def _database_down_at_finish(world: World) -> None:
    world.repository.break_("finish")


def _struct_error_in_detector(world: World) -> None:
    world.detector.fault = struct.error("unpack requires a buffer of 4 bytes")


def _silent_error_in_detector(world: World) -> None:
    world.detector.fault = RuntimeError()


def _multi_line_error_in_detector(world: World) -> None:
    world.detector.fault = ValueError("bad value\x00 here\n[SQL: UPDATE predictions ...]")


@pytest.mark.parametrize(
    ("fault", "raised", "reason"),
    [
        (_storage_down, DependencyUnavailable, "the image storage did not answer"),
        (_object_gone, StoredImageMissing, "the stored image is missing"),
        (_database_down_at_finish, DependencyUnavailable, "the database did not answer"),
        (
            _struct_error_in_detector,
            struct.error,
            "unexpected error struct.error: unpack requires a buffer of 4 bytes",
        ),
        (_silent_error_in_detector, RuntimeError, "unexpected error RuntimeError"),
        (_multi_line_error_in_detector, ValueError, "unexpected error ValueError: bad value? here"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_give_up_reason_says_what_failed_in_words(
    fault: Callable[[World], None], raised: type[Exception], reason: str
) -> None:
    # It used to be the class name alone: "gave up after 3 attempts: error" (struct.error).
    world = World()
    job = world.queued()
    fault(world)
    with pytest.raises(raised):
        process_job(job, MAX_ATTEMPTS, world.deps)
    world.repository.repair()
    row = world.row(job)
    assert row.status is Status.ERROR
    assert row.error == f"gave up after {MAX_ATTEMPTS} attempts: {reason}"


def test_give_up_reason_is_short() -> None:
    assert len(failure_reason(RuntimeError("x" * 10_000))) < 250


def test_last_attempt_reraises_the_original_fault_when_marking_fails() -> None:
    world = World()
    job = world.queued()
    world.storage.break_("get")
    world.repository.break_("fail")
    with pytest.raises(DependencyUnavailable) as caught:
        process_job(job, MAX_ATTEMPTS, world.deps)
    assert caught.value.dependency == "storage"
    assert world.row(job).status is Status.PROCESSING  # the DLQ keeps the message


def test_database_down_at_start_is_retried() -> None:
    world = World()
    job = world.queued()
    world.repository.break_("start_processing")
    with pytest.raises(DependencyUnavailable):
        process_job(job, 1, world.deps)
    assert world.row(job).status is Status.PENDING
    assert world.storage.operations() == []


@pytest.mark.parametrize("status", [Status.DONE, Status.ERROR])
def test_redelivery_of_a_finished_row_changes_nothing(status: Status) -> None:
    world = World(FakeDetector([detection("cat", 0.9)]))
    job = world.queued(status=status)
    before = world.row(job)
    for attempt in (1, MAX_ATTEMPTS, MAX_ATTEMPTS + 1):
        process_job(job, attempt, world.deps)
    assert world.row(job) == before
    assert world.detector.seen == []
    assert world.storage.operations() == []


def test_redelivery_after_done_keeps_the_first_answer() -> None:
    world = World(FakeDetector([detection("dog", 0.9)]))
    job = world.queued()
    process_job(job, 1, world.deps)
    first = world.row(job)
    world.detector.canned = [detection("cat", 0.9)]
    process_job(job, 2, world.deps)
    assert world.row(job) == first and first.has_dog is True


def test_processing_row_is_taken_over_after_a_crash() -> None:
    world = World()
    job = world.queued(status=Status.PROCESSING)
    process_job(job, 2, world.deps)
    assert world.row(job).status is Status.DONE


def test_unknown_prediction_is_dropped() -> None:
    world = World()
    job = Job(uuid.uuid4(), world.storage.bucket, "uploads/whatever")
    process_job(job, 1, world.deps)
    assert world.repository.rows == {}
    assert world.storage.operations() == []


# --- the SQS batch contract: the real predict entry point, with the fakes injected -------


def run_batch(event: dict[str, Any], deps: PredictDeps) -> Any:
    return load_function("predict").lambda_handler(event, FakeLambdaContext(), lambda: deps)


def _batch_world() -> tuple[World, dict[str, Any], list[Job]]:
    event = load_event("predict_sqs_batch")
    world = World()
    jobs = []
    for record in event["Records"]:
        job = parse_job(record["body"])
        assert job.bucket == world.storage.bucket
        jobs.append(world.queued(prediction_id=job.prediction_id))
    return world, event, jobs


def test_stored_sqs_event_is_well_formed() -> None:
    event = load_event("predict_sqs_batch")
    assert len(event["Records"]) == 2
    counts = [SQSRecord(r).attributes.approximate_receive_count for r in event["Records"]]
    assert counts == ["1", "3"]


def test_batch_all_good_reports_no_failures() -> None:
    world, event, jobs = _batch_world()
    assert run_batch(event, world.deps) == {"batchItemFailures": []}
    assert [world.row(j).status for j in jobs] == [Status.DONE, Status.DONE]


def test_batch_reports_only_the_failed_message() -> None:
    world, event, jobs = _batch_world()
    del world.storage.objects[jobs[0].key]  # first record: transient failure, attempt 1
    result = run_batch(event, world.deps)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert world.row(jobs[0]).status is Status.PROCESSING  # will be retried
    assert world.row(jobs[1]).status is Status.DONE


def test_batch_last_attempt_failure_marks_error_and_is_reported() -> None:
    world, event, jobs = _batch_world()
    del world.storage.objects[jobs[1].key]  # second record is on its 3rd receive
    result = run_batch(event, world.deps)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert world.row(jobs[1]).status is Status.ERROR
    assert world.row(jobs[0]).status is Status.DONE


def test_batch_malformed_message_fails_alone() -> None:
    world, event, jobs = _batch_world()
    event["Records"][0]["body"] = '{"image_prediction_id": "not-a-uuid"}'
    result = run_batch(event, world.deps)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert world.row(jobs[1]).status is Status.DONE
    with pytest.raises(MalformedJob):
        parse_job(event["Records"][0]["body"])
