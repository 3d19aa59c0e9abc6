"""How each route of the API is declared: statuses, answers and their descriptions for the
OpenAPI document, and the checks every call passes first. The entrypoints attach their
handlers to these, so a handler reads as what it does."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Response, status

from dogdetect.api.annotated import ANNOTATED_RESPONSES
from dogdetect.api.app import ERROR_RESPONSES, one_image, one_webhook
from dogdetect.api.auth import require_api_key
from dogdetect.api.params import DELETED_RESPONSES, WAIT_APPLIED_RESPONSE
from dogdetect.api.schemas import (
    DirectUploadCreated,
    HealthOut,
    PredictionOut,
    PredictionPage,
    SubmitAccepted,
)

PREDICTIONS = "/image_prediction"
PREDICTION = f"{PREDICTIONS}/{{image_prediction_id}}"
_KEYED = [Depends(require_api_key)]

SUBMIT: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": SubmitAccepted,
    "responses": ERROR_RESPONSES,
    "dependencies": [*_KEYED, Depends(one_image), Depends(one_webhook)],
}
DIRECT_UPLOAD: dict[str, Any] = {
    "status_code": status.HTTP_201_CREATED,
    "response_model": DirectUploadCreated,
    "responses": {code: ERROR_RESPONSES[code] for code in (400, 401, 409, 422, 503)},
    "dependencies": [*_KEYED, Depends(one_webhook)],
    "description": "A prediction whose photo (up to 25 MB) the client POSTs straight to S3"
    " with `upload`; its status reads as any other's once S3 has it. A `webhook` and an"
    " `Idempotency-Key` work as on `POST /image_prediction` (the request is its webhook).",
}
DELETE: dict[str, Any] = {
    "status_code": status.HTTP_204_NO_CONTENT,
    "response_class": Response,
    "responses": DELETED_RESPONSES,
    "dependencies": _KEYED,
}
READ: dict[str, Any] = {
    "response_model": PredictionOut,
    "responses": {**ERROR_RESPONSES, **WAIT_APPLIED_RESPONSE},
    "dependencies": _KEYED,
}
LIST: dict[str, Any] = {
    "response_model": PredictionPage,
    "responses": {code: ERROR_RESPONSES[code] for code in (401, 422, 503)},
    "dependencies": _KEYED,
    "description": "Past predictions, newest first, a page at a time: with API keys, those"
    " the caller's key created; without, every one. Follow `next_cursor` until it is null.",
}
ANNOTATED: dict[str, Any] = {
    "response_class": Response,
    "responses": ANNOTATED_RESPONSES,
    "dependencies": _KEYED,
}
HEALTH: dict[str, Any] = {
    "response_model": HealthOut,
    "responses": {503: {"model": HealthOut, "description": "A dependency is not answering"}},
}
