"""Each use case's dependencies, built from a container's adapters and settings: the one
place where the service meets the outside world. Every entrypoint asks here, the same way
(`current(submit_deps)`: on this container's adapters); tests build them on fakes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from dogdetect.adapters.secrets import webhook_secret
from dogdetect.adapters.webhook_sender import WebhookClient
from dogdetect.domain.ports import PredictionLister, PredictionReader
from dogdetect.domain.webhooks.signing import secret_key
from dogdetect.runtime.composition import Adapters, adapters
from dogdetect.service.deadletter import DeadLetterDeps
from dogdetect.service.notify import NotifyDeps
from dogdetect.service.predict import PredictDeps
from dogdetect.service.read import Waiting, WaitLimits
from dogdetect.service.submit import SubmitDeps
from dogdetect.service.sweep import SweepDeps
from dogdetect.service.uploads import UploadDeps

if TYPE_CHECKING:  # drawing (Pillow's drawing, fonts) is status's alone: not in every init
    from dogdetect.service.annotate import Drawing

T = TypeVar("T")


def current(build: Callable[[Adapters], T]) -> Callable[[], T]:
    """`build` on this container's adapters (`composition.adapters()`): a handler's or a
    route's provider, asked when it needs them, never at import."""

    def provide() -> T:
        return build(adapters())

    provide.__name__ = build.__name__
    return provide


def once(build: Callable[[Adapters], T]) -> Callable[[], T]:
    """`current(build)`, built on its first call and kept for the container's life: for
    what costs seconds (predict's model) or reads a secret (notify's signing key)."""
    return functools.cache(current(build))


def prediction_reader(a: Adapters) -> PredictionReader:
    return a.repository


def prediction_lister(a: Adapters) -> PredictionLister:
    return a.repository


def waiting(a: Adapters) -> Waiting:
    limits = WaitLimits(a.settings.waits_per_client, a.settings.waits_total)
    return Waiting(a.waits, limits)


def drawing(a: Adapters) -> Drawing:
    from dogdetect.service.annotate import Drawing

    settings = a.settings
    return Drawing(
        a.repository, a.storage, a.drawings, settings.drawings_total, settings.max_image_pixels
    )


def submit_deps(a: Adapters) -> SubmitDeps:
    return SubmitDeps(
        repository=a.repository,
        storage=a.storage,
        queue=a.queue,
        max_upload_bytes=a.settings.max_upload_bytes,
        max_image_pixels=a.settings.max_image_pixels,
        background=a.background,
        allow_http_webhooks=a.settings.allow_http_webhooks,
        confidence_floor=a.settings.dog_confidence,
        direct_upload_max_bytes=a.settings.direct_upload_max_bytes,
    )


def upload_deps(a: Adapters) -> UploadDeps:
    return UploadDeps(
        repository=a.repository,
        presigner=a.presigner,
        max_bytes=a.settings.direct_upload_max_bytes,
        expires_seconds=a.settings.direct_upload_expires_seconds,
        allow_http_webhooks=a.settings.allow_http_webhooks,
        confidence_floor=a.settings.dog_confidence,
    )


def predict_deps(a: Adapters) -> PredictDeps:
    """Loads the model: seconds. Predict builds this once per container, in its init."""
    # Imported here: the engines' modules (numpy, OpenCV) are predict's alone.
    from dogdetect.adapters.detector.loading import load_detector

    return PredictDeps(
        repository=a.repository,
        storage=a.storage,
        detector=load_detector(a.settings),
        dog_confidence=a.settings.dog_confidence,
        max_image_pixels=a.settings.max_image_pixels,
        max_receive_count=a.settings.max_receive_count,
        notifications=a.notifications,
        max_direct_upload_bytes=a.settings.direct_upload_max_bytes,
    )


def deadletter_deps(a: Adapters) -> DeadLetterDeps:
    return DeadLetterDeps(
        repository=a.repository,
        max_receive_count=a.settings.max_receive_count,
        notifications=a.notifications,
    )


def notify_deps(a: Adapters) -> NotifyDeps:
    """Reads the signing secret (Secrets Manager in the cloud): built once per container."""
    return NotifyDeps(
        sender=WebhookClient(allow_loopback=a.settings.allow_http_webhooks),
        queue=a.notifications,
        signing_key=secret_key(webhook_secret(a.settings)),
        retry_delays=a.settings.webhook_retry_schedule,
        max_attempts=a.settings.max_receive_count,
    )


def sweep_deps(a: Adapters) -> SweepDeps:
    return SweepDeps(
        repository=a.repository,
        storage=a.storage,
        queue=a.queue,
        notifications=a.notifications,
        grace_seconds=a.settings.enqueue_grace_seconds,
        stuck_after_seconds=a.settings.stuck_after_seconds,
        upload_grace_seconds=a.settings.direct_upload_grace_seconds,
    )
