"""HTTP mapping shared by the API functions: one table from domain errors to statuses,
JSON bodies for every error, and the FastAPI app factory."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dogdetect import errors
from dogdetect.schemas import ErrorOut, UnprocessableOut

logger = logging.getLogger(__name__)

ERROR_STATUS: dict[type[errors.DomainError], int] = {
    errors.EmptyUpload: 400,
    errors.Unauthorized: 401,
    errors.PredictionNotFound: 404,
    errors.UploadTooLarge: 413,
    errors.UnsupportedImage: 415,
    errors.ImageTooLarge: 422,
    errors.MultipleImages: 422,
    errors.DependencyUnavailable: 503,
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": UnprocessableOut if status == 422 else ErrorOut}
    for status in sorted(set(ERROR_STATUS.values()))
}


def status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    status = status_for(exc)
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
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


def create_api(title: str) -> FastAPI:
    app = FastAPI(title=title, version="1.0.0")
    app.add_exception_handler(errors.DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app
