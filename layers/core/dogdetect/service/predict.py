"""Process a batch of queued jobs: decode each stored image, detect, record the answers.

A finished row is never touched again (redelivery is a no-op). Failures are of two kinds:
- permanent: the stored bytes are a bad image (`IMAGE_ERRORS`, the same refusal submit gives).
  The row ends ERROR on the first attempt, with the reason, and the message is consumed.
- anything else (a dependency that did not answer, a missing object, an unexpected error)
  fails the job, so its message returns to the queue and is tried again; on the last attempt
  the row is marked ERROR first, with what failed in words, so nothing stays PENDING forever.

A batch costs few database round trips: one statement starts every row, one transaction
stores every answer, one statement records every ERROR. Images are fetched and decoded on a
few threads while the model runs on the ones already decoded (one at a time: the model takes a
batch of 1). A job whose fetch or detection fails fails alone; when a batched write fails,
every job it held fails.

Direct uploads (`dogdetect.service.uploads`): S3's notification says how large the object is,
so one that cannot be a photo ends ERROR before anything is read (`process_jobs`).

Each prediction's options (`dogdetect.domain.options`, read as its row is started) decide
what it stores (`answer`): the detections at or above its confidence and of its classes, and
has_dog for a dog at or above its confidence.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from dogdetect.domain.errors import DependencyUnavailable, StoredImageMissing
from dogdetect.domain.limits import DEFAULT_DIRECT_UPLOAD_MAX_BYTES
from dogdetect.domain.models import (
    DOG_LABEL,
    Detection,
    FinishedPrediction,
    Job,
    Status,
    image_key_for,
    is_incoming,
    scaled,
)
from dogdetect.domain.options import PredictionOptions
from dogdetect.domain.ports import Detector, ImageStorage, NotificationQueue, WorkRecords
from dogdetect.image.decode import IMAGE_ERRORS, ModelInput, decode_for_model
from dogdetect.service.notify import announce

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedJob:
    """One queue message's job; `attempt` is its receive count."""

    message_id: str
    job: Job
    attempt: int


@dataclass(frozen=True)
class PredictDeps:
    repository: WorkRecords
    storage: ImageStorage
    detector: Detector
    dog_confidence: float
    max_image_pixels: int
    max_receive_count: int
    fetch_concurrency: int = 4  # images fetched or decoded, or waiting for the model, at once
    notifications: NotificationQueue | None = None  # announces the webhooks of what ends
    # A direct upload S3 says is larger ends ERROR unread (`process_jobs`).
    max_direct_upload_bytes: int = DEFAULT_DIRECT_UPLOAD_MAX_BYTES


def has_dog(detections: Sequence[Detection], threshold: float) -> bool:
    return any(d.label == DOG_LABEL and d.confidence >= threshold for d in detections)


def answer(
    pid: uuid.UUID,
    found: Sequence[Detection],
    options: PredictionOptions | None,
    dog_confidence: float,
) -> FinishedPrediction:
    """What a prediction stores: the detections its options keep, and whether a dog is there
    at or above its confidence, whatever its classes. A prediction made before requests had
    options (None) keeps every detection and looks for a dog at `dog_confidence`."""
    if options is None:
        return FinishedPrediction(pid, has_dog(found, dog_confidence), tuple(found))
    return FinishedPrediction(pid, has_dog(found, options.confidence), options.kept(found))


@dataclass
class _Outcome:
    """What became of the batch's started predictions."""

    finished: list[FinishedPrediction] = field(default_factory=list)  # answers to store
    refused: dict[uuid.UUID, str] = field(default_factory=dict)  # a bad image: its reason
    failed: dict[uuid.UUID, Exception] = field(default_factory=dict)  # back to the queue
    ended: Counter[Status] = field(default_factory=Counter)  # the rows that became DONE/ERROR


def size_refusal(job: Job, max_bytes: int) -> str | None:
    """Why the object S3 announced cannot be a photo (submit's words for the same), or None.
    A job without a size (one we queued) was checked by submit already."""
    if job.size is None:
        return None
    if job.size == 0:
        return "the upload is empty"
    if job.size > max_bytes:
        return f"the upload is larger than the limit of {max_bytes} bytes"
    return None


def process_jobs(
    jobs: Sequence[QueuedJob], deps: PredictDeps, ended: Counter[Status] | None = None
) -> list[QueuedJob]:
    """`process_batch`, after S3's word on the direct uploads' sizes; returns the jobs that
    failed (their messages go back to the queue). `ended` counts the predictions this call
    finished, by status (DONE, ERROR): the function's metrics."""
    refused: dict[uuid.UUID, str] = {}
    for queued in jobs:
        reason = size_refusal(queued.job, deps.max_direct_upload_bytes)
        if reason is not None:
            refused[queued.job.prediction_id] = reason
            logger.info(
                "direct upload refused: %s",
                reason,
                extra={"correlation_id": str(queued.job.prediction_id)},
            )
    failed: list[QueuedJob] = []
    if refused:
        try:  # a finished prediction stays as it is
            _count(ended, Status.ERROR, deps.repository.fail_many(refused))
        except Exception:
            logger.exception("could not mark %d refused uploads ERROR", len(refused))
            failed = [q for q in jobs if q.job.prediction_id in refused]  # tried again
    rest = [q for q in jobs if q.job.prediction_id not in refused]
    return failed + (process_batch(rest, deps, ended) if rest else [])


def _count(ended: Counter[Status] | None, status: Status, ids: set[uuid.UUID]) -> None:
    if ended is not None:
        ended[status] += len(ids)


def process_batch(
    jobs: Sequence[QueuedJob], deps: PredictDeps, ended: Counter[Status] | None = None
) -> list[QueuedJob]:
    """Process every job; returns those that failed (their messages go back to the queue)."""
    if not jobs:
        return []
    groups: dict[uuid.UUID, list[QueuedJob]] = {}
    for queued in jobs:  # a prediction queued twice is processed once, for both messages
        groups.setdefault(queued.job.prediction_id, []).append(queued)
    outcome = _Outcome()
    started = _start(groups, deps, outcome)
    jobs_started = [(group[0].job, started[pid]) for pid, group in groups.items() if pid in started]
    _predict(jobs_started, deps, outcome)
    _finish(outcome, deps)
    attempts = {pid: max(q.attempt for q in group) for pid, group in groups.items()}
    _record_errors(outcome, attempts, deps)
    _log_failures(outcome, attempts, deps)
    if ended is not None:
        ended.update(outcome.ended)
    if deps.notifications is not None:  # those now DONE or ERROR with a webhook (never raises)
        announce(list(groups), deps.repository, deps.notifications)
    return [queued for pid, group in groups.items() if pid in outcome.failed for queued in group]


def _start(
    groups: dict[uuid.UUID, list[QueuedJob]], deps: PredictDeps, outcome: _Outcome
) -> dict[uuid.UUID, PredictionOptions | None]:
    """The started predictions, each with its options."""
    try:
        started = deps.repository.start_processing_many(list(groups))
    except Exception as exc:
        outcome.failed.update(dict.fromkeys(groups, exc))
        return {}
    for pid in groups.keys() - started:
        _log(logging.INFO, pid, "prediction already finished or unknown; message dropped")
        for queued in groups[pid]:
            if is_incoming(queued.job.key):  # a late or repeated POST: changes nothing
                _remove_drop_box(queued.job, deps)
    return started


def _predict(
    jobs: list[tuple[Job, PredictionOptions | None]], deps: PredictDeps, outcome: _Outcome
) -> None:
    """Detect on each image as soon as it is decoded, while the next ones are fetched."""
    if not jobs:
        return
    waiting = iter(jobs)
    with ThreadPoolExecutor(deps.fetch_concurrency, thread_name_prefix="fetch") as pool:
        loading: dict[Future[ModelInput], tuple[Job, PredictionOptions | None]] = {}

        def load_next() -> None:
            job = next(waiting, None)
            if job is not None:
                loading[pool.submit(_load, job[0], deps)] = job

        for _ in range(deps.fetch_concurrency):
            load_next()
        while loading:
            ready, _ = wait(loading, return_when=FIRST_COMPLETED)
            for future in ready:
                job, options = loading.pop(future)
                load_next()  # bounded: fetch_concurrency images loading, one in the model
                _detect(job.prediction_id, options, future, deps, outcome)


def _load(job: Job, deps: PredictDeps) -> ModelInput:
    data = _accepted_photo(job, deps) if is_incoming(job.key) else deps.storage.get(job.key)
    return decode_for_model(data, deps.max_image_pixels, deps.detector.input_size)


def _accepted_photo(job: Job, deps: PredictDeps) -> bytes:
    """A direct upload's photo never changes once accepted: the first object to reach the
    prediction's own key (which no presigned POST can write) is its photo; the drop box
    (`incoming/<id>`) is emptied, and a later POST to it is removed unread (`_start`)."""
    accepted = image_key_for(job.prediction_id)
    try:
        data = deps.storage.get(job.key)
    except StoredImageMissing:  # emptied by an earlier job of the same prediction
        return deps.storage.get(accepted)
    if not deps.storage.put_new(accepted, data):
        data = deps.storage.get(accepted)  # one came first: it stays the photo
    _remove_drop_box(job, deps)
    return data


def _remove_drop_box(job: Job, deps: PredictDeps) -> None:
    try:
        deps.storage.delete(job.key)
    except Exception:  # the bucket's lifecycle rule expires it (UploadRetentionDays)
        _log(logging.WARNING, job.prediction_id, "direct upload's drop box left to expire")


def _detect(
    pid: uuid.UUID,
    options: PredictionOptions | None,
    loaded: Future[ModelInput],
    deps: PredictDeps,
    outcome: _Outcome,
) -> None:
    try:
        image = loaded.result()
    except IMAGE_ERRORS as exc:
        _log(logging.INFO, pid, "stored image refused: %s", exc.detail)
        outcome.refused[pid] = f"the image could not be decoded: {exc.detail}"
        return
    except Exception as exc:
        outcome.failed[pid] = exc
        return
    try:
        found = deps.detector.detect([image.pixels])[0]
    except Exception as exc:
        outcome.failed[pid] = exc
        return
    detections = scaled(found, image.scale_x, image.scale_y)
    outcome.finished.append(answer(pid, detections, options, deps.dog_confidence))


def _finish(outcome: _Outcome, deps: PredictDeps) -> None:
    if not outcome.finished:
        return
    try:
        done = deps.repository.finish_many(outcome.finished)
    except Exception as exc:  # one transaction: none of the answers was stored
        outcome.failed.update({r.prediction_id: exc for r in outcome.finished})
        return
    outcome.ended[Status.DONE] += len(done)
    for answer in outcome.finished:
        if answer.prediction_id in done:
            _log(logging.INFO, answer.prediction_id, "prediction done: has_dog=%s", answer.has_dog)
        else:
            _log(
                logging.INFO, answer.prediction_id, "prediction finished meanwhile; answer dropped"
            )


def _record_errors(outcome: _Outcome, attempts: dict[uuid.UUID, int], deps: PredictDeps) -> None:
    """Bad images, and the failures of a last attempt, become ERROR in one statement."""
    given_up = {
        pid: f"gave up after {deps.max_receive_count} attempts: {failure_reason(exc)}"
        for pid, exc in outcome.failed.items()
        if attempts[pid] >= deps.max_receive_count
    }
    reasons = {**outcome.refused, **given_up}
    if reasons:
        try:
            outcome.ended[Status.ERROR] += len(deps.repository.fail_many(reasons))
        except Exception as fault:
            # A bad image not yet recorded is tried again; a job that gave up stays in the
            # dead-letter queue, whose consumer marks it ERROR.
            outcome.failed.update(dict.fromkeys(outcome.refused, fault))
            logger.exception("could not mark %d predictions ERROR", len(reasons))


def _log_failures(outcome: _Outcome, attempts: dict[uuid.UUID, int], deps: PredictDeps) -> None:
    for pid, exc in outcome.failed.items():
        _log(
            logging.WARNING,
            pid,
            "prediction failed on attempt %d of %d: %s",
            attempts[pid],
            deps.max_receive_count,
            failure_reason(exc),
            exc=exc,
        )


def _log(
    level: int, pid: uuid.UUID, message: str, *args: object, exc: Exception | None = None
) -> None:
    """A line about one prediction, its id as the line's correlation id (a batch has many)."""
    logger.log(level, message, *args, exc_info=exc, extra={"correlation_id": str(pid)})


def failure_reason(exc: Exception) -> str:
    """What failed, in words a person reads in the prediction's `error`."""
    if isinstance(exc, DependencyUnavailable):
        return f"the {_DEPENDENCY_NAMES.get(exc.dependency, exc.dependency)} did not answer"
    if isinstance(exc, StoredImageMissing):
        return "the stored image is missing"
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    # The first line only (a database error's next lines quote the SQL), printable, short.
    lines = str(exc).strip().splitlines()
    message = "".join(c if c.isprintable() else "?" for c in lines[0])[:200] if lines else ""
    return f"unexpected error {name}: {message}" if message else f"unexpected error {name}"


_DEPENDENCY_NAMES = {"database": "database", "storage": "image storage", "queue": "job queue"}
