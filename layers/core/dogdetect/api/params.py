"""Request headers the API reads, declared once for the handlers (and so the OpenAPI
document). Their values are checked by the core, not by FastAPI: a bad Idempotency-Key is a
400 (`domain.idempotency`), a Prefer header it cannot read is ignored (`api.prefer`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, File, Form, Header, Path, Query, Request, Response

from dogdetect.api.app import error_responses
from dogdetect.api.auth import key_scope
from dogdetect.domain.idempotency import MAX_KEY_CHARS
from dogdetect.domain.limits import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_WAIT_SECONDS
from dogdetect.domain.options import COCO_CLASSES, MAX_CLASSES_CHARS, MAX_CONFIDENCE

IDEMPOTENCY_KEY: Any = Header(
    default=None,
    alias="Idempotency-Key",
    description=(
        f"1 to {MAX_KEY_CHARS} printable ASCII characters, optionally as a quoted string. Sent "
        "again within 24 hours with the same image, the first answer comes back and nothing "
        "is queued twice; with another image, 422; while the first request is still being "
        "answered, 409."
    ),
    json_schema_extra={"pattern": f"^[ -~]{{1,{MAX_KEY_CHARS}}}$"},
)
PREFER: Any = Header(
    default=None,
    description=(
        f"`wait=N` (RFC 7240): hold the answer up to N seconds (at most {MAX_WAIT_SECONDS}) "
        "until the prediction is DONE or ERROR; `Preference-Applied` says so. Anything else "
        "in it is ignored."
    ),
    # Swagger UI's "Try it out" fills the field with it: its answer is the finished prediction.
    openapi_examples={
        "wait": {
            "summary": f"wait up to {MAX_WAIT_SECONDS} s",
            "value": f"wait={MAX_WAIT_SECONDS}",
        }
    },
)


def apply_wait(response: Response, seconds: int | None) -> None:
    response.headers["Vary"] = "Prefer"  # the answer may differ with it (RFC 7240, section 2)
    if seconds is not None:
        response.headers["Preference-Applied"] = f"wait={seconds}"


WAIT_APPLIED_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "Preference-Applied": {
                "description": "`wait=N` when a Prefer: wait=N was honoured (N clamped)",
                "schema": {"type": "string"},
            }
        }
    }
}
DELETED_RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {"description": "Deleted: the prediction, its detections and its image"},
    **error_responses(401, 404, 503),
}


IMAGE_FILE: Any = File(..., description="The photo: JPEG, PNG, WebP, BMP, TIFF or GIF")
WEBHOOK_FIELD: Any = Form(
    default=None,
    description="Optional: an https URL (e.g. https://example.com/hooks/dogs) to POST the"
    " prediction's status JSON to once it is DONE or ERROR, signed as Standard Webhooks says"
    " (webhook-id, webhook-timestamp, webhook-signature). Leave it out for none.",
    # No example: Swagger UI's "Try it out" would send it. Its default, null (`api.docs`),
    # leaves the field empty there, and an empty field is not sent.
)
PREDICTION_ID: Any = Path(
    description="The prediction's id, as `POST /image_prediction` answered it (a UUID)"
)

# Read as text and checked by the core (`domain.options`), so that a refusal names the range
# or the unknown names rather than FastAPI's parsing error.
CONFIDENCE_FIELD: Any = Form(
    default=None,
    description="The least confidence of a detection kept, and of a dog for `has_dog`: a"
    f" decimal from the service's floor (`DOG_CONFIDENCE`, 0.25 by default) to"
    f" {MAX_CONFIDENCE:g}, such as 0.8. Left out: the floor. Anything else is 422",
)
CLASSES_FIELD: Any = Form(
    default=None,
    description="Keep only detections of these COCO classes, comma-separated, as the model"
    f" names them (at most {MAX_CLASSES_CHARS} characters; case and spaces around a name do"
    " not matter), such as `dog,cat`. Left out: every class. `has_dog` still answers whether"
    " there is a dog at or above `confidence`. An unknown name is 422. The names: "
    + ", ".join(COCO_CLASSES),
)


@dataclass(frozen=True)
class WriteOptions:
    """What a write request (submit, direct upload) asks besides its photo, as the core's
    keyword arguments: its Idempotency-Key, the caller's API key (its scope), a webhook, and
    the prediction's options as the form sent them."""

    idempotency_key: str | None
    api_key: str | None
    webhook_url: str | None
    confidence: str | None = None
    classes: str | None = None

    def as_arguments(self) -> dict[str, str | None]:
        return {
            "idempotency_key": self.idempotency_key,
            "api_key": self.api_key,
            "webhook_url": self.webhook_url,
            "confidence": self.confidence,
            "classes": self.classes,
        }


def write_options(
    webhook: str | None = WEBHOOK_FIELD,
    confidence: str | None = CONFIDENCE_FIELD,
    classes: str | None = CLASSES_FIELD,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
    scope: str | None = Depends(key_scope),
) -> WriteOptions:
    return WriteOptions(idempotency_key, scope, webhook, confidence, classes)


def waiting_client(request: Request, scope: str | None = Depends(key_scope)) -> str:
    """Whom a wait counts against: the API key when keys are on, else the source address
    (API Gateway's `sourceIp`, not a header a client writes). A digest: no key is stored."""
    address = request.client.host if request.client else ""
    who = f"key:{scope}" if scope is not None else f"address:{address}"
    return hashlib.sha256(who.encode()).hexdigest()


# GET /image_prediction's query. `limit`'s range is checked by the core (a 422 naming it).
LIMIT: Any = Query(
    default=DEFAULT_LIST_LIMIT,
    description=f"Predictions per page, 1 to {MAX_LIST_LIMIT}",
    json_schema_extra={"minimum": 1, "maximum": MAX_LIST_LIMIT},
    examples=[DEFAULT_LIST_LIMIT],
)
CURSOR: Any = Query(
    default=None,
    description="The `next_cursor` of the previous page, as it is; leave it out for the"
    " first (newest) page",
)
STATUS_FILTER: Any = Query(
    default=None,
    description="Only the predictions in this status",
    examples=["DONE"],
)
