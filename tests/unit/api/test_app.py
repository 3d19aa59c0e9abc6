"""The submit and status FastAPI apps with fakes injected through dependency_overrides."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import ModuleType

import httpx
import pytest
from dogdetect.api import page as web
from dogdetect.api.auth import current_settings, require_api_key
from dogdetect.config import Settings
from dogdetect.domain.models import Status
from fastapi.testclient import TestClient

from tests import corpus
from tests.corpus import CASES, CorpusCase
from tests.fakes import FakeAdapters, detection
from tests.unit.conftest import Wired, submit_deps_for

UUID_KEYS = {"image_prediction_id", "status", "has_dog", "options"}


def post_image(client: TestClient, data: bytes, field: str = "image") -> httpx.Response:
    return client.post("/image_prediction", files={field: ("photo", data, "image/jpeg")})


def assert_json_error(response: httpx.Response, status: int) -> object:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail"}
    return body["detail"]


# --- submit ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_through_submit(submit_api: Wired, case: CorpusCase) -> None:
    response = post_image(submit_api.client, case.data())
    if case.accepted:
        assert response.status_code == 202, response.text
        assert len(submit_api.queue.sent) == 1
    else:
        detail = assert_json_error(response, case.expected_status)
        assert isinstance(detail, str) and detail
        assert submit_api.queue.sent == [] and submit_api.storage.objects == {}
        assert submit_api.repository.rows == {}


def test_accepted_body_and_location(submit_api: Wired) -> None:
    response = submit_api.client.post(
        "/image_prediction", files={"image": ("dog.png", corpus.png(), "image/png")}
    )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == UUID_KEYS
    assert body["status"] == "PENDING" and body["has_dog"] is None
    pid = uuid.UUID(body["image_prediction_id"])
    assert response.headers["location"] == f"/image_prediction/{pid}"
    assert submit_api.repository.status_of(pid) is Status.PENDING
    assert submit_api.storage.objects[f"uploads/{pid}"] == corpus.png()


def test_client_filename_and_content_type_are_ignored(submit_api: Wired) -> None:
    response = submit_api.client.post(
        "/image_prediction",
        files={"image": ("../../etc/passwd.html", corpus.png(), "text/html")},
    )
    assert response.status_code == 202
    (key,) = submit_api.storage.objects
    assert key.startswith("uploads/") and ".." not in key
    response = submit_api.client.post(
        "/image_prediction", files={"image": ("dog.jpg", corpus.html(), "image/jpeg")}
    )
    assert_json_error(response, 415)


def test_wrong_form_field_is_422_json(submit_api: Wired) -> None:
    response = post_image(submit_api.client, corpus.png(), field="file")
    detail = assert_json_error(response, 422)
    assert isinstance(detail, list) and detail
    assert detail[0]["loc"] == ["body", "image"]
    assert submit_api.repository.calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"data": {"image": "not a file"}},
        {"content": b"raw bytes", "headers": {"content-type": "image/png"}},
        {"json": {"image": "aGVsbG8="}},
    ],
    ids=["no-body", "text-field", "raw-body", "json-body"],
)
def test_missing_upload_is_422_json(submit_api: Wired, kwargs: dict[str, object]) -> None:
    response = submit_api.client.post("/image_prediction", **kwargs)  # type: ignore[arg-type]
    detail = assert_json_error(response, 422)
    assert isinstance(detail, list)
    assert submit_api.queue.sent == []


@pytest.mark.parametrize(
    ("broken", "operation"),
    [("repository", "add_pending"), ("storage", "put"), ("queue", "send")],
)
def test_dependency_down_is_503_with_retry_after(
    submit_api: Wired, broken: str, operation: str
) -> None:
    getattr(submit_api.adapters, broken).break_(operation)
    response = post_image(submit_api.client, corpus.png())
    assert "unavailable" in str(assert_json_error(response, 503))
    assert response.headers["retry-after"] == "1"
    assert submit_api.repository.rows == {} and submit_api.queue.sent == []


def test_unexpected_error_is_500_json_without_internals(submit_api: Wired) -> None:
    leak = RuntimeError("secret connection string postgres://user:pw@host")
    submit_api.repository.raise_on("add_pending", leak)
    response = post_image(submit_api.client, corpus.png())
    assert assert_json_error(response, 500) == "internal error"
    assert "secret" not in response.text


ROUTES = (
    "GET /health, GET /image_prediction, POST /image_prediction, POST /image_prediction/uploads,"
    " GET /image_prediction/{image_prediction_id}, DELETE /image_prediction/{image_prediction_id},"
    " GET /image_prediction/{image_prediction_id}/annotated"
)


@pytest.mark.parametrize("api", ["submit_api", "status_api"])
def test_unknown_route_names_the_routes(api: str, request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue(api).client
    detail = assert_json_error(client.get("/image_predictions"), 404)
    routes = f"the routes are: {ROUTES} (described at /docs)"
    assert detail == f"no route GET /image_predictions; {routes}"
    detail = assert_json_error(client.post("/image_prediction/"), 404)
    assert isinstance(detail, str)
    assert detail.startswith("no route POST /image_prediction/ (leave out the trailing slash);")


PREDICTION_PATH = "/image_prediction/6f1c2a8e-4b7d-4e3a-9c5f-2d8b1e0a7c34"


@pytest.mark.parametrize(
    ("method", "path", "route", "allowed"),
    [
        ("PUT", PREDICTION_PATH, "/image_prediction/{image_prediction_id}", "GET, DELETE"),
        ("PATCH", "/image_prediction", "/image_prediction", "GET, POST"),
        ("PUT", "/image_prediction/uploads", "/image_prediction/uploads", "POST"),
        ("POST", "/health", "/health", "GET"),
    ],
)
def test_a_wrong_method_lists_every_method_of_the_path(
    status_api: Wired, method: str, path: str, route: str, allowed: str
) -> None:
    response = status_api.client.request(method, path)
    detail = assert_json_error(response, 405)
    assert response.headers["allow"] == allowed
    assert detail == f"{route} does not take {method}: it takes {allowed}"


def test_a_wrong_method_on_the_page_keeps_its_own_allow(status_api: Wired) -> None:
    response = status_api.client.post("/")
    assert_json_error(response, 405)
    assert response.headers["allow"] == "GET"


# --- API keys: the real check, with the settings injected --------------------------------


@pytest.fixture
def keyed_submit(submit_module: ModuleType, fakes: FakeAdapters) -> Iterator[TestClient]:
    app = submit_module.app
    app.dependency_overrides[submit_module.submit_deps] = lambda: submit_deps_for(fakes)
    app.dependency_overrides[current_settings] = lambda: Settings(api_keys="s3cret, other")
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def test_api_key_required_when_configured(keyed_submit: TestClient, fakes: FakeAdapters) -> None:
    files = {"image": ("d.png", corpus.png())}
    assert_json_error(keyed_submit.post("/image_prediction", files=files), 401)
    bad = keyed_submit.post("/image_prediction", files=files, headers={"X-API-Key": "nope"})
    assert_json_error(bad, 401)
    assert fakes.repository.calls == []
    ok = keyed_submit.post("/image_prediction", files=files, headers={"X-API-Key": "other"})
    assert ok.status_code == 202


def test_routes_declare_the_api_key_dependency(
    submit_module: ModuleType, status_module: ModuleType
) -> None:
    def guarded(module: ModuleType) -> dict[str, bool]:
        result = {}
        for route in module.app.routes:
            deps = getattr(route, "dependant", None)
            if deps is None:
                continue
            result[route.path] = any(d.call is require_api_key for d in deps.dependencies)
        return result

    assert guarded(submit_module) == {
        "/image_prediction": True,
        "/image_prediction/uploads": True,
        "/image_prediction/{image_prediction_id}": True,  # DELETE
    }
    assert guarded(status_module) == {
        "/image_prediction": True,  # the list
        "/image_prediction/{image_prediction_id}": True,
        "/image_prediction/{image_prediction_id}/annotated": True,
        "/openapi.json": True,
        "/docs": False,  # open: its script asks for the key that /openapi.json needs
        "/health": False,
        # The page and the static files: the same for everybody, no data (dogdetect.api.page).
        **dict.fromkeys(web.PUBLIC, False),
    }


# --- status ------------------------------------------------------------------------------


def test_status_of_a_done_prediction(status_api: Wired) -> None:
    p = status_api.repository.seed(
        Status.DONE, has_dog=True, detections=[detection("dog", 0.91), detection("cat", 0.3)]
    )
    response = status_api.client.get(f"/image_prediction/{p.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["image_prediction_id"] == str(p.id)
    assert body["status"] == "DONE" and body["has_dog"] is True and body["error"] is None
    assert body["detections"] == [
        {"label": "dog", "confidence": 0.91, "box": {"x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 20.0}},
        {"label": "cat", "confidence": 0.3, "box": {"x1": 1.0, "y1": 2.0, "x2": 30.0, "y2": 20.0}},
    ]
    assert {"created_at", "updated_at"} <= set(body)


def test_status_of_pending_and_error(status_api: Wired) -> None:
    pending = status_api.repository.seed(Status.PENDING)
    body = status_api.client.get(f"/image_prediction/{pending.id}").json()
    assert (body["status"], body["has_dog"], body["detections"]) == ("PENDING", None, [])
    failed = status_api.repository.seed(Status.ERROR, error="image could not be decoded")
    body = status_api.client.get(f"/image_prediction/{failed.id}").json()
    assert (body["status"], body["error"]) == ("ERROR", "image could not be decoded")


@pytest.mark.parametrize("raw", [str(uuid.uuid4()), "not-a-uuid", "1", "%27%20OR%201=1"])
def test_status_unknown_or_malformed_is_404_json(status_api: Wired, raw: str) -> None:
    status_api.repository.seed(Status.DONE)
    detail = assert_json_error(status_api.client.get(f"/image_prediction/{raw}"), 404)
    assert detail == "no prediction with this id"


def test_status_database_down_is_503(status_api: Wired) -> None:
    p = status_api.repository.seed()
    status_api.repository.break_("get")
    response = status_api.client.get(f"/image_prediction/{p.id}")
    assert_json_error(response, 503)
    assert response.headers["retry-after"] == "1"


def test_health_ok(status_api: Wired) -> None:
    response = status_api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "storage": "ok", "queue": "ok"},
    }


@pytest.mark.parametrize("broken", ["repository", "storage", "queue"])
def test_health_names_the_dependency_that_is_down(status_api: Wired, broken: str) -> None:
    getattr(status_api.adapters, broken).break_("ping")
    response = status_api.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    name = {"repository": "database"}.get(broken, broken)
    assert body["checks"][name] == "unavailable"
    assert sorted(body["checks"].values()).count("ok") == 2
