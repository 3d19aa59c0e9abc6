"""Schemathesis against the local gateway's own OpenAPI document (`/openapi.json`): generated
requests to every operation, valid and invalid ones, must never get a 5xx, and every answer must
be documented there: its status code, its content type and its body's schema.

Schemathesis' lazy pytest loader (`schemathesis.pytest.from_fixture`) does not run under
pytest 9, so each operation's Hypothesis strategy is used directly with `@given`."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from local.launcher import RunningStack

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    ("POST", "/image_prediction"),  # with an Idempotency-Key header, or without
    ("POST", "/image_prediction/uploads"),  # a presigned POST; its rows expire unused
    ("GET", "/image_prediction"),  # the list: limit, cursor, status
    ("GET", "/image_prediction/{image_prediction_id}"),  # with a Prefer header, or without
    ("DELETE", "/image_prediction/{image_prediction_id}"),
    ("GET", "/image_prediction/{image_prediction_id}/annotated"),  # JSON 404, or a JPEG
    ("GET", "/health"),
]
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
# Negative data needs a constraint to break: the upload has them (a required binary field,
# the Idempotency-Key's pattern), and the list (limit's range, status's values); the id and
# Prefer are any string and /health takes nothing, so there is nothing to negate there.
RUNS = [(*op, POSITIVE) for op in OPERATIONS] + [
    ("POST", "/image_prediction", NEGATIVE),
    ("GET", "/image_prediction", NEGATIVE),
]
BOUNDED = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def gateway_schema(stack: RunningStack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json", timeout=30)


def test_every_operation_is_fuzzed(gateway_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in gateway_schema.get_all_operations()]
    documented = {(op.method.upper(), op.path) for op in operations}
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path", "mode"), RUNS, ids=[f"{m} {p} {g.value}" for m, p, g in RUNS]
)
def test_operation_honours_the_openapi(
    gateway_schema: schemathesis.BaseSchema,
    stack: RunningStack,
    method: str,
    path: str,
    mode: schemathesis.GenerationMode,
) -> None:
    operation = gateway_schema[path][method]
    seen: set[int] = set()

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=stack.api_url, checks=CHECKS, timeout=30)
        seen.add(response.status_code)

    run()
    assert seen, "no request was made"
    assert all(status < 500 for status in seen)


def test_validation_error_matches_the_documented_422(api: httpx.Client) -> None:
    # A wrong form field: FastAPI's list of problems must fit the 422 schema of the spec.
    response = api.post("/image_prediction", files={"file": ("a.jpg", b"\xff\xd8\xff")})
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
