"""The migration custom resource's function: what it runs and what it tells CloudFormation."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from alembic.util import CommandError
from sqlalchemy.engine import URL

from tests.infra.conftest import REPO_ROOT


@dataclass
class Context:
    function_name: str = "migrate"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:migrate"
    aws_request_id: str = "request-1"
    log_stream_name: str = "2026/01/01/[$LATEST]abc"


@pytest.fixture
def migrate_app(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, dict[str, Any]]:
    spec = importlib.util.spec_from_file_location(
        "migrate_function_app", REPO_ROOT / "functions" / "migrate" / "app.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seen: dict[str, Any] = {"upgrades": [], "responses": []}

    def urlopen(request: Any, timeout: float) -> Any:
        seen["responses"].append((request.full_url, request.get_method(), json.loads(request.data)))

        class Response:
            status = 200

            def __enter__(self) -> Response:
                return self

            def __exit__(self, *exc: object) -> None:
                return None

        return Response()

    monkeypatch.setattr(module.urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(
        module,
        "database_url",
        lambda settings: URL.create(
            "postgresql+pg8000", username="u", password="p@ss/word", host="proxy", database="d"
        ),
    )
    monkeypatch.setattr(module, "upgrade", lambda url, tls=False: seen["upgrades"].append(url))
    return module, seen


def event(request_type: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-custom-resource-response.s3.amazonaws.com/x?sig=1",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/dogdetect/1",
        "RequestId": "r-1",
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceProperties": {"MigrationsVersion": "1"},
    }


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_upgrades_with_the_real_password(
    migrate_app: tuple[ModuleType, dict[str, Any]], request_type: str
) -> None:
    module, seen = migrate_app
    module.handler(event(request_type), Context())
    (url,) = seen["upgrades"]
    assert "***" not in url and "p%40ss%2Fword@proxy" in url
    ((target, method, body),) = seen["responses"]
    assert method == "PUT" and target.startswith("https://")
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == module.PHYSICAL_RESOURCE_ID
    assert (body["RequestId"], body["LogicalResourceId"]) == ("r-1", "DatabaseMigrations")


def test_delete_leaves_the_schema(migrate_app: tuple[ModuleType, dict[str, Any]]) -> None:
    module, seen = migrate_app
    module.handler({**event("Delete"), "PhysicalResourceId": "kept"}, Context())
    assert seen["upgrades"] == []
    ((_, _, body),) = seen["responses"]
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "kept"


def test_a_failed_migration_fails_the_deploy(
    migrate_app: tuple[ModuleType, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, seen = migrate_app

    def broken(url: str, tls: bool = False) -> None:
        raise RuntimeError("relation already exists")

    monkeypatch.setattr(module, "upgrade", broken)
    module.handler(event("Create"), Context())
    ((_, _, body),) = seen["responses"]
    assert body["Status"] == "FAILED"
    assert "relation already exists" in body["Reason"]
    assert "p@ss" not in json.dumps(body)


@pytest.mark.parametrize(("request_type", "status"), [("Update", "SUCCESS"), ("Create", "FAILED")])
def test_rollback_onto_a_newer_schema(
    migrate_app: tuple[ModuleType, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    request_type: str,
    status: str,
) -> None:
    module, seen = migrate_app

    def newer(url: str, tls: bool = False) -> None:
        raise CommandError("Can't locate revision identified by '0002'")

    monkeypatch.setattr(module, "upgrade", newer)
    module.handler(event(request_type), Context())
    ((_, _, body),) = seen["responses"]
    assert body["Status"] == status


def test_refuses_a_non_https_response_url(
    migrate_app: tuple[ModuleType, dict[str, Any]],
) -> None:
    module, _ = migrate_app
    with pytest.raises(ValueError, match="https"):
        module.handler({**event("Delete"), "ResponseURL": "file:///etc/passwd"}, Context())
