"""Unit-test helpers: function modules loaded by path, a fake Lambda context, stored events,
and the fakes wired into the submit and status apps through FastAPI dependency overrides."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from dogdetect.api.auth import require_api_key
from dogdetect.config import Settings
from dogdetect.runtime import use_cases
from dogdetect.service.submit import SubmitDeps
from fastapi.testclient import TestClient

from tests.fakes import FakeAdapters, FakeQueue, FakeRepository, FakeStorage

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS = REPO_ROOT / "tests" / "events"
LIMITS = Settings()


def load_function(name: str) -> ModuleType:
    """The function's handler module (functions/<name>/app.py re-exports its `handler`)."""
    return importlib.import_module(f"dogdetect.entrypoints.{name}")


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


@dataclass(frozen=True)
class FakeLambdaContext:
    function_name: str = "dogdetect-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:dogdetect-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/dogdetect-test"
    log_stream_name: str = "2024/01/01/[$LATEST]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Wired:
    """The fakes behind an app, and its client."""

    adapters: FakeAdapters
    client: TestClient

    @property
    def repository(self) -> FakeRepository:
        return self.adapters.repository

    @property
    def storage(self) -> FakeStorage:
        return self.adapters.storage

    @property
    def queue(self) -> FakeQueue:
        return self.adapters.queue


def submit_deps_for(fakes: FakeAdapters, settings: Settings = LIMITS) -> SubmitDeps:
    return SubmitDeps(
        repository=fakes.repository,
        storage=fakes.storage,
        queue=fakes.queue,
        max_upload_bytes=settings.max_upload_bytes,
        max_image_pixels=settings.max_image_pixels,
        background=fakes.background,
        confidence_floor=settings.dog_confidence,
        direct_upload_max_bytes=settings.direct_upload_max_bytes,
    )


def _no_api_key() -> None:
    return None


@pytest.fixture(autouse=True)
def _an_event_loop() -> None:
    """Mangum's handler runs the app on the thread's current event loop, which Lambda's
    runtime always has; a test that ran `asyncio.run` before this one leaves none set."""
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture
def fakes() -> FakeAdapters:
    return FakeAdapters()


@pytest.fixture(scope="session")
def submit_module() -> ModuleType:
    return load_function("submit")


@pytest.fixture(scope="session")
def status_module() -> ModuleType:
    return load_function("status")


@contextmanager
def fakes_behind(module: ModuleType, fakes: FakeAdapters) -> Iterator[None]:
    """A function's app with the fakes in place of its adapters, and no API-key check."""
    overrides: dict[Any, Any] = {require_api_key: _no_api_key}
    if hasattr(module, "submit_deps"):
        overrides[module.submit_deps] = lambda: submit_deps_for(fakes)
    if hasattr(module, "repository"):
        overrides[module.repository] = lambda: fakes.repository
        overrides[module.adapters] = lambda: fakes
    if hasattr(module, "lister"):
        overrides[module.lister] = lambda: fakes.repository
    if hasattr(module, "waiting"):
        overrides[module.waiting] = lambda: use_cases.waiting(fakes)  # type: ignore[arg-type]
    if hasattr(module, "drawing"):
        overrides[module.drawing] = lambda: use_cases.drawing(fakes)  # type: ignore[arg-type]
    module.app.dependency_overrides.update(overrides)
    try:
        yield
    finally:
        module.app.dependency_overrides.clear()


@pytest.fixture
def submit_api(submit_module: ModuleType, fakes: FakeAdapters) -> Iterator[Wired]:
    with (
        fakes_behind(submit_module, fakes),
        TestClient(submit_module.app, raise_server_exceptions=False) as client,
    ):
        yield Wired(fakes, client)


@pytest.fixture
def status_api(status_module: ModuleType, fakes: FakeAdapters) -> Iterator[Wired]:
    with (
        fakes_behind(status_module, fakes),
        TestClient(status_module.app, raise_server_exceptions=False) as client,
    ):
        yield Wired(fakes, client)


@pytest.fixture
def submit_handler(submit_module: ModuleType, fakes: FakeAdapters) -> Iterator[Any]:
    """submit's Lambda handler itself, on the fakes."""
    # Requests made through TestClient elsewhere add metrics that no handler flushed.
    submit_module.obs.metrics.clear_metrics()
    with fakes_behind(submit_module, fakes):
        yield submit_module.handler


@pytest.fixture
def status_handler(status_module: ModuleType, fakes: FakeAdapters) -> Iterator[Any]:
    """status's Lambda handler itself, on the fakes."""
    with fakes_behind(status_module, fakes):
        yield status_module.handler


def response_body(result: dict[str, Any]) -> Any:
    """The JSON body of an API Gateway response, base64-encoded or not."""
    raw = result["body"]
    return json.loads(base64.b64decode(raw) if result.get("isBase64Encoded") else raw)
