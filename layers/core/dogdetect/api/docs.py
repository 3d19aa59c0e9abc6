"""The API's own description, served by the status function (the `$default` route reaches it):
`/openapi.json`, the whole API's OpenAPI document, and `/docs`, Swagger UI on it (its files
served by `dogdetect.api.page`, from no other host). The document needs the API key when keys
are set; `/docs` asks for it and gives it to Swagger UI's Authorize.

The document is generated from the submit and status apps (`make openapi`) and shipped in this
package; tests/unit/api/test_openapi.py fails when it no longer matches the apps."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from dogdetect.api import page
from dogdetect.api.auth import require_api_key
from dogdetect.api.document import openapi_document
from dogdetect.api.routes import TAGS
from dogdetect.api.schemas import EXAMPLED_MODELS


def openapi() -> JSONResponse:
    return JSONResponse(openapi_document())


def docs(request: Request) -> Response:
    return page.asset_response(request, page.DOCS_PAGE)


def serve_api_description(app: FastAPI) -> None:
    """/openapi.json behind the key; /docs, a page the same for everybody, open: a browser
    cannot send a header with a navigation, so its script asks for the key (`docs.js`)."""
    guarded = [Depends(require_api_key)]
    app.add_api_route("/openapi.json", openapi, dependencies=guarded, include_in_schema=False)
    app.add_api_route("/docs", docs, include_in_schema=False)


DESCRIPTION = """\
Send a photo, get an id back at once, ask later whether the photo contains a dog.

1. `POST /image_prediction` with the photo (up to 4.5 MB; larger ones, up to 25 MB, through
   `POST /image_prediction/uploads`): 202 with the prediction's id.
2. `GET /image_prediction/{image_prediction_id}` until its status is DONE (or ERROR), or once
   with `Prefer: wait=10`; or pass a `webhook` and be told.

When the service has API keys, every route but `/health` needs one in the `X-API-Key` header
(**Authorize** above). Every error is JSON: `{"detail": "..."}`."""
# FastAPI's own 422 (HTTPValidationError), which it documents on every route with a parameter:
# the API answers its own shape (UnprocessableOut), declared by the routes that can answer a
# 422. On the others (a path segment and optional headers, which every request satisfies),
# FastAPI's is dropped.
FASTAPI_422 = {"$ref": "#/components/schemas/HTTPValidationError"}
FASTAPI_422_SCHEMAS = ("HTTPValidationError", "ValidationError")


def merged_openapi(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from the functions' apps (each serves part of the API)."""
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "dog-detector", "version": "1.0.0", "description": DESCRIPTION},
        "tags": TAGS,
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    for part in parts:
        for path, operations in part.get("paths", {}).items():
            # One path may be served by two functions (GET by status, DELETE by submit).
            spec["paths"].setdefault(path, {}).update(operations)
        for kind in ("schemas", "securitySchemes"):
            spec["components"][kind].update(part.get("components", {}).get(kind, {}))
    for operations in spec["paths"].values():
        for operation in operations.values():
            answers = operation["responses"]
            schema = answers.get("422", {}).get("content", {}).get("application/json", {})
            if schema.get("schema") == FASTAPI_422:
                del answers["422"]
    if FASTAPI_422["$ref"] not in json.dumps(spec["paths"]):
        for name in FASTAPI_422_SCHEMAS:
            spec["components"]["schemas"].pop(name, None)
    _restore_nulls(spec["components"]["schemas"])
    return spec


def _restore_nulls(schemas: dict[str, Any]) -> None:
    """FastAPI drops every null from the document it makes (`exclude_none`): an example's
    `"error": null`, and the `default: null` of an optional field, which Swagger UI then
    fills with the placeholder "string" and sends (`webhook=string`, a 422)."""
    for model in EXAMPLED_MODELS:
        if model.__name__ in schemas:
            schemas[model.__name__]["examples"] = model.model_json_schema()["examples"]
    for schema in schemas.values():
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            nullable = {"type": "null"} in prop.get("anyOf", ())
            if nullable and name not in required and "default" not in prop:
                prop["default"] = None
