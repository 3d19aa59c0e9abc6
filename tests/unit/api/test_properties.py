"""Properties: no byte string makes validation (or decoding) fail with anything but the
decoding errors, and no byte string makes the submit endpoint answer 5xx. (The long,
coverage-guided search is tests/unit/image/test_fuzz.py and scripts/fuzz-decoding.)"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest
from dogdetect.api.app import IMAGE_FIELD_MISSING, IMAGE_FIELD_NOT_A_FILE
from dogdetect.api.auth import require_api_key
from dogdetect.domain.errors import EmptyUpload, UploadTooLarge
from dogdetect.image.decode import IMAGE_ERRORS, decode_rgb, validate_upload
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.corpus import VALID_CASES
from tests.fakes import FakeAdapters
from tests.unit.conftest import submit_deps_for

MAX_BYTES = 1_000_000
MAX_PIXELS = 4_000_000
MAGIC = [
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"GIF87a",
    b"GIF89a",
]
# Seeds to mutate: the accepted corpus but its largest files (each example decodes one).
VALID_IMAGES = [case.data() for case in VALID_CASES if len(case.data()) < 50_000]

# Pillow warns about the corrupt EXIF it meets on the way to refusing the data.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A valid image with a few bytes overwritten, a cut, or an insertion."""
    data = bytearray(draw(st.sampled_from(VALID_IMAGES)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["overwrite", "truncate", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "overwrite" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            del data[pos : pos + draw(st.integers(1, 16))]
    return bytes(data)


magic_then_noise = st.builds(
    lambda magic, tail: magic + tail, st.sampled_from(MAGIC), st.binary(max_size=256)
)
hostile_bytes = st.one_of(st.binary(max_size=512), magic_then_noise, mutated_images())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bytes)
def test_validate_upload_raises_only_domain_errors(data: bytes) -> None:
    try:
        info = validate_upload(data, MAX_BYTES, MAX_PIXELS)
    except (EmptyUpload, UploadTooLarge, *IMAGE_ERRORS):
        return
    assert info.width * info.height <= MAX_PIXELS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bytes)
def test_decode_rgb_raises_only_domain_errors(data: bytes) -> None:
    try:
        image = decode_rgb(data, MAX_PIXELS)
    except IMAGE_ERRORS:
        return
    assert image.ndim == 3 and image.shape[2] == 3


@pytest.fixture(scope="module")
def hostile_client(submit_module: ModuleType) -> Iterator[tuple[TestClient, FakeAdapters]]:
    fakes = FakeAdapters()
    app = submit_module.app
    app.dependency_overrides[submit_module.submit_deps] = lambda: submit_deps_for(fakes)
    app.dependency_overrides[require_api_key] = lambda: None
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, fakes
    finally:
        app.dependency_overrides.clear()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=hostile_bytes, field=st.sampled_from(["image", "image", "file"]))
def test_submit_never_answers_5xx(
    hostile_client: tuple[TestClient, FakeAdapters], data: bytes, field: str
) -> None:
    client, fakes = hostile_client
    before = len(fakes.queue.sent)
    response = client.post("/image_prediction", files={field: ("upload.bin", data)})
    assert response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json() or response.status_code == 202
    if response.status_code == 202:
        assert len(fakes.queue.sent) == before + 1
    else:
        assert len(fakes.queue.sent) == before


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"files": {"file": ("a.jpg", b"\xff\xd8\xff")}}, IMAGE_FIELD_MISSING),
        ({"data": {"image": "a text field"}}, IMAGE_FIELD_NOT_A_FILE),
        ({"files": {"image": ("", b"\xff\xd8\xff")}}, IMAGE_FIELD_NOT_A_FILE),  # no filename
        ({}, IMAGE_FIELD_MISSING),
    ],
    ids=["wrong-field", "text-field", "no-filename", "no-body"],
)
def test_form_errors_are_written_for_the_client(
    hostile_client: tuple[TestClient, FakeAdapters], form: dict[str, object], message: str
) -> None:
    # FastAPI's own text was "Value error, Expected UploadFile, received: <class 'str'>".
    client, _ = hostile_client
    response = client.post("/image_prediction", **form)  # type: ignore[arg-type]
    assert response.status_code == 422
    (problem,) = response.json()["detail"]  # the documented shape: loc, msg, type
    assert problem["loc"] == ["body", "image"]
    assert problem["msg"] == message
    assert problem["type"] and set(problem) == {"loc", "msg", "type"}
