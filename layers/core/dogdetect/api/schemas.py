"""API schemas (the seed's JSON shapes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dogdetect.domain.documents import options_document, status_document
from dogdetect.domain.models import Prediction, PresignedPost, Status

# The OpenAPI document's examples: what the service answered for ../shared/images/dog.jpg
# (the shipped YOLO11n model) and for a presigned upload, ids and dates aside.
EXAMPLE_ID = "8b47e6ec-3c3a-437f-ae10-741ad3ff04e4"
EXAMPLE_UPLOAD_ID = "5d0c9a4e-2b7f-4f1a-9e3c-7a1b2c3d4e5f"


def _detection(label: str, confidence: float, *box: float) -> dict[str, Any]:
    return {
        "label": label,
        "confidence": confidence,
        "box": dict(zip(("x1", "y1", "x2", "y2"), box, strict=True)),
    }


EXAMPLE_DETECTIONS = [
    _detection("dog", 0.9241, 131.4, 220.8, 310.2, 540.0),
    _detection("bicycle", 0.9173, 128.4, 135.6, 567.6, 419.4),
    _detection("truck", 0.6169, 470.1, 74.4, 693.6, 173.7),
    _detection("car", 0.4482, 471.6, 73.8, 693.3, 172.3),
]
EXAMPLE_OPTIONS: dict[str, Any] = {"confidence": 0.25, "classes": None}
EXAMPLE_PREDICTION: dict[str, Any] = {
    "image_prediction_id": EXAMPLE_ID,
    "status": "DONE",
    "has_dog": True,
    "detections": EXAMPLE_DETECTIONS,
    "options": EXAMPLE_OPTIONS,
    "error": None,
    "created_at": "2026-12-07T02:41:07.512318Z",
    "updated_at": "2026-12-07T02:41:08.204977Z",
}
EXAMPLE_PRESIGNED_POST: dict[str, Any] = {
    "url": "https://dogdetect-uploads-123456789012.s3.amazonaws.com/",
    "fields": {
        "key": f"incoming/{EXAMPLE_UPLOAD_ID}",
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": "ASIAQ3EGTX7ZEXAMPLE5/20261207/eu-west-1/s3/aws4_request",
        "x-amz-date": "20261207T023858Z",
        "x-amz-security-token": "IQoJb3JpZ2luX2VjEXAMPLETOKEN",
        "policy": "eyJleHBpcmF0aW9uIjogIjIwMjYtMTItMDdUMDI6NTM6NThaIiwgImNvbmRpdGlvbnMiOiBbWyJjb2"
        "50ZW50LWxlbmd0aC1yYW5nZSIsIDEsIDI1MDAwMDAwXSwgeyJidWNrZXQiOiAiZG9nZGV0ZWN0LXVwbG9hZHMt"
        "MTIzNDU2Nzg5MDEyIn0sIHsia2V5IjogImluY29taW5nLzVkMGM5YTRlLTJiN2YtNGYxYS05ZTNjLTdhMWIyYz"
        "NkNGU1ZiJ9LCB7IngtYW16LWFsZ29yaXRobSI6ICJBV1M0LUhNQUMtU0hBMjU2In0sIHsieC1hbXotY3JlZGVu"
        "dGlhbCI6ICJBU0lBUTNFR1RYN1pFWEFNUExFNS8yMDI2MTIwNy9ldS13ZXN0LTEvczMvYXdzNF9yZXF1ZXN0In"
        "0sIHsieC1hbXotZGF0ZSI6ICIyMDI2MTIwN1QwMjM4NThaIn0sIHsieC1hbXotc2VjdXJpdHktdG9rZW4iOiAi"
        "SVFvSmIzSnBaMmx1WDJWakVYQU1QTEVUT0tFTiJ9XX0=",
        "x-amz-signature": "d25aab63c3b7c8d6251f6026b862aa45b79791d0ede969510ab88e383acd9cf8",
    },
}
ID_DESCRIPTION = "The prediction's id (a UUID): the path of its status, annotated photo and DELETE"
STATUS_DESCRIPTION = (
    "PENDING (queued, or waiting for its presigned upload), PROCESSING (the model is on it),"
    " DONE (detections and has_dog are final) or ERROR (see error)"
)


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class BoxOut(BaseModel):
    """A detection's bounding box, in pixels from the upright photo's top-left corner."""

    model_config = _examples(EXAMPLE_DETECTIONS[0]["box"])
    x1: float = Field(description="Left edge, pixels from the photo's left")
    y1: float = Field(description="Top edge, pixels from the photo's top")
    x2: float = Field(description="Right edge, pixels from the photo's left")
    y2: float = Field(description="Bottom edge, pixels from the photo's top")


class DetectionOut(BaseModel):
    """One object the model found."""

    model_config = _examples(EXAMPLE_DETECTIONS[0])
    label: str = Field(description="Its COCO class name, e.g. dog, cat, person, car")
    confidence: float = Field(description="The model's confidence, 0 to 1")
    box: BoxOut = Field(description="Where it is in the photo")


class OptionsOut(BaseModel):
    """What the prediction applies, its request's `confidence` and `classes` with the
    defaults filled in."""

    confidence: float = Field(
        description="The least confidence of a detection kept, and of a dog for `has_dog`:"
        " the request's `confidence`, else the service's floor (`DOG_CONFIDENCE`, 0.25)",
        examples=[0.8],
    )
    classes: list[str] | None = Field(
        description="The COCO classes whose detections are kept, in the model's order; null:"
        " every class. `has_dog` looks for a dog whatever this says",
        examples=[["dog"]],
    )


OPTIONS_DESCRIPTION = (
    "The options applied (`confidence`, `classes`); null only for a prediction made before"
    " requests had options"
)


class SubmitAccepted(BaseModel):
    """The photo is stored and queued: ask for the answer at the Location header's URL."""

    model_config = _examples(
        {
            "image_prediction_id": EXAMPLE_ID,
            "status": "PENDING",
            "has_dog": None,
            "options": EXAMPLE_OPTIONS,
        }
    )
    image_prediction_id: uuid.UUID = Field(description=ID_DESCRIPTION)
    status: Status = Field(description="Always PENDING here: the photo is queued")
    has_dog: bool | None = Field(default=None, description="Always null here: not known yet")
    options: OptionsOut | None = Field(default=None, description=OPTIONS_DESCRIPTION)

    @classmethod
    def of(cls, prediction: Prediction) -> SubmitAccepted:
        """Always PENDING: a retry with the same Idempotency-Key gets this answer again,
        whatever the prediction's state by then."""
        return cls(
            image_prediction_id=prediction.id,
            status=Status.PENDING,
            options=_options(prediction),
        )


def _options(prediction: Prediction) -> OptionsOut | None:
    document = options_document(prediction.options)
    return OptionsOut.model_validate(document) if document is not None else None


class PresignedPostOut(BaseModel):
    """An S3 presigned POST: send `fields`, then the photo as the form field `file`."""

    model_config = _examples(EXAMPLE_PRESIGNED_POST)
    url: str = Field(description="Where to POST the photo (multipart/form-data): S3 itself")
    fields: dict[str, str] = Field(
        description="Form fields to send as they are, before the photo's own field, 'file'"
    )


class DirectUploadCreated(BaseModel):
    """A prediction waiting for its photo: POST the photo to S3 with `upload` before
    `expires_at`."""

    model_config = _examples(
        {
            "image_prediction_id": EXAMPLE_UPLOAD_ID,
            "upload": EXAMPLE_PRESIGNED_POST,
            "expires_at": "2026-12-07T02:53:58Z",
            "options": EXAMPLE_OPTIONS,
        }
    )
    image_prediction_id: uuid.UUID = Field(description=ID_DESCRIPTION)
    upload: PresignedPostOut = Field(
        description="The presigned POST to send the photo with, straight to S3"
    )
    expires_at: datetime = Field(
        description="S3 refuses the POST after this; when no photo came, the prediction ends"
        ' ERROR ("no upload received") a few minutes later'
    )
    options: OptionsOut | None = Field(default=None, description=OPTIONS_DESCRIPTION)

    @classmethod
    def of(cls, prediction: Prediction, post: PresignedPost) -> DirectUploadCreated:
        return cls(
            image_prediction_id=prediction.id,
            upload=PresignedPostOut(url=post.url, fields=post.fields),
            expires_at=post.expires_at,
            options=_options(prediction),
        )


class PredictionOut(BaseModel):
    """A prediction's status document: what GET answers and a webhook carries."""

    model_config = _examples(EXAMPLE_PREDICTION)
    image_prediction_id: uuid.UUID = Field(description=ID_DESCRIPTION)
    status: Status = Field(description=STATUS_DESCRIPTION)
    has_dog: bool | None = Field(
        description="Whether a dog was found; null until the prediction is DONE"
    )
    detections: list[DetectionOut] = Field(
        description="What the model found (empty until DONE), most confident first"
    )
    options: OptionsOut | None = Field(description=OPTIONS_DESCRIPTION)
    error: str | None = Field(description="Why the prediction ended in ERROR; else null")
    created_at: datetime = Field(description="When the prediction was created (UTC)")
    updated_at: datetime = Field(description="When its status last changed (UTC)")

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
    """Every error's body: one sentence for the client."""

    model_config = _examples({"detail": "no prediction with this id"})
    detail: str = Field(description="What went wrong, and what to do about it")


class ValidationProblem(BaseModel):
    """One field of the request that could not be read."""

    loc: list[str | int] = Field(
        description='Where: the part of the request, then the field, e.g. ["body", "image"]'
    )
    msg: str = Field(description="What is wrong with it, for the client")
    type: str = Field(description="The kind of problem, e.g. missing")


class UnprocessableOut(BaseModel):
    """422: a domain refusal (a message) or FastAPI's request validation (a list of problems)."""

    detail: str | list[ValidationProblem] = Field(
        description="A sentence, or one problem per field of the request that could not be read"
    )


class HealthOut(BaseModel):
    """Whether each dependency answered."""

    model_config = _examples(
        {"status": "ok", "checks": {"database": "ok", "storage": "ok", "queue": "ok"}}
    )
    status: str = Field(description="ok when every dependency answered, else unavailable")
    checks: dict[str, str] = Field(
        description="ok or unavailable for each dependency: database, storage, queue"
    )


def health_response(checks: dict[str, str]) -> JSONResponse:
    """200 when every dependency answered, else 503 naming what failed."""
    healthy = all(answer == "ok" for answer in checks.values())
    body = HealthOut(status="ok" if healthy else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


# Their examples hold nulls, which FastAPI's document drops: `api.docs` puts them back.
EXAMPLED_MODELS: tuple[type[BaseModel], ...] = (
    BoxOut,
    DetectionOut,
    SubmitAccepted,
    PresignedPostOut,
    DirectUploadCreated,
    PredictionOut,
    ErrorOut,
    HealthOut,
)
