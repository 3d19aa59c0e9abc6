"""API schemas (the seed's JSON shapes)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from dogdetect.domain.documents import status_document
from dogdetect.domain.models import Prediction, Status


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
