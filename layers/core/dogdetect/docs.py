"""The API's own description, served by the status function (the `$default` route reaches it):
`/openapi.json`, the whole API's OpenAPI document, and `/docs`, a page that renders it. Both
need the API key when keys are set: only `/health` is public then.

The document is generated from the submit and status apps (`make openapi`) and shipped in this
package; tests/unit/test_openapi.py fails when it no longer matches the apps."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from dogdetect.security import require_api_key

OPENAPI_FILE = "openapi.json"
DOCS_HTML = """<!doctype html><html><head><title>dog-detector API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script></body></html>"""


@cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("dogdetect").joinpath(OPENAPI_FILE).read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def openapi() -> JSONResponse:
    return JSONResponse(openapi_document())


def docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML)


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
        spec["paths"].update(part.get("paths", {}))
        spec["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    return spec
