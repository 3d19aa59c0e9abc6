"""The OpenAPI document the status function serves is the one the apps describe today."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from dogdetect.api.auth import current_settings, require_api_key
from dogdetect.api.document import openapi_document
from dogdetect.api.routes import PREDICTION
from dogdetect.config import Settings
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from local.openapi import current_document
from tests import corpus
from tests.unit.conftest import Wired


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
    assert "Location" in paths["/image_prediction"]["post"]["responses"]["202"]["headers"]
    assert "Location" in paths["/image_prediction/uploads"]["post"]["responses"]["201"]["headers"]
    assert "204" in paths["/image_prediction/{image_prediction_id}"]["delete"]["responses"]


def test_the_annotated_photo_is_documented_as_a_jpeg() -> None:
    read = openapi_document()["paths"]["/image_prediction/{image_prediction_id}/annotated"]["get"]
    assert set(read["responses"]["200"]["content"]) == {"image/jpeg"}
    assert "Cache-Control" in read["responses"]["200"]["headers"]
    assert {"401", "404", "503"} <= set(read["responses"])


# --- a document a user can work from (Swagger UI at /docs) --------------------------------

OPERATIONS = [
    (path, method, operation)
    for path, operations in openapi_document()["paths"].items()
    for method, operation in operations.items()
]
OPERATION_IDS = [f"{method.upper()} {path}" for path, method, _ in OPERATIONS]
# What Swagger UI and the generators put where a document gives no example.
PLACEHOLDERS = {"string", "additionalProp1", "additionalProp2", "additionalProp3"}


@pytest.mark.parametrize(
    "document",
    [openapi_document(), json.loads(current_document())],
    ids=["shipped", "generated"],
)
def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # openapi-spec-validator: OpenAPI 3.1's schema and its references


def test_a_broken_document_is_refused() -> None:
    broken = copy.deepcopy(openapi_document())
    del broken["paths"]["/health"]["get"]["responses"]["200"]["description"]  # required
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=OPERATION_IDS)
def test_every_operation_is_described_and_tagged(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    declared = {tag["name"] for tag in openapi_document()["tags"]}
    assert operation.get("summary") and operation.get("description"), (method, path)
    assert operation.get("tags") and set(operation["tags"]) <= declared, (method, path)
    for parameter in operation.get("parameters", []):
        assert parameter.get("description"), (method, path, parameter["name"])
    for status, answer in operation["responses"].items():
        assert answer.get("description"), (method, path, status)
        if status.startswith(("4", "5")):
            media = answer.get("content", {}).get("application/json", {})
            assert media.get("example") or media.get("examples"), (method, path, status)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=OPERATION_IDS)
def test_a_request_that_can_be_refused_as_unreadable_documents_the_apis_422(
    path: str, method: str, operation: dict[str, Any]
) -> None:
    queried = any(p["in"] == "query" for p in operation.get("parameters", []))
    if "requestBody" in operation or queried:
        schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/UnprocessableOut"}, (method, path)
    # FastAPI's own 422 shape is documented nowhere: the API never answers it.
    assert "HTTPValidationError" not in json.dumps(operation)


def test_every_schema_and_property_is_described() -> None:
    for name, schema in openapi_document()["components"]["schemas"].items():
        if name.startswith("Body_"):  # FastAPI's form bodies: their fields are described
            assert all(p.get("description") for p in schema["properties"].values()), name
            continue
        if "properties" in schema:  # an enum (Status) is described where it is used
            assert schema.get("description"), name
        for prop, declared in schema.get("properties", {}).items():
            assert declared.get("description"), f"{name}.{prop}"


def _examples(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "example":
                yield value
            elif key == "examples":
                yield from value.values() if isinstance(value, dict) else value
            else:
                yield from _examples(value)
    elif isinstance(node, list):
        for item in node:
            yield from _examples(item)


def _scalars_and_keys(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _scalars_and_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _scalars_and_keys(item)
    else:
        yield node


def test_examples_are_real_values_not_placeholders() -> None:
    examples = list(_examples(openapi_document()))
    assert len(examples) >= 20  # the walk finds them: every model and error has some
    for example in examples:
        found = PLACEHOLDERS & {v for v in _scalars_and_keys(example) if isinstance(v, str)}
        assert not found, example
    schemas = openapi_document()["components"]["schemas"]
    for name in ("PredictionOut", "DirectUploadCreated", "SubmitAccepted", "HealthOut"):
        (example,) = schemas[name]["examples"]
        assert set(example) == set(schemas[name]["properties"]), name  # nulls kept too
    dog = schemas["PredictionOut"]["examples"][0]
    assert dog["has_dog"] is True and dog["error"] is None
    assert {d["label"] for d in dog["detections"]} >= {"dog"}


def test_optional_form_fields_are_left_empty_by_swagger_ui() -> None:
    """Swagger UI fills a form field with its schema's example, else its default, else a
    placeholder ("string"), and sends what is filled: an optional field must have no
    example and a null default (an empty field is not sent)."""
    schemas = openapi_document()["components"]["schemas"]
    bodies = [schema for name, schema in schemas.items() if name.startswith("Body_")]
    assert len(bodies) == 2
    for body in bodies:
        for name, prop in body["properties"].items():
            if name in body.get("required", ()):
                continue
            assert "example" not in prop and "examples" not in prop, name
            assert prop.get("default", "absent") is None, name
    webhook = schemas["Body_create_prediction_image_prediction_post"]["properties"]["webhook"]
    assert webhook["default"] is None


def test_the_api_key_is_a_security_scheme_on_every_route_but_health() -> None:
    document = openapi_document()
    assert document["components"]["securitySchemes"] == {
        "ApiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": document["components"]["securitySchemes"]["ApiKey"]["description"],
        }
    }
    for path, method, operation in OPERATIONS:
        names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert "x-api-key" not in names, (method, path)  # sent by Authorize, not typed in
        expected = None if path == "/health" else [{"ApiKey": []}]
        assert operation.get("security") == expected, (method, path)


def _documented(path: str, method: str, status: int) -> list[Any]:
    answer = openapi_document()["paths"][path][method]["responses"][str(status)]
    media = answer["content"]["application/json"]
    return (
        [e["value"] for e in media["examples"].values()]
        if "examples" in media
        else [media["example"]]
    )


def test_documented_errors_are_what_the_api_answers(submit_api: Wired, status_api: Wired) -> None:
    submit, status = submit_api.client, status_api.client
    answers = [
        (
            "/image_prediction",
            "post",
            submit.post("/image_prediction", files={"image": ("a", b"")}),
        ),
        ("/image_prediction", "post", submit.post("/image_prediction", data={"x": "1"})),
        (
            "/image_prediction",
            "post",
            submit.post(
                "/image_prediction", files={"image": ("a.jpg", b"<html></html>", "image/jpeg")}
            ),
        ),
        (
            "/image_prediction",
            "post",
            submit.post(
                "/image_prediction",
                files={"image": ("a.png", corpus.png(), "image/png")},
                data={"webhook": "http://example.com/hook"},
            ),
        ),
        (
            "/image_prediction",
            "post",
            submit.post(
                "/image_prediction",
                files={"image": ("a.png", corpus.png(), "image/png")},
                headers={"Idempotency-Key": "x" * 256},
            ),
        ),
        (
            "/image_prediction",
            "post",
            submit.post("/image_prediction", files={"image": ("a.jpg", b"x" * 4_500_001)}),
        ),
        (
            "/image_prediction/uploads",
            "post",
            submit.post("/image_prediction/uploads", data={"webhook": ""}),
        ),
        (
            "/image_prediction/uploads",
            "post",
            submit.post("/image_prediction/uploads", headers={"Idempotency-Key": ""}),
        ),
        (PREDICTION, "get", status.get(f"/image_prediction/{uuid.uuid4()}")),
        (PREDICTION, "delete", submit.delete(f"/image_prediction/{uuid.uuid4()}")),
        (
            f"{PREDICTION}/annotated",
            "get",
            status.get(f"/image_prediction/{uuid.uuid4()}/annotated"),
        ),
    ]
    for path, method, response in answers:
        assert response.json() in _documented(path, method, response.status_code), response.text


def test_the_documented_401_is_what_the_api_answers(
    status_module: ModuleType, status_api: Wired
) -> None:
    app = status_module.app
    del app.dependency_overrides[require_api_key]
    app.dependency_overrides[current_settings] = lambda: Settings(api_keys="s3cret")
    response = status_api.client.get(f"/image_prediction/{uuid.uuid4()}")
    assert response.status_code == 401
    assert response.json() in _documented(PREDICTION, "get", 401)
    # The key goes in the header the security scheme names.
    authorized = status_api.client.get(
        f"/image_prediction/{uuid.uuid4()}", headers={"X-API-Key": "s3cret"}
    )
    assert authorized.status_code == 404
