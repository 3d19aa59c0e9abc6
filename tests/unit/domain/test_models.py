"""Small pure pieces: status and health services, the error table, the queue message format,
API-key comparison, model lookup, and the fakes' own state machine."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import uuid
from pathlib import Path

import dogdetect
import pytest
from dogdetect.adapters.detector.ultralytics import OFFICIAL_WEIGHTS, find_model
from dogdetect.api.app import ERROR_RESPONSES, ERROR_STATUS, status_for
from dogdetect.api.auth import key_matches
from dogdetect.domain import errors
from dogdetect.domain.jobs import MalformedJob, job_to_body, parse_job
from dogdetect.domain.models import FinishedPrediction, Job, Status, image_key_for
from dogdetect.service.health import check_dependencies
from dogdetect.service.read import get_prediction

from tests.fakes import FakeRepository, detection
from tests.unit.conftest import REPO_ROOT

# --- status ------------------------------------------------------------------------------


def test_get_prediction_returns_the_row_asked_for() -> None:
    repo = FakeRepository()
    p = repo.seed(Status.DONE, has_dog=True, detections=[detection()])
    other = repo.seed(Status.PENDING)
    assert get_prediction(str(p.id), repo) is repo.rows[p.id].prediction
    assert get_prediction(str(other.id), repo).status is Status.PENDING
    assert repo.calls == [("get", p.id), ("get", other.id)]


CANONICAL = "8b47e6ec-3c3a-437f-ae10-741ad3ff04e4"
OTHER_SPELLINGS = [
    CANONICAL.upper(),
    "{" + CANONICAL + "}",
    "urn:uuid:" + CANONICAL,
    CANONICAL.replace("-", ""),
    CANONICAL.replace("8", "\u0668"),  # ARABIC-INDIC DIGIT EIGHT, which int() reads as 8
    " " + CANONICAL,
]


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "nope",
        "123",
        "../../etc/passwd",
        "' OR 1=1 --",
        "0" * 33,
        "\x00",
        "é" * 36,
        *OTHER_SPELLINGS,
    ],
)
def test_malformed_id_is_not_found_without_a_lookup(raw: str) -> None:
    repo = FakeRepository()
    with pytest.raises(errors.PredictionNotFound) as caught:
        get_prediction(raw, repo)
    assert repo.calls == []
    assert caught.value.detail == "no prediction with this id"


def test_unknown_id_is_not_found_with_the_same_answer() -> None:
    repo = FakeRepository()
    repo.seed()
    with pytest.raises(errors.PredictionNotFound) as caught:
        get_prediction(str(uuid.uuid4()), repo)
    assert caught.value.detail == "no prediction with this id"


def test_database_down_on_read_is_unavailable() -> None:
    repo = FakeRepository()
    p = repo.seed()
    repo.break_("get")
    with pytest.raises(errors.DependencyUnavailable):
        get_prediction(str(p.id), repo)


# --- health ------------------------------------------------------------------------------


def test_health_reports_each_dependency() -> None:
    up, down = FakeRepository(), FakeRepository()
    down.break_("ping")
    assert check_dependencies({"database": up.ping, "queue": down.ping}) == {
        "database": "ok",
        "queue": "unavailable",
    }


def test_health_does_not_swallow_bugs() -> None:
    def bug() -> None:
        raise RuntimeError("not an outage")

    with pytest.raises(RuntimeError):
        check_dependencies({"database": bug})


# --- the error table ---------------------------------------------------------------------


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_error_status_table() -> None:
    assert {cls.__name__: status for cls, status in ERROR_STATUS.items()} == {
        "EmptyUpload": 400,
        "IdempotencyKeyInvalid": 400,
        "Unauthorized": 401,
        "PredictionNotFound": 404,
        "AnnotationUnavailable": 404,
        "IdempotencyKeyInFlight": 409,
        "UploadTooLarge": 413,
        "UnsupportedImage": 415,
        "ImageTooLarge": 422,
        "MultipleImages": 422,
        "IdempotencyKeyReused": 422,
        "InvalidWebhook": 422,
        "InvalidOptions": 422,
        "InvalidListQuery": 422,
        "TooManyWaits": 429,
        "DependencyUnavailable": 503,
        "DrawingsBusy": 503,
    }

    assert set(ERROR_RESPONSES) == {400, 401, 404, 409, 413, 415, 422, 429, 503}


@pytest.mark.parametrize("error", list(ERROR_STATUS), ids=lambda cls: cls.__name__)
def test_documented_error_model_describes_the_body_sent(error: type[errors.DomainError]) -> None:
    # The OpenAPI document promises, per status, the shape of the body `_domain_error` sends.
    model = ERROR_RESPONSES[ERROR_STATUS[error]]["model"]
    sent = {"detail": error("something went wrong").detail}
    assert model.model_validate(sent).model_dump() == sent


def test_documented_422_model_also_describes_request_validation() -> None:
    problem = {"loc": ["body", "image"], "msg": "Field required", "type": "missing"}
    model = ERROR_RESPONSES[422]["model"]
    assert model.model_validate({"detail": [problem]}).model_dump() == {"detail": [problem]}


def test_every_domain_error_has_a_status() -> None:
    defined = {
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.DomainError)
    } - {errors.DomainError}
    # The table names exactly the errors dogdetect.domain.errors defines: a new one needs a row.
    assert defined == set(ERROR_STATUS)


def test_a_domain_error_defined_elsewhere_inherits_a_status() -> None:
    # One defined in another module of the core must subclass a mapped error, not fall
    # through to 500: load every module (but the Alembic scripts) to see them all.
    for module in pkgutil.walk_packages(dogdetect.__path__, "dogdetect."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    unmapped = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _all_subclasses(errors.DomainError)
        if cls.__module__.startswith("dogdetect.") and status_for(cls("x")) == 500
    ]
    assert unmapped == []


def test_subclass_inherits_its_parents_status() -> None:
    class SvgUpload(errors.UnsupportedImage):
        pass

    assert status_for(SvgUpload("svg")) == 415
    assert status_for(errors.DomainError("unmapped")) == 500


def test_worker_errors_are_not_client_errors() -> None:
    # The worker's own exceptions must never leak to a client as a mapped status.
    assert not issubclass(errors.StoredImageMissing, errors.DomainError)


def test_dependency_unavailable_names_the_dependency() -> None:
    assert "queue" in errors.DependencyUnavailable("queue").detail
    assert errors.DependencyUnavailable("queue", "custom").detail == "custom"


# --- queue message format ----------------------------------------------------------------

JOB = Job(uuid.UUID("0b9e5a3c-1d2f-4a6b-8c7d-9e0f1a2b3c4d"), "bucket", "uploads/x")


def test_job_round_trip() -> None:
    body = job_to_body(JOB)
    assert json.loads(body) == {
        "image_prediction_id": str(JOB.prediction_id),
        "bucket": "bucket",
        "key": "uploads/x",
    }
    assert parse_job(body) == JOB


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "{",
        "null",
        "[]",
        '"a string"',
        "42",
        "{}",
        '{"image_prediction_id": "0b9e5a3c-1d2f-4a6b-8c7d-9e0f1a2b3c4d", "bucket": "b"}',
        '{"image_prediction_id": "0b9e5a3c-1d2f-4a6b-8c7d-9e0f1a2b3c4d", "key": "k"}',
        '{"bucket": "b", "key": "k"}',
        '{"image_prediction_id": "not-a-uuid", "bucket": "b", "key": "k"}',
        '{"image_prediction_id": 12345, "bucket": "b", "key": "k"}',
        '{"image_prediction_id": null, "bucket": "b", "key": "k"}',
    ],
)
def test_malformed_job_is_refused(body: str) -> None:
    with pytest.raises(MalformedJob):
        parse_job(body)


def test_image_key_comes_from_the_id_only() -> None:
    assert image_key_for(JOB.prediction_id) == f"uploads/{JOB.prediction_id}"


# --- API keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provided", "allowed", "expected"),
    [
        ("k1", frozenset({"k1"}), True),
        ("k2", frozenset({"k1", "k2", "k3"}), True),
        ("k1 ", frozenset({"k1"}), False),
        ("K1", frozenset({"k1"}), False),
        ("k", frozenset({"k1"}), False),
        ("", frozenset({"k1"}), False),
        ("k1", frozenset(), False),
        ("ключ", frozenset({"ключ"}), True),
    ],
)
def test_key_matches(provided: str, allowed: frozenset[str], expected: bool) -> None:
    assert key_matches(provided, allowed) is expected


def test_api_key_set_parsing() -> None:
    from dogdetect.config import Settings

    assert Settings(api_keys=" a, b ,,c ").api_key_set == frozenset({"a", "b", "c"})
    assert Settings(api_keys="").api_key_set == frozenset()


# --- model lookup ------------------------------------------------------------------------


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"weights")
    return path


def test_explicit_model_path_wins(tmp_path: Path) -> None:
    explicit = _touch(tmp_path / "custom.pt")
    _touch(tmp_path / "models" / "other.pt")
    assert find_model(str(explicit), [tmp_path]) == str(explicit)


def test_explicit_model_path_must_exist(tmp_path: Path) -> None:
    _touch(tmp_path / "models" / "other.pt")
    with pytest.raises(FileNotFoundError):
        find_model(str(tmp_path / "missing.pt"), [tmp_path])


def test_models_folder_then_shared_models(tmp_path: Path) -> None:
    root = tmp_path / "functions" / "predict"
    root.mkdir(parents=True)
    shared = _touch(tmp_path / "functions" / "shared" / "models" / "s.pt")
    assert find_model(None, [root]) == str(shared)
    local = _touch(root / "models" / "l.pt")
    assert find_model(None, [root]) == str(local)


def test_roots_are_searched_in_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "first", tmp_path / "b" / "second"
    first.mkdir(parents=True)
    in_second = _touch(second / "models" / "m.pt")
    assert find_model(None, [first, second]) == str(in_second)
    in_first_shared = _touch(tmp_path / "a" / "shared" / "models" / "m.pt")
    assert find_model(None, [first, second]) == str(in_first_shared)


def test_backend_preference_within_a_folder(tmp_path: Path) -> None:
    models = tmp_path / "models"
    pt = _touch(models / "a.pt")
    assert find_model(None, [tmp_path]) == str(pt)
    onnx = _touch(models / "z.onnx")
    assert find_model(None, [tmp_path]) == str(onnx)
    (models / "y_openvino_model").mkdir()  # no metadata.yaml: an incomplete export
    assert find_model(None, [tmp_path]) == str(onnx)
    _touch(models / "y_openvino_model" / "metadata.yaml")
    assert find_model(None, [tmp_path]) == str(models / "y_openvino_model")


def test_first_file_in_name_order(tmp_path: Path) -> None:
    _touch(tmp_path / "models" / "b.pt")
    first = _touch(tmp_path / "models" / "a.pt")
    assert find_model(None, [tmp_path]) == str(first)


def test_fallback_to_official_weights(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    _touch(tmp_path / "models" / "readme.txt")
    assert find_model(None, [tmp_path, tmp_path / "nowhere"]) == OFFICIAL_WEIGHTS
    assert find_model("", []) == OFFICIAL_WEIGHTS


def test_api_functions_do_not_import_torch() -> None:
    """submit and status must start fast: neither may pull in ultralytics or torch."""
    script = (
        "import sys; sys.path[:0] = ['layers/core', '.']\n"
        "from tests.unit.conftest import load_function\n"
        "import dogdetect.adapters.detector.ultralytics, dogdetect.adapters.detector.loading\n"
        "load_function('submit'); load_function('status')\n"
        "heavy = sorted(m for m in ('torch', 'ultralytics', 'cv2') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == ""


# --- the fakes follow the PostgreSQL adapter's state machine ------------------------------


@pytest.mark.parametrize(
    ("status", "start", "finish_after_start", "fail"),
    [
        (Status.PENDING, True, True, True),
        (Status.PROCESSING, True, True, True),
        (Status.DONE, False, False, False),
        (Status.ERROR, False, False, False),
    ],
)
def test_fake_repository_transitions(
    status: Status, start: bool, finish_after_start: bool, fail: bool
) -> None:
    repo = FakeRepository()
    p = repo.seed(status)
    assert repo.fail(p.id, "x") is fail
    repo = FakeRepository()
    p = repo.seed(status)
    assert (set(repo.start_processing_many([p.id])) == {p.id}) is start
    assert (repo.finish_many([FinishedPrediction(p.id, True, ())]) == {p.id}) is finish_after_start


def test_fake_repository_finish_needs_processing() -> None:
    repo = FakeRepository()
    p = repo.seed(Status.PENDING)
    assert repo.finish_many([FinishedPrediction(p.id, True, ())]) == set()
    assert repo.status_of(p.id) is Status.PENDING
    assert repo.start_processing_many([uuid.uuid4()]) == {}
