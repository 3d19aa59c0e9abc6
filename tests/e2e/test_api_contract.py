"""The seed's API contract over HTTP: ids, errors, health, OpenAPI."""

from __future__ import annotations

import uuid

import httpx
import pytest


def test_unknown_id_is_404_json(api: httpx.Client) -> None:
    response = api.get(f"/image_prediction/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"detail": "no prediction with this id"}


@pytest.mark.parametrize("bad_id", ["123", "not-a-uuid", "%00", "1' OR '1'='1"])
def test_malformed_id_is_404_json(api: httpx.Client, bad_id: str) -> None:
    response = api.get(f"/image_prediction/{bad_id}")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_unknown_route_is_404_json(api: httpx.Client) -> None:
    response = api.get("/image_predictions")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no route GET /image_predictions; the routes")
    assert api.get("/image_prediction/").status_code == 404


def test_health_names_every_dependency(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "storage": "ok", "queue": "ok"},
    }


def test_openapi_describes_every_route(api: httpx.Client) -> None:
    spec = api.get("/openapi.json").json()
    assert {path: set(ops) for path, ops in spec["paths"].items()} == {
        "/image_prediction": {"get", "post"},
        "/image_prediction/uploads": {"post"},
        "/image_prediction/{image_prediction_id}": {"get", "delete"},
        "/image_prediction/{image_prediction_id}/annotated": {"get"},
        "/health": {"get"},
    }
    assert "202" in spec["paths"]["/image_prediction"]["post"]["responses"]


def test_docs_page_is_served(api: httpx.Client) -> None:
    response = api.get("/docs")
    assert response.status_code == 200
    # Swagger UI from this service (tests/e2e/test_page.py renders it), on openapi.json.
    assert 'src="assets/swagger-ui/swagger-ui-bundle.js"' in response.text
    assert 'url: "openapi.json"' in api.get("/assets/docs.js").text
