"""The API's own description, served by the status function (the `$default` route reaches it):
`/openapi.json`, the whole API's OpenAPI document, and `/docs`, Swagger UI on it (its files
served by `dogdetect.api.page`, from no other host). Both need the API key when keys are set.

The document is generated from the submit and status apps (`make openapi`) and shipped in this
package; tests/unit/api/test_openapi.py fails when it no longer matches the apps."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from dogdetect.api import page
from dogdetect.api.auth import require_api_key

OPENAPI_FILE = "openapi.json"


@cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("dogdetect.api").joinpath(OPENAPI_FILE).read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def openapi() -> JSONResponse:
    return JSONResponse(openapi_document())


def docs(request: Request) -> Response:
    return page.asset_response(request, page.DOCS_PAGE)


def serve_api_description(app: FastAPI) -> None:
    guarded = [Depends(require_api_key)]
    for path, endpoint in (("/openapi.json", openapi), ("/docs", docs)):
        app.add_api_route(path, endpoint, dependencies=guarded, include_in_schema=False)


def merged_openapi(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from the functions' apps (each serves part of the API)."""
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "dog-detector", "version": "1.0.0"},
        "paths": {},
        "components": {"schemas": {}},
    }
    for part in parts:
        for path, operations in part.get("paths", {}).items():
            # One path may be served by two functions (GET by status, DELETE by submit).
            spec["paths"].setdefault(path, {}).update(operations)
        spec["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    return spec
