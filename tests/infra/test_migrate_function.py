"""The migration custom resource's handler: what it answers CloudFormation for each request,
with the migration and the answer's transport passed in as fakes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from dogdetect.adapters.cloudformation import put_response
from sqlalchemy.engine import URL

from local.functions import load_function
from tests.unit.conftest import FakeLambdaContext

migrate_app = load_function("migrate")


def event(request_type: str, **extra: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/x?sig=1",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/dogdetect/1",
        "RequestId": "r-1",
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceProperties": {"MigrationsVersion": "1"},
        **extra,
    }


class Answers:
    """Records what the handler PUTs to CloudFormation."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes) -> int:
        self.sent.append((url, json.loads(body)))
        return 200

    @property
    def only(self) -> dict[str, Any]:
        ((_, body),) = self.sent
        return body


def run(request: dict[str, Any], migrate: Callable[[], str]) -> Answers:
    answers = Answers()
    migrate_app.handler(request, FakeLambdaContext(), migrate=migrate, respond=answers)
    return answers


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_migrate_and_succeed(request_type: str) -> None:
    calls: list[str] = []
    answers = run(event(request_type), lambda: calls.append("up") or "schema upgraded to head")
    assert calls == ["up"]
    ((url, body),) = answers.sent
    assert url.startswith("https://")
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == migrate_app.PHYSICAL_RESOURCE_ID
    assert (body["RequestId"], body["LogicalResourceId"]) == ("r-1", "DatabaseMigrations")
    assert body["Data"] == {"Message": "schema upgraded to head"}


def test_delete_leaves_the_schema() -> None:
    calls: list[str] = []
    answers = run(event("Delete", PhysicalResourceId="kept"), lambda: calls.append("up") or "")
    assert calls == []
    assert answers.only["Status"] == "SUCCESS" and answers.only["PhysicalResourceId"] == "kept"


def test_a_failed_migration_fails_the_deploy_with_the_reason() -> None:
    def broken() -> str:
        raise RuntimeError("relation already exists")

    body = run(event("Create"), broken).only
    assert body["Status"] == "FAILED"
    assert body["Reason"].startswith("RuntimeError: relation already exists")


def test_the_real_password_reaches_alembic() -> None:
    url = URL.create("postgresql+pg8000", username="u", password="p@ss/word", host="proxy")
    assert "***" not in migrate_app.url_string(url)
    assert "p%40ss%2Fword@proxy" in migrate_app.url_string(url)


def test_only_https_response_urls() -> None:
    with pytest.raises(ValueError, match="https"):
        put_response("file:///etc/passwd", b"{}")
