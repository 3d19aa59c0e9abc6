"""Request headers the API reads, declared once for the handlers (and so the OpenAPI
document). Their values are checked by the core, not by FastAPI: a bad Idempotency-Key is a
400 (`domain.idempotency`), a Prefer header it cannot read is ignored (`api.prefer`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, File, Form, Header, Query, Request, Response

from dogdetect.api.app import ERROR_RESPONSES
from dogdetect.api.auth import key_scope
from dogdetect.domain.idempotency import MAX_KEY_CHARS
from dogdetect.domain.limits import DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, MAX_WAIT_SECONDS

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
    examples=["wait=10"],
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
    **ERROR_RESPONSES,
}


IMAGE_FILE: Any = File(..., description="The photo: JPEG, PNG, WebP, BMP, TIFF or GIF")
WEBHOOK_FIELD: Any = Form(
    default=None,
    description="An https URL to POST the prediction's status JSON to once it is DONE or"
    " ERROR, signed as Standard Webhooks says (webhook-id, webhook-timestamp,"
    " webhook-signature)",
)


@dataclass(frozen=True)
class WriteOptions:
    """What a write request (submit, direct upload) asks besides its photo, as the core's
    keyword arguments: its Idempotency-Key, the caller's API key (its scope) and a webhook."""

    idempotency_key: str | None
    api_key: str | None
    webhook_url: str | None

    def as_arguments(self) -> dict[str, str | None]:
        return {
            "idempotency_key": self.idempotency_key,
            "api_key": self.api_key,
            "webhook_url": self.webhook_url,
        }


def write_options(
    webhook: str | None = WEBHOOK_FIELD,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
    scope: str | None = Depends(key_scope),
) -> WriteOptions:
    return WriteOptions(idempotency_key, scope, webhook)


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
