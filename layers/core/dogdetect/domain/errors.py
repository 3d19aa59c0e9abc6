"""Domain exceptions. Each maps to one HTTP status in `dogdetect.api.app.ERROR_STATUS`."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the service reports to a client on purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class EmptyUpload(DomainError):
    pass


class UploadTooLarge(DomainError):
    pass


class MultipleImages(DomainError):
    """More than one file in the `image` field: one upload is one prediction."""


class UnsupportedImage(DomainError):
    """Not an image format we accept (text, HTML, SVG, PDF, random bytes), or one its decoder
    cannot read (truncated, corrupt: whatever the decoder raised). Permanent: see
    `dogdetect.image.decode.IMAGE_ERRORS`."""


class ImageTooLarge(DomainError):
    """An image whose pixel count exceeds the limit (decompression bomb), or whose decoding
    would cost more than a limit allows (scans, chunks, directory entries: `image.formats`)."""


class PredictionNotFound(DomainError):
    pass


class AnnotationUnavailable(DomainError):
    """No annotated photo (404): the prediction is not DONE (not yet, or it ended in ERROR),
    or its photo is no longer stored."""


class Unauthorized(DomainError):
    pass


class IdempotencyKeyInvalid(DomainError):
    """An Idempotency-Key header that is not 1..255 printable ASCII characters."""


class IdempotencyKeyReused(DomainError):
    """An Idempotency-Key sent again with another image than the first time."""


class IdempotencyKeyInFlight(DomainError):
    """The first request with this Idempotency-Key has not answered yet; retry shortly."""


class TooManyWaits(DomainError):
    """This client holds its share of the service's waits (`Prefer: wait`) already."""


class DrawingsBusy(DomainError):
    """Every slot for drawing annotated photos is taken, or another request's drawing of this
    one did not end in time (503 with Retry-After: the service is busy, not the client wrong)."""


class InvalidWebhook(DomainError):
    """A `webhook` form field that is not a URL a prediction may be announced to (422)."""


class InvalidListQuery(DomainError):
    """A listing's `limit` out of its range, or a `cursor` this service did not give (422)."""


class DependencyUnavailable(DomainError):
    """The database, bucket or queue did not answer; the client may retry."""

    def __init__(self, dependency: str, detail: str | None = None) -> None:
        super().__init__(detail or f"{dependency} is unavailable, please retry")
        self.dependency = dependency


class StoredImageMissing(Exception):
    """The queued image is not in the bucket. Retried like a transient fault, then ERROR."""


class InvalidOptions(DomainError):
    """A `confidence` or `classes` form field the service cannot apply (422)."""
