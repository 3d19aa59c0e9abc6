"""HTTP mapping shared by the API functions: one table from domain errors to statuses,
JSON bodies for every error, and the FastAPI app factory."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dogdetect.api import route_table
from dogdetect.api.auth import API_KEY_REQUIRED, current_settings, key_is_valid
from dogdetect.api.paths import RouteOnPathAsSent
from dogdetect.api.schemas import ErrorOut, UnprocessableOut
from dogdetect.config import Settings
from dogdetect.domain import errors
from dogdetect.domain.idempotency import INVALID_KEY, MAX_KEY_CHARS
from dogdetect.domain.limits import DEFAULT_DIRECT_UPLOAD_MAX_BYTES, DEFAULT_MAX_UPLOAD_BYTES
from dogdetect.domain.models import PREDICTION_NOT_FOUND
from dogdetect.image.formats import ACCEPTED_FORMATS
from dogdetect.service.read import CLIENT_FULL
from dogdetect.service.submit import KEY_IN_FLIGHT, too_large
from dogdetect.service.submit import KEY_REUSED as SUBMIT_KEY_REUSED

logger = logging.getLogger(__name__)

ERROR_STATUS: dict[type[errors.DomainError], int] = {
    errors.EmptyUpload: 400,
    errors.IdempotencyKeyInvalid: 400,
    errors.Unauthorized: 401,
    errors.PredictionNotFound: 404,
    errors.AnnotationUnavailable: 404,
    errors.IdempotencyKeyInFlight: 409,
    errors.UploadTooLarge: 413,
    errors.UnsupportedImage: 415,
    errors.ImageTooLarge: 422,
    errors.MultipleImages: 422,
    errors.IdempotencyKeyReused: 422,
    errors.InvalidWebhook: 422,
    errors.InvalidOptions: 422,
    errors.InvalidListQuery: 422,
    errors.TooManyWaits: 429,
    errors.DependencyUnavailable: 503,
    errors.DrawingsBusy: 503,
}
# Answers a client should retry, and after how long (seconds).
RETRY_AFTER = {409: "1", 429: "1", 503: "1"}

# Written out, not left to http.HTTPStatus: its phrases change between Python versions (3.13
# says "Content Too Large"), and the OpenAPI document must not.
STATUS_DESCRIPTIONS = {
    400: "The upload is empty, or the Idempotency-Key header is not 1 to"
    f" {MAX_KEY_CHARS} printable ASCII characters",
    401: "A valid X-API-Key header is required",
    404: "No prediction with this id",
    409: "The first request with this Idempotency-Key has not been answered yet; retry after"
    " Retry-After",
    413: "The upload is larger than the limit: send a larger photo (up to 25 MB) with"
    " POST /image_prediction/uploads",
    415: "Not an image in an accepted format, or a truncated or corrupt one",
    422: "An image over the pixel limit, a request that is not one file in the field 'image',"
    " an Idempotency-Key already used with another image or other options, a 'webhook' that"
    " is not an https URL of a public host, or a 'confidence' or 'classes' the service cannot"
    " apply; on GET /image_prediction, a limit, status or cursor that is not valid",
    429: "This client already holds its share of waiting requests (Prefer: wait); retry after"
    " Retry-After, or ask without Prefer: wait",
    503: "A dependency (database, storage, queue) is not answering; retry after Retry-After",
}
IMAGE_FIELD_MISSING = "send the photo as a file in the multipart form field 'image'"
IMAGE_FIELD_NOT_A_FILE = (
    "the form field 'image' must be a file (a multipart part with a filename), not text"
)
EMPTY_WEBHOOK = "the form field 'webhook' is empty: send an https URL, or leave the field out"
_DEFAULTS = Settings.model_fields
# Real answers of the API (with its default settings) for each status, by name: the OpenAPI
# document's examples. tests/unit/api/test_openapi.py sends the requests that get them.
ERROR_EXAMPLES: dict[int, dict[str, Any]] = {
    400: {"empty upload": "the upload is empty", "bad Idempotency-Key": INVALID_KEY},
    401: {"no or wrong key": API_KEY_REQUIRED},
    404: {"unknown id": PREDICTION_NOT_FOUND},
    409: {"first request unanswered": KEY_IN_FLIGHT},
    413: {"photo too large": too_large(DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_DIRECT_UPLOAD_MAX_BYTES)},
    415: {"not an image": f"not a supported image; accepted: {', '.join(ACCEPTED_FORMATS)}"},
    422: {
        "no photo": [{"loc": ["body", "image"], "msg": IMAGE_FIELD_MISSING, "type": "missing"}],
        "too many pixels": "the image is 8000x6000 pixels; the limit is"
        f" {_DEFAULTS['max_image_pixels'].default} pixels",
        "key reused": SUBMIT_KEY_REUSED,
        "webhook not https": "the webhook URL must start with https://",
        "empty webhook": EMPTY_WEBHOOK,
    },
    429: {"waits full": CLIENT_FULL.format(limit=_DEFAULTS["waits_per_client"].default)},
    503: {"database down": str(errors.DependencyUnavailable("database"))},
}


def error_content(examples: dict[str, Any]) -> dict[str, Any]:
    """`content` of an error response: its examples as bodies, by name."""
    named = {name: {"value": {"detail": detail}} for name, detail in examples.items()}
    return {"application/json": {"examples": named}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "model": UnprocessableOut if status == 422 else ErrorOut,
        "description": STATUS_DESCRIPTIONS[status],
        "content": error_content(ERROR_EXAMPLES[status]),
    }
    for status in sorted(set(ERROR_STATUS.values()))
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a route that can answer `statuses`."""
    return {status: ERROR_RESPONSES[status] for status in statuses}


def error_response(status: int, description: str, examples: dict[str, Any]) -> dict[str, Any]:
    """A route's own documented answer for `status`, when the table's says too much."""
    return {
        **ERROR_RESPONSES[status],
        "description": description,
        "content": error_content(examples),
    }


def status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = status_for(exc)
    headers = {"Retry-After": RETRY_AFTER[status]} if status in RETRY_AFTER else None
    return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    provided = request.headers.get("x-api-key")
    if exc.status_code in (404, 405) and not key_is_valid(provided, current_settings(request)):
        # With keys set, an unknown route or method says nothing without one either.
        return await _domain_error(request, errors.Unauthorized(API_KEY_REQUIRED))
    # The router's own refusals (no route matched: no endpoint chosen; or the wrong method):
    # answered from the whole API's routes, not from this function's share of them.
    if exc.status_code == 405 or (exc.status_code == 404 and "endpoint" not in request.scope):
        return _no_route(request.method, request.url.path, exc)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _no_route(method: str, path: str, exc: StarletteHTTPException) -> JSONResponse:
    """A path of the API's with a method it does not take: 405 and every method it takes; a
    path of this function's own outside the API (the page): the router's 405; else a 404
    naming the routes."""
    route = route_table.methods_for(path)
    if route is not None:
        template, allowed = route
        detail = route_table.not_allowed(method, template, allowed)
        headers = {"Allow": ", ".join(allowed)}
        return JSONResponse({"detail": detail}, status_code=405, headers=headers)
    if exc.status_code == 405:
        return JSONResponse({"detail": exc.detail}, status_code=405, headers=exc.headers)
    return JSONResponse({"detail": route_table.not_found(method, path)}, status_code=404)


def _client_message(problem: dict[str, Any]) -> str:
    """A sentence for the client in place of FastAPI's (which reads, for a text field where
    the photo belongs, "Expected UploadFile, received: <class 'str'>")."""
    loc = [str(part) for part in problem.get("loc", ())]
    kind = str(problem.get("type", ""))
    if loc == ["body", "image"]:
        return IMAGE_FIELD_MISSING if kind == "missing" else IMAGE_FIELD_NOT_A_FILE
    where = f"'{'.'.join(loc[1:])}' in the {loc[0]}" if len(loc) > 1 else "the request"
    if kind == "missing":
        return f"{where} is required"
    if kind == "enum":
        return f"{where} must be one of {problem.get('ctx', {}).get('expected', '')}"
    if kind == "int_parsing":
        return f"{where} must be a whole number"
    return f"{where} is not valid ({kind or 'invalid'})"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(e.get("loc", ())), "msg": _client_message(e), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=422)


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=exc)
    return JSONResponse({"detail": "internal error"}, status_code=500)


async def one_image(request: Request) -> None:
    """Starlette keeps the last of repeated form fields; refuse the ambiguity instead."""
    form = await request.form()  # parsed once: FastAPI reuses it for the body parameters
    if len(form.getlist("image")) > 1:
        raise errors.MultipleImages("send exactly one file in the form field 'image'")


async def one_webhook(request: Request) -> None:
    """At most one `webhook`, and not an empty one: FastAPI reads an empty form value as
    absent, which would drop `webhook=` without a word."""
    webhooks = (await request.form()).getlist("webhook")
    if len(webhooks) > 1:
        raise errors.InvalidWebhook("send at most one URL in the form field 'webhook'")
    if webhooks and not webhooks[0]:
        raise errors.InvalidWebhook(EMPTY_WEBHOOK)


async def one_option_each(request: Request) -> None:
    """At most one `confidence` and one `classes`, neither empty (FastAPI would keep the last
    of repeated fields, and read an empty one as absent)."""
    form = await request.form()
    for name in ("confidence", "classes"):
        values = form.getlist(name)
        if len(values) > 1:
            raise errors.InvalidOptions(f"send the form field '{name}' at most once")
        if values and not values[0]:
            raise errors.InvalidOptions(
                f"the form field '{name}' is empty: send a value, or leave the field out"
            )


def create_api(title: str, settings: Callable[[], Settings]) -> FastAPI:
    """`settings`: the function's, asked on each request that needs them (API keys)."""
    # FastAPI's own /docs and /openapi.json would be public and describe one function's part
    # of the API: the status function serves the whole API's instead (dogdetect.api.docs).
    # No trailing-slash redirects: Starlette builds them from the Host header, which a client
    # chooses (a 307 to any host). A path with a slash too many is a JSON 404 instead.
    app = FastAPI(
        title=title,
        version="1.0.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.add_middleware(RouteOnPathAsSent)
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app
