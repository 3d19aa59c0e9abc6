"""Every hostile or odd upload over real HTTP gets its documented answer, always JSON."""

from __future__ import annotations

import httpx
import pytest
from dogdetect.domain.limits import LAMBDA_PAYLOAD_LIMIT_BYTES

from tests.conftest import submit, wait_terminal
from tests.corpus import CASES, CorpusCase

REJECTED = [c for c in CASES if not c.accepted]
ACCEPTED = [c for c in CASES if c.accepted]


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: c.name)
def test_rejected_upload_gets_json_4xx(api: httpx.Client, case: CorpusCase) -> None:
    response = submit(api, case.data(), f"{case.name}.jpg")  # the name lies: it must not matter
    assert response.status_code == case.expected_status, response.text
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.name)
def test_accepted_format_ends_done(api: httpx.Client, case: CorpusCase) -> None:
    response = submit(api, case.data(), "no-extension")
    assert response.status_code == 202, response.text
    result = wait_terminal(api, response.json()["image_prediction_id"])
    assert result["status"] == "DONE", result
    assert result["has_dog"] is False  # synthetic gradients contain no dog


def test_wrong_form_field_is_422_json(api: httpx.Client) -> None:
    response = api.post("/image_prediction", files={"file": ("a.jpg", b"\xff\xd8\xff")})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "image"]
    assert problem["msg"] == "send the photo as a file in the multipart form field 'image'"


def test_text_where_the_photo_belongs_is_422_in_words(api: httpx.Client) -> None:
    response = api.post("/image_prediction", data={"image": "not a file"})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert "UploadFile" not in problem["msg"]
    assert problem["msg"] == (
        "the form field 'image' must be a file (a multipart part with a filename), not text"
    )


def test_no_body_is_422_json(api: httpx.Client) -> None:
    response = api.post("/image_prediction")
    assert response.status_code == 422
    assert "detail" in response.json()


def test_lying_content_type_is_judged_by_the_bytes(api: httpx.Client) -> None:
    response = api.post(
        "/image_prediction", files={"image": ("cat.png", b"<html>hi</html>", "image/png")}
    )
    assert response.status_code == 415


def test_request_over_the_lambda_payload_limit_is_413_json(api: httpx.Client) -> None:
    response = submit(api, b"\xff\xd8\xff" + b"\0" * LAMBDA_PAYLOAD_LIMIT_BYTES)
    assert response.status_code == 413
    assert response.json() == {"message": "Request Entity Too Large"}  # API Gateway's answer


def test_two_files_in_one_request_is_422_and_stores_nothing(api: httpx.Client) -> None:
    png = next(c for c in CASES if c.name == "png").data()
    response = api.post(
        "/image_prediction", files=[("image", ("a.png", png)), ("image", ("b.png", png))]
    )
    assert response.status_code == 422
    assert response.json() == {"detail": "send exactly one file in the form field 'image'"}


@pytest.mark.parametrize(
    "filename",
    [
        "🐕" * 200 + ".jpg",  # 800 bytes of emoji
        "../../etc/passwd",
        "dog\u202egpj.exe",  # right-to-left override
        "nul\x00byte.jpg",
    ],
    ids=["emoji", "traversal", "rtl-override", "nul-byte"],
)
def test_odd_filenames_do_not_matter(api: httpx.Client, filename: str) -> None:
    png = next(c for c in CASES if c.name == "png").data()
    response = api.post("/image_prediction", files={"image": (filename, png, "image/png")})
    assert response.status_code == 202, response.text
    result = wait_terminal(api, response.json()["image_prediction_id"])
    assert result["status"] == "DONE"


def test_huge_filename_is_400_json(api: httpx.Client) -> None:
    """A part header beyond the multipart parser's limit is malformed multipart: 400."""
    png = next(c for c in CASES if c.name == "png").data()
    response = api.post("/image_prediction", files={"image": ("🐕" * 20_000, png)})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid multipart data."}


def test_part_without_filename_is_not_a_file_422(api: httpx.Client) -> None:
    """Multipart without a filename is a text field, not an upload."""
    png = next(c for c in CASES if c.name == "png").data()
    response = api.post("/image_prediction", files={"image": ("", png)})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "image"]
