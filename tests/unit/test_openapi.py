"""The OpenAPI document the status function serves is the one the apps describe today."""

from __future__ import annotations

import json

from dogdetect.docs import openapi_document

from local.openapi import current_document


def test_shipped_openapi_document_matches_the_apps() -> None:
    assert openapi_document() == json.loads(current_document()), "run `make openapi`"


def test_document_describes_every_route() -> None:
    paths = openapi_document()["paths"]
    assert set(paths) == {"/health", "/image_prediction", "/image_prediction/{image_prediction_id}"}
