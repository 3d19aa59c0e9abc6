"""How each route of the API is declared: statuses, answers and their descriptions for the
OpenAPI document, and the checks every call passes first. The entrypoints attach their
handlers to these, so a handler reads as what it does."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Response, status

from dogdetect.api.annotated import ANNOTATED_RESPONSES
from dogdetect.api.app import (
    EMPTY_WEBHOOK,
    ERROR_EXAMPLES,
    error_response,
    error_responses,
    one_image,
    one_option_each,
    one_webhook,
)
from dogdetect.api.auth import require_api_key
from dogdetect.api.params import DELETED_RESPONSES, WAIT_APPLIED_RESPONSE
from dogdetect.api.schemas import (
    DirectUploadCreated,
    HealthOut,
    PredictionOut,
    PredictionPage,
    SubmitAccepted,
)
from dogdetect.domain.idempotency import INVALID_KEY, MAX_KEY_CHARS
from dogdetect.domain.listing import BAD_CURSOR, LIMIT_OUT_OF_RANGE
from dogdetect.service.uploads import KEY_REUSED as UPLOAD_KEY_REUSED

COLLECTION = "/image_prediction"  # POST: a new prediction; GET: the past ones
PREDICTION = f"{COLLECTION}/{{image_prediction_id}}"
_KEYED = [Depends(require_api_key)]

# The OpenAPI document's groups of routes (Swagger UI's sections), in its order.
PREDICTIONS, UPLOADS, HEALTH_TAG = "predictions", "uploads", "health"
TAGS = [
    {"name": PREDICTIONS, "description": "Send a photo, ask whether it shows a dog, delete it"},
    {"name": UPLOADS, "description": "Photos up to 25 MB, sent straight to storage (S3)"},
    {"name": HEALTH_TAG, "description": "Whether the service's dependencies answer"},
]

_LOCATION = {
    "headers": {
        "Location": {
            "description": "The prediction's URL: /image_prediction/{image_prediction_id}",
            "schema": {"type": "string"},
        }
    }
}

SUBMIT: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": SubmitAccepted,
    "responses": {202: _LOCATION, **error_responses(400, 401, 409, 413, 415, 422, 503)},
    "dependencies": [
        *_KEYED,
        Depends(one_image),
        Depends(one_webhook),
        Depends(one_option_each),
    ],
    "tags": [PREDICTIONS],
    "summary": "Send a photo",
    "description": "Stores the photo (multipart/form-data, the field `image`, up to 4.5 MB)"
    " and queues it: 202 at once, with the prediction's id and its URL in `Location`. Ask"
    " there for the answer, or pass a `webhook` to be told. Larger photos: `POST"
    " /image_prediction/uploads`.",
    "response_description": "Accepted: the photo is queued",
}
DIRECT_UPLOAD: dict[str, Any] = {
    "status_code": status.HTTP_201_CREATED,
    "response_model": DirectUploadCreated,
    "responses": {
        201: _LOCATION,
        **error_responses(401, 409, 503),
        400: error_response(
            400,
            f"The Idempotency-Key header is not 1 to {MAX_KEY_CHARS} printable ASCII characters",
            {"bad Idempotency-Key": INVALID_KEY},
        ),
        422: error_response(
            422,
            "A 'webhook' that is not one https URL of a public host, or an Idempotency-Key"
            " already used with another request",
            {
                "key reused": UPLOAD_KEY_REUSED,
                "webhook not https": ERROR_EXAMPLES[422]["webhook not https"],
                "empty webhook": EMPTY_WEBHOOK,
            },
        ),
    },
    "dependencies": [*_KEYED, Depends(one_webhook), Depends(one_option_each)],
    "tags": [UPLOADS],
    "summary": "Send a large photo straight to storage",
    "description": "A prediction whose photo (up to 25 MB) the client POSTs straight to S3"
    " with `upload`; its status reads as any other's once S3 has it. A `webhook`,"
    " `confidence`, `classes` and an `Idempotency-Key` work as on `POST /image_prediction`"
    " (the request is its webhook and options).",
    "response_description": "Created: POST the photo with `upload` before `expires_at`",
}
DELETE: dict[str, Any] = {
    "status_code": status.HTTP_204_NO_CONTENT,
    "response_class": Response,
    "responses": DELETED_RESPONSES,
    "dependencies": _KEYED,
    "tags": [PREDICTIONS],
    "summary": "Delete a prediction",
    "description": "Deletes the prediction, its detections, its photo and its annotated"
    " photo: from then on no route shows it.",
}
READ: dict[str, Any] = {
    "response_model": PredictionOut,
    "responses": {**error_responses(401, 404, 429, 503), **WAIT_APPLIED_RESPONSE},
    "dependencies": _KEYED,
    "tags": [PREDICTIONS],
    "summary": "Ask for a prediction",
    "description": "The prediction's status document: PENDING or PROCESSING until the model"
    " has answered, then DONE with `has_dog` and the detections (or ERROR with why). With"
    " `Prefer: wait=N`, held up to N seconds until it is DONE or ERROR.",
    "response_description": "The prediction's status document",
}
LIST: dict[str, Any] = {
    "response_model": PredictionPage,
    "responses": {
        **error_responses(401, 503),
        422: error_response(
            422,
            "A `limit` outside 1 to 100, a `status` that is not one of the four, or a `cursor`"
            " this service did not give",
            {"limit out of range": LIMIT_OUT_OF_RANGE, "bad cursor": BAD_CURSOR},
        ),
    },
    "dependencies": _KEYED,
    "tags": [PREDICTIONS],
    "summary": "List past predictions",
    "description": "Past predictions, newest first, a page at a time: with API keys, those"
    " the caller's key created; without, every one. Follow `next_cursor` until it is null.",
    "response_description": "A page of status documents, and the cursor of the next page",
}
ANNOTATED: dict[str, Any] = {
    "response_class": Response,
    "responses": ANNOTATED_RESPONSES,
    "dependencies": _KEYED,
    "tags": [PREDICTIONS],
    "summary": "The photo with its detections drawn",
    "description": "A JPEG of a DONE prediction's photo with a box and a label for each"
    " detection; drawn once, then kept.",
}
HEALTH: dict[str, Any] = {
    "response_model": HealthOut,
    "responses": {
        503: {
            "model": HealthOut,
            "description": "A dependency is not answering: the body names it",
            "content": {
                "application/json": {
                    "example": {
                        "status": "unavailable",
                        "checks": {"database": "ok", "storage": "ok", "queue": "unavailable"},
                    }
                }
            },
        }
    },
    "tags": [HEALTH_TAG],
    "summary": "Check the service's dependencies",
    "description": "Asks the database, the bucket and the queue at once. Needs no API key.",
    "response_description": "Every dependency answered",
}
