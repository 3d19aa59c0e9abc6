"""process_batch, and the SQS partial-batch contract around it (the predict entry point)."""

from __future__ import annotations

import io
import random
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from dogdetect.config import Settings
from dogdetect.domain.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.domain.jobs import MalformedJob, parse_job
from dogdetect.domain.models import Box, Detection, Job, Prediction, Status
from dogdetect.service.predict import (
    PredictDeps,
    QueuedJob,
    failure_reason,
    has_dog,
    process_batch,
    process_jobs,
)
from PIL import Image

from tests import corpus
from tests.fakes import FakeDetector, FakeRepository, FakeStorage, detection
from tests.unit.conftest import FakeLambdaContext, load_event, load_function

THRESHOLD = 0.5
MAX_ATTEMPTS = 3
WAIT_SECONDS = 5.0  # what a blocking fake waits before it gives up (a test never hangs)


class World:
    def __init__(
        self, detector: FakeDetector | None = None, storage: FakeStorage | None = None
    ) -> None:
        self.repository = FakeRepository()
        self.storage = storage or FakeStorage()
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
        attempt: int = 1,
    ) -> QueuedJob:
        p = self.repository.seed(status, prediction_id=prediction_id)
        self.storage.objects[p.image_key] = corpus.jpeg() if image is None else image
        return QueuedJob(f"message-{p.id}", Job(p.id, self.storage.bucket, p.image_key), attempt)

    def run(self, *jobs: QueuedJob) -> list[QueuedJob]:
        return process_batch(jobs, self.deps)

    def row(self, queued: QueuedJob) -> Prediction:
        found = self.repository.get(queued.job.prediction_id)
        assert found is not None
        return found


def again(queued: QueuedJob, attempt: int) -> QueuedJob:
    """The same message, redelivered."""
    return replace(queued, attempt=attempt)


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, fmt)
    return buffer.getvalue()


# --- one job: the rules of a prediction -----------------------------------------------------


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
    assert world.run(job) == []
    row = world.row(job)
    assert row.status is Status.DONE
    assert row.has_dog is expected
    assert list(row.detections) == detections  # every detection kept, dog or not
    assert row.error is None
    assert has_dog(detections, THRESHOLD) is expected


def test_detector_sees_the_decoded_upright_image() -> None:
    world = World()
    job = world.queued(corpus.exif_rotated_jpeg())
    world.run(job)
    (image,) = world.detector.seen
    w, h = corpus.EXIF_STORED_SIZE
    assert image.shape == (w, h, 3) and image.dtype == np.uint8


def test_boxes_are_stored_in_the_original_image_pixels() -> None:
    # A 2560x1920 JPEG reaches the model draft-decoded at 1/4 (640x480): the model's boxes are
    # in those pixels, the stored ones in the photo's.
    found = Detection("dog", 0.9, Box(10.0, 20.0, 30.5, 40.25))
    world = World(FakeDetector([found]))
    job = world.queued(image_bytes(2560, 1920, "JPEG"))
    world.run(job)
    (image,) = world.detector.seen
    assert image.shape == (480, 640, 3)
    assert world.row(job).detections == (Detection("dog", 0.9, Box(40.0, 80.0, 122.0, 161.0)),)


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
    assert world.run(job) == []  # the message is deleted, not retried
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
    assert world.run(job) == []
    assert world.row(job).status is Status.DONE
    (image,) = world.detector.seen
    w, h = corpus.EXIF_STORED_SIZE
    assert image.shape == (w, h, 3)  # upright: the orientation was applied


@pytest.mark.parametrize(
    "fault",
    [DependencyUnavailable("storage"), StoredImageMissing("gone"), RuntimeError("model")],
    ids=type,
)
def test_transient_failure_is_retried_and_row_stays_processing(fault: Exception) -> None:
    world = World()
    job = world.queued()
    if isinstance(fault, DependencyUnavailable):
        world.storage.break_("get")
    elif isinstance(fault, StoredImageMissing):
        world.storage.objects.clear()
    else:
        world.detector.fault = fault
    assert world.run(again(job, MAX_ATTEMPTS - 1)) == [again(job, MAX_ATTEMPTS - 1)]
    assert world.row(job).status is Status.PROCESSING
    assert not {"fail", "fail_many"} & set(world.repository.operations())

    # Redelivered after the fault is gone: processed normally.
    world.storage.repair()
    world.storage.objects[job.job.key] = corpus.jpeg()
    world.detector.fault = None
    assert world.run(again(job, MAX_ATTEMPTS)) == []
    assert world.row(job).status is Status.DONE


@pytest.mark.parametrize("attempt", [MAX_ATTEMPTS, MAX_ATTEMPTS + 2])
def test_last_attempt_marks_error_and_fails_the_job(attempt: int) -> None:
    world = World(FakeDetector(fault=RuntimeError("boom")))
    job = world.queued(attempt=attempt)
    assert world.run(job) == [job]  # still failed: the message lands in the dead-letter queue
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
    world.repository.break_("finish_many")


def _struct_error_in_detector(world: World) -> None:
    world.detector.fault = struct.error("unpack requires a buffer of 4 bytes")


def _silent_error_in_detector(world: World) -> None:
    world.detector.fault = RuntimeError()


def _multi_line_error_in_detector(world: World) -> None:
    world.detector.fault = ValueError("bad value\x00 here\n[SQL: UPDATE predictions ...]")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (_storage_down, "the image storage did not answer"),
        (_object_gone, "the stored image is missing"),
        (_database_down_at_finish, "the database did not answer"),
        (
            _struct_error_in_detector,
            "unexpected error struct.error: unpack requires a buffer of 4 bytes",
        ),
        (_silent_error_in_detector, "unexpected error RuntimeError"),
        (_multi_line_error_in_detector, "unexpected error ValueError: bad value? here"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_give_up_reason_says_what_failed_in_words(
    fault: Callable[[World], None], reason: str
) -> None:
    # It used to be the class name alone: "gave up after 3 attempts: error" (struct.error).
    world = World()
    job = world.queued(attempt=MAX_ATTEMPTS)
    fault(world)
    assert world.run(job) == [job]
    world.repository.repair()
    row = world.row(job)
    assert row.status is Status.ERROR
    assert row.error == f"gave up after {MAX_ATTEMPTS} attempts: {reason}"


def test_give_up_reason_is_short() -> None:
    assert len(failure_reason(RuntimeError("x" * 10_000))) < 250


def test_last_attempt_still_fails_the_job_when_marking_fails() -> None:
    world = World()
    job = world.queued(attempt=MAX_ATTEMPTS)
    world.storage.break_("get")
    world.repository.break_("fail_many")
    assert world.run(job) == [job]
    assert world.row(job).status is Status.PROCESSING  # the DLQ keeps the message


def test_database_down_at_start_fails_every_job() -> None:
    world = World()
    jobs = [world.queued(), world.queued(attempt=MAX_ATTEMPTS)]
    world.repository.break_("start_processing_many")
    assert world.run(*jobs) == jobs
    assert world.row(jobs[0]).status is Status.PENDING
    assert world.row(jobs[1]).error == f"gave up after {MAX_ATTEMPTS} attempts: " + (
        "the database did not answer"
    )
    assert world.storage.operations() == []


@pytest.mark.parametrize("status", [Status.DONE, Status.ERROR])
def test_redelivery_of_a_finished_row_changes_nothing(status: Status) -> None:
    world = World(FakeDetector([detection("cat", 0.9)]))
    job = world.queued(status=status)
    before = world.row(job)
    for attempt in (1, MAX_ATTEMPTS, MAX_ATTEMPTS + 1):
        assert world.run(again(job, attempt)) == []
    assert world.row(job) == before
    assert world.detector.seen == []
    assert world.storage.operations() == []


def test_redelivery_after_done_keeps_the_first_answer() -> None:
    world = World(FakeDetector([detection("dog", 0.9)]))
    job = world.queued()
    world.run(job)
    first = world.row(job)
    world.detector.canned = [detection("cat", 0.9)]
    assert world.run(again(job, 2)) == []
    assert world.row(job) == first and first.has_dog is True


def test_processing_row_is_taken_over_after_a_crash() -> None:
    world = World()
    job = world.queued(status=Status.PROCESSING, attempt=2)
    assert world.run(job) == []
    assert world.row(job).status is Status.DONE


def test_unknown_prediction_is_dropped() -> None:
    world = World()
    job = QueuedJob("m", Job(uuid.uuid4(), world.storage.bucket, "uploads/whatever"), 1)
    assert world.run(job) == []
    assert world.repository.rows == {}
    assert world.storage.operations() == []


def test_an_empty_batch_does_nothing() -> None:
    world = World()
    assert world.run() == []
    assert world.repository.operations() == [] and world.storage.operations() == []


# --- a batch of jobs ------------------------------------------------------------------------


class StorageWaitingForTheModel(FakeStorage):
    """Its first `get` answers only once the detector has run on some image, and raises after
    WAIT_SECONDS: a worker that fetches one image at a time, or runs the model only once every
    image is in, fails on it instead of hanging."""

    def __init__(self, detected: threading.Event) -> None:
        super().__init__()
        self.detected = detected
        self._lock = threading.Lock()
        self._first = True

    def get(self, key: str) -> bytes:
        with self._lock:
            first, self._first = self._first, False
        if first and not self.detected.wait(WAIT_SECONDS):
            raise TimeoutError("the model never ran while this image was being fetched")
        return super().get(key)


@pytest.mark.parametrize("concurrency", [2, 4])
def test_images_are_fetched_while_the_model_runs(concurrency: int) -> None:
    detected = threading.Event()
    detector = FakeDetector([detection()], on_detect=lambda _image: detected.set())
    world = World(detector, StorageWaitingForTheModel(detected))
    world.deps = replace(world.deps, fetch_concurrency=concurrency)
    jobs = [world.queued() for _ in range(3)]
    assert world.run(*jobs) == []
    assert [world.row(j).status for j in jobs] == [Status.DONE] * 3
    assert len(world.detector.seen) == 3  # one call per image, the model's batch of 1


class SlowStorage(FakeStorage):
    """Each get takes its key's delay; counts the images between fetch and detection."""

    def __init__(self, delays: dict[str, float]) -> None:
        super().__init__()
        self.delays = delays
        self._lock = threading.Lock()
        self.outstanding = 0
        self.most_outstanding = 0

    def get(self, key: str) -> bytes:
        with self._lock:
            self.outstanding += 1
            self.most_outstanding = max(self.most_outstanding, self.outstanding)
        time.sleep(self.delays.get(key, 0.0))
        return super().get(key)

    def detected(self, _image: np.ndarray) -> None:
        time.sleep(0.005)  # a model slower than the fetches: without a bound, they run ahead
        with self._lock:
            self.outstanding -= 1


def test_images_waiting_for_the_model_are_bounded() -> None:
    storage = SlowStorage({})
    world = World(FakeDetector([detection()], on_detect=storage.detected), storage)
    world.deps = replace(world.deps, fetch_concurrency=2)
    jobs = [world.queued() for _ in range(10)]
    assert world.run(*jobs) == []
    # Two loading, and the one the model holds: never the whole batch in memory.
    assert storage.most_outstanding <= 3


def _size_label(image: np.ndarray) -> list[Detection]:
    """A detection naming the image it was found in."""
    height, width, _ = image.shape
    return [Detection(f"{width}x{height}", 0.9, Box(0.0, 0.0, float(width), float(height)))]


@pytest.mark.parametrize("seed", range(4))
def test_each_answer_goes_to_its_own_prediction_whatever_the_order(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [(40 + 8 * i, 30 + 2 * i) for i in range(8)]
    storage = SlowStorage({})
    world = World(FakeDetector(answer=_size_label), storage)
    jobs = {size: world.queued(image_bytes(*size)) for size in sizes}
    bad = world.queued(corpus.html())
    missing = world.queued()
    del world.storage.objects[missing.job.key]
    batch = [*jobs.values(), bad, missing]
    rng.shuffle(batch)
    storage.delays = {q.job.key: rng.uniform(0, 0.02) for q in batch}  # completion reordered

    assert world.run(*batch) == [missing]
    for (width, height), job in jobs.items():
        (found,) = world.row(job).detections
        assert found.label == f"{width}x{height}"
    assert world.row(bad).status is Status.ERROR and world.row(missing).status is Status.PROCESSING


def test_a_failed_fetch_fails_its_job_alone() -> None:
    world = World()
    ok, gone, refused = world.queued(), world.queued(), world.queued(corpus.html())
    del world.storage.objects[gone.job.key]
    assert world.run(ok, gone, refused) == [gone]
    assert world.row(ok).status is Status.DONE
    assert world.row(gone).status is Status.PROCESSING
    assert world.row(refused).status is Status.ERROR


def test_a_detector_fault_fails_its_job_alone() -> None:
    calls = iter([None, RuntimeError("out of memory"), None])

    def sometimes_failing(_image: np.ndarray) -> None:
        fault = next(calls)
        if fault is not None:
            raise fault

    world = World(FakeDetector([detection()], on_detect=sometimes_failing))
    world.deps = replace(world.deps, fetch_concurrency=1)  # detection in the jobs' order
    jobs = [world.queued() for _ in range(3)]
    assert world.run(*jobs) == [jobs[1]]
    assert [world.row(j).status for j in jobs] == [Status.DONE, Status.PROCESSING, Status.DONE]


def test_last_attempts_are_marked_error_others_stay_processing() -> None:
    world = World()
    first, last, beyond = (world.queued(attempt=a) for a in (1, MAX_ATTEMPTS, MAX_ATTEMPTS + 1))
    world.storage.objects.clear()
    assert world.run(first, last, beyond) == [first, last, beyond]
    assert world.row(first).status is Status.PROCESSING
    for job in (last, beyond):
        row = world.row(job)
        assert row.status is Status.ERROR
        assert row.error == f"gave up after {MAX_ATTEMPTS} attempts: the stored image is missing"


def test_a_failed_batch_write_fails_every_job_it_held() -> None:
    world = World()
    first, last = world.queued(), world.queued(attempt=MAX_ATTEMPTS)
    refused = world.queued(corpus.html())
    world.repository.break_("finish_many")
    assert world.run(first, last, refused) == [first, last]
    assert world.row(first).status is Status.PROCESSING  # redelivered later
    assert world.row(last).error == f"gave up after {MAX_ATTEMPTS} attempts: " + (
        "the database did not answer"
    )
    assert world.row(refused).status is Status.ERROR  # a bad image is recorded all the same

    world.repository.repair()
    assert world.run(again(first, 2)) == []
    assert world.row(first).status is Status.DONE


def test_a_bad_image_not_recorded_is_tried_again() -> None:
    world = World()
    ok, refused = world.queued(), world.queued(corpus.html())
    world.repository.break_("fail_many")
    assert world.run(ok, refused) == [refused]
    assert world.row(ok).status is Status.DONE
    assert world.row(refused).status is Status.PROCESSING


def test_a_batch_counts_the_predictions_it_ended_by_status() -> None:
    """What the predict function publishes (PredictionsDone, PredictionsFailed): the rows that
    changed, not the messages (a redelivery of a finished one, a failure left for a retry)."""
    world = World()
    done, refused, gone = world.queued(), world.queued(corpus.html()), world.queued()
    last = world.queued(attempt=MAX_ATTEMPTS)
    finished = world.queued(status=Status.DONE)
    del world.storage.objects[gone.job.key], world.storage.objects[last.job.key]
    ended: Counter[Status] = Counter()
    assert process_jobs([done, refused, gone, last, finished], world.deps, ended) == [gone, last]
    assert ended == {Status.DONE: 1, Status.ERROR: 2}  # the bad image, the last attempt


def test_a_direct_upload_too_large_is_counted_as_it_ends() -> None:
    world = World()
    queued = world.queued()
    too_large = world.deps.max_direct_upload_bytes + 1
    oversized = replace(queued, job=replace(queued.job, size=too_large))
    ended: Counter[Status] = Counter()
    assert process_jobs([oversized], world.deps, ended) == []
    assert ended == {Status.ERROR: 1} and world.row(queued).status is Status.ERROR


def test_a_batch_costs_three_repository_calls() -> None:
    world = World()
    jobs = [world.queued() for _ in range(5)] + [world.queued(corpus.html())]
    world.run(*jobs)
    assert world.repository.operations() == ["start_processing_many", "finish_many", "fail_many"]


def test_a_prediction_queued_twice_is_processed_once_for_both_messages() -> None:
    world = World()
    job = world.queued()
    duplicate = replace(job, message_id="another message", attempt=2)
    assert world.run(job, duplicate) == []
    assert len(world.detector.seen) == 1 and world.row(job).status is Status.DONE

    gone = world.queued()
    del world.storage.objects[gone.job.key]
    both = [gone, replace(gone, message_id="again", attempt=MAX_ATTEMPTS)]
    assert world.run(*both) == both  # fails for both; the later receive count gives up
    assert world.row(gone).status is Status.ERROR


# --- the SQS batch contract: the real predict entry point, with the fakes injected -------


def run_batch(event: dict[str, Any], deps: PredictDeps) -> Any:
    return load_function("predict").lambda_handler(event, FakeLambdaContext(), lambda: deps)


def _batch_world() -> tuple[World, dict[str, Any], list[QueuedJob]]:
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
    del world.storage.objects[jobs[0].job.key]  # first record: transient failure, attempt 1
    result = run_batch(event, world.deps)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert world.row(jobs[0]).status is Status.PROCESSING  # will be retried
    assert world.row(jobs[1]).status is Status.DONE


def test_batch_last_attempt_failure_marks_error_and_is_reported() -> None:
    world, event, jobs = _batch_world()
    del world.storage.objects[jobs[1].job.key]  # second record is on its 3rd receive
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


def test_batch_in_which_every_job_failed_fails_the_invocation() -> None:
    # As Powertools' BatchProcessor did: the whole batch returns, and the invocation is an error.
    world, event, jobs = _batch_world()
    world.repository.break_("start_processing_many")
    with pytest.raises(BatchProcessingError):
        run_batch(event, world.deps)
    assert world.row(jobs[0]).status is Status.PENDING
