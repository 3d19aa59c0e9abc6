"""API schemas (the seed's JSON shapes)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from dogdetect.domain.documents import status_document
from dogdetect.domain.models import Prediction, PresignedPost, Status


class BoxOut(BaseModel):
    x1: float
    y1: float
    x2: float
    y2: float


class DetectionOut(BaseModel):
    label: str
    confidence: float
    box: BoxOut


class SubmitAccepted(BaseModel):
    image_prediction_id: uuid.UUID
    status: Status
    has_dog: bool | None = None

    @classmethod
    def of(cls, prediction: Prediction) -> SubmitAccepted:
        """Always PENDING: a retry with the same Idempotency-Key gets this answer again,
        whatever the prediction's state by then."""
        return cls(image_prediction_id=prediction.id, status=Status.PENDING)


class PresignedPostOut(BaseModel):
    url: str = Field(description="Where to POST the photo (multipart/form-data): S3 itself")
    fields: dict[str, str] = Field(
        description="Form fields to send as they are, before the photo's own field, 'file'"
    )


class DirectUploadCreated(BaseModel):
    image_prediction_id: uuid.UUID
    upload: PresignedPostOut
    expires_at: datetime = Field(
        description="S3 refuses the POST after this; when no photo came, the prediction ends"
        ' ERROR ("no upload received") a few minutes later'
    )

    @classmethod
    def of(cls, prediction: Prediction, post: PresignedPost) -> DirectUploadCreated:
        return cls(
            image_prediction_id=prediction.id,
            upload=PresignedPostOut(url=post.url, fields=post.fields),
            expires_at=post.expires_at,
        )


class PredictionOut(BaseModel):
    image_prediction_id: uuid.UUID
    status: Status
    has_dog: bool | None
    detections: list[DetectionOut]
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Prediction) -> PredictionOut:
        """From the domain's status document: GET answers what a webhook carries."""
        return cls.model_validate(status_document(p))


class PredictionPage(BaseModel):
    """A page of GET /image_prediction."""

    items: list[PredictionOut] = Field(
        description="Predictions, newest first, each as GET /image_prediction/{id} answers it"
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page",
        examples=["AQAGYgJBh46Ai0fm7Dw6Q3-uEHQa0_8E5A"],
    )

    @classmethod
    def of(cls, items: list[Prediction], next_cursor: str | None) -> PredictionPage:
        return cls(items=[PredictionOut.of(p) for p in items], next_cursor=next_cursor)


class ErrorOut(BaseModel):
    detail: str


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class UnprocessableOut(BaseModel):
    """422: a domain refusal (a message) or FastAPI's request validation (a list of problems)."""

    detail: str | list[ValidationProblem]


class HealthOut(BaseModel):
    status: str
    checks: dict[str, str]


def health_response(checks: dict[str, str]) -> JSONResponse:
    """200 when every dependency answered, else 503 naming what failed."""
    healthy = all(answer == "ok" for answer in checks.values())
    body = HealthOut(status="ok" if healthy else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)
