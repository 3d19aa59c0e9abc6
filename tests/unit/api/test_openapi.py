"""The OpenAPI document the status function serves is the one the apps describe today."""

from __future__ import annotations

import json
from typing import Any

from dogdetect.api.docs import openapi_document

from local.openapi import current_document


def test_shipped_openapi_document_matches_the_apps() -> None:
    assert openapi_document() == json.loads(current_document()), "run `make openapi`"


def test_document_describes_every_route() -> None:
    paths = openapi_document()["paths"]
    assert {
        "/health",
        "/image_prediction",
        "/image_prediction/uploads",  # a presigned POST (the submit function)
        "/image_prediction/{image_prediction_id}",
        "/image_prediction/{image_prediction_id}/annotated",
    } == set(paths)
    assert set(paths["/image_prediction/uploads"]) == {"post"}
    # GET is the status function's, DELETE the submit function's: merged, neither lost.
    assert set(paths["/image_prediction/{image_prediction_id}"]) == {"get", "delete"}


def test_the_headers_of_waiting_and_retrying_are_documented() -> None:
    paths = openapi_document()["paths"]

    def headers(operation: dict[str, Any]) -> set[str]:
        return {p["name"].lower() for p in operation["parameters"] if p["in"] == "header"}

    assert "idempotency-key" in headers(paths["/image_prediction"]["post"])
    read = paths["/image_prediction/{image_prediction_id}"]["get"]
    assert "prefer" in headers(read)
    assert "Preference-Applied" in read["responses"]["200"]["headers"]
    assert "409" in paths["/image_prediction"]["post"]["responses"]
    assert "204" in paths["/image_prediction/{image_prediction_id}"]["delete"]["responses"]


def test_the_annotated_photo_is_documented_as_a_jpeg() -> None:
    read = openapi_document()["paths"]["/image_prediction/{image_prediction_id}/annotated"]["get"]
    assert set(read["responses"]["200"]["content"]) == {"image/jpeg"}
    assert "Cache-Control" in read["responses"]["200"]["headers"]
    assert {"401", "404", "503"} <= set(read["responses"])
