"""The page at GET / and /docs in a real headless Chromium (tests/browser.py): a photo chosen
through the file input goes through the whole local stack, and the boxes of its prediction are
found on a screenshot of the canvas; the browser asks no host but 127.0.0.1 and logs no error.
A 12 MB photo goes through POST /image_prediction/uploads and the presigned POST to the local
bucket (its CORS rules, as the template's); labels never overlap; a refusal is shown as one,
never as a photo without boxes. A small fake API (the real page files, answers scripted) shows
what the stack cannot on demand: plain polling when Prefer: wait is not honoured, the API key
field and Retry, a dropped file."""

from __future__ import annotations

import io
import itertools
import json
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn
from dogdetect.api import page as web
from dogdetect.config import Settings
from dogdetect.image.draw import overlaps
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image, ImageOps
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from local.launcher import RunningStack
from tests.browser import (
    colour_mask,
    console_errors,
    edge_coverage,
    foreign,
    requested_urls,
)
from tests.conftest import eventually
from tests.photos import SHARED_IMAGES

DOG_PHOTO = SHARED_IMAGES / "dog.jpg"
# page.js's BOX_COLOURS.
DOG_COLOUR, OTHER_COLOUR = "#ff00aa", "#00c8ff"
MIN_COVERAGE = 0.9  # of the points along each edge; labels and crossing boxes hide a few
ASSET_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')


PROBLEMS = ("ERROR", "Not accepted", "Could not", "Storage", "The service is not")


def _wait_for_status(driver: webdriver.Chrome, prefix: str, timeout: float = 120) -> str:
    def settled(d: webdriver.Chrome) -> str | bool:
        text: str = d.find_element(By.ID, "status").text
        if text.startswith(prefix):
            return text
        assert not text.startswith(PROBLEMS), text
        return False

    result: str = WebDriverWait(driver, timeout, poll_frequency=0.2).until(settled)
    return result


def _canvas_shot(driver: webdriver.Chrome) -> Image.Image:
    canvas = driver.find_element(By.ID, "photo-canvas")
    return Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB")


def _photo(path: Path = DOG_PHOTO) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(path)).convert("RGB")


def _assert_boxes_drawn(
    shot: Image.Image, detections: list[dict[str, Any]], path: Path = DOG_PHOTO
) -> None:
    photo = _photo(path)
    scale = shot.width / photo.width
    assert abs(shot.height - photo.height * scale) <= 2, "the canvas keeps the photo's shape"
    # The photo itself is on the canvas (boxes and labels cover a small part of it).
    drawn = np.asarray(shot.convert("L")).astype(int)
    expected = np.asarray(photo.resize(shot.size).convert("L")).astype(int)
    assert np.abs(drawn - expected).mean() < 25
    masks = {
        DOG_COLOUR: colour_mask(shot, DOG_COLOUR),
        OTHER_COLOUR: colour_mask(shot, OTHER_COLOUR),
    }
    for mask in masks.values():
        assert mask.mean() < 0.2, "a box colour all over the canvas proves nothing"
    checked = 0
    for detection in detections:
        box = [detection["box"][k] for k in ("x1", "y1", "x2", "y2")]
        if min(box[2] - box[0], box[3] - box[1]) * scale < 12:
            continue  # too small to tell its edges apart
        colour = DOG_COLOUR if detection["label"] == "dog" else OTHER_COLOUR
        coverage = edge_coverage(masks[colour], box, scale)
        assert coverage >= MIN_COVERAGE, f"{detection['label']} box {box}: {coverage:.0%} drawn"
        checked += 1
    assert checked, "no box big enough to check"


def _assert_labels_apart(
    driver: webdriver.Chrome, shot: Image.Image, detections: list[dict[str, Any]]
) -> None:
    """Every detection's label is drawn (the page's data-labels, in the canvas's pixels), no
    two overlap, each inside the canvas, and the screenshot shows each one in its colour."""
    canvas = driver.find_element(By.ID, "photo-canvas")
    labels = json.loads(canvas.get_attribute("data-labels") or "[]")
    expected = sorted(f"{d['label']} {round(d['confidence'] * 100)}%" for d in detections)
    assert sorted(label["text"] for label in labels) == expected
    width = int(canvas.get_attribute("width") or 0)
    height = int(canvas.get_attribute("height") or 0)
    rectangles = [tuple(label["rectangle"]) for label in labels]
    for a, b in itertools.combinations(rectangles, 2):
        assert not overlaps(a, b), f"{a} overlaps {b}"
    scale = shot.width / width
    for label, (left, top, right, bottom) in zip(labels, rectangles, strict=True):
        assert min(left, top) >= 0 and right <= width and bottom <= height, label
        colour = DOG_COLOUR if label["text"].startswith("dog ") else OTHER_COLOUR
        inner = (left + 2, top + 2, right - 2, bottom - 2)  # inside the anti-aliased edge
        patch = colour_mask(shot.crop(tuple(round(v * scale) for v in inner)), colour)
        # The label's own colour, but for its text: not hidden by another label.
        assert patch.mean() > 0.4, f"{label['text']}: {patch.mean():.0%} of it shows"


def _assert_shows_a_problem_not_a_result(driver: webdriver.Chrome) -> str:
    status = driver.find_element(By.ID, "status")
    assert status.get_attribute("data-state") == "problem"
    canvas = driver.find_element(By.ID, "photo-canvas")
    assert not canvas.is_displayed() and canvas.get_attribute("width") == "0"
    assert driver.find_element(By.ID, "send").text.startswith("Retry")
    text: str = status.text
    return text


# --- the real stack --------------------------------------------------------------------------


def test_a_chosen_photo_is_predicted_and_its_boxes_drawn(
    stack: RunningStack, api: httpx.Client, browser: webdriver.Chrome
) -> None:
    browser.get(f"{stack.api_url}/")
    browser.find_element(By.ID, "photo").send_keys(str(DOG_PHOTO))
    status = _wait_for_status(browser, "DONE")

    prediction_id = browser.find_element(By.ID, "prediction-id").text
    prediction = api.get(f"/image_prediction/{prediction_id}").json()
    assert prediction["status"] == "DONE" and prediction["has_dog"] is True
    assert status == f"DONE: a dog, {len(prediction['detections'])} detections."
    assert browser.find_element(By.ID, "has-dog").text == "yes"
    listed = browser.find_elements(By.CSS_SELECTOR, "#detections li")
    assert len(listed) == len(prediction["detections"])
    assert any(item.text.startswith("dog ") for item in listed)
    shot = _canvas_shot(browser)
    _assert_boxes_drawn(shot, prediction["detections"])
    _assert_labels_apart(browser, shot, prediction["detections"])  # dog.jpg's car and truck

    urls = requested_urls(browser)
    assert f"{stack.api_url}/image_prediction" in urls  # the log did see the page's calls
    assert f"{stack.api_url}/image_prediction/{prediction_id}" in urls
    assert foreign(urls) == []
    assert console_errors(browser) == []


@pytest.fixture(scope="module")
def twelve_mb_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dog.jpg enlarged to 5000 x 3750 with a little grain, as a camera's JPEG of 12 MB or
    more (made here, never committed): over the 4.5 MB the API takes, under the 25 MB the
    bucket does."""
    path = tmp_path_factory.mktemp("photos") / "dog-12mb.jpg"
    large = _photo().resize((5000, 3750), Image.Resampling.LANCZOS)
    grain = np.random.default_rng(20).normal(0, 12, (3750, 5000, 3))
    pixels = np.clip(np.asarray(large, dtype=float) + grain, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=97)
    assert 12_000_000 <= path.stat().st_size <= 25_000_000, path.stat().st_size
    return path


def test_a_12_mb_photo_goes_to_storage_and_is_drawn_with_its_boxes(
    stack: RunningStack, api: httpx.Client, browser: webdriver.Chrome, twelve_mb_photo: Path
) -> None:
    browser.get(f"{stack.api_url}/")
    browser.find_element(By.ID, "photo").send_keys(str(twelve_mb_photo))
    status = _wait_for_status(browser, "DONE", timeout=180)

    prediction_id = browser.find_element(By.ID, "prediction-id").text
    prediction = api.get(f"/image_prediction/{prediction_id}").json()
    assert prediction["status"] == "DONE" and prediction["has_dog"] is True
    assert status == f"DONE: a dog, {len(prediction['detections'])} detections."
    shot = _canvas_shot(browser)
    _assert_boxes_drawn(shot, prediction["detections"], twelve_mb_photo)
    _assert_labels_apart(browser, shot, prediction["detections"])

    urls = requested_urls(browser)
    assert f"{stack.api_url}/image_prediction/uploads" in urls
    assert f"{stack.api_url}/image_prediction" not in urls  # never the API's own upload
    bucket = stack.environment["BUCKET_NAME"]
    assert f"{stack.environment['AWS_ENDPOINT_URL'].rstrip('/')}/{bucket}" in urls
    assert foreign(urls) == []
    assert console_errors(browser) == []


def test_a_crowded_photos_labels_never_hide_one_another(
    stack: RunningStack, api: httpx.Client, browser: webdriver.Chrome
) -> None:
    horses = SHARED_IMAGES / "horses.jpg"  # five horses, their boxes overlapping
    browser.get(f"{stack.api_url}/")
    browser.find_element(By.ID, "photo").send_keys(str(horses))
    _wait_for_status(browser, "DONE")
    prediction_id = browser.find_element(By.ID, "prediction-id").text
    detections = api.get(f"/image_prediction/{prediction_id}").json()["detections"]
    assert len(detections) >= 4
    shot = _canvas_shot(browser)
    _assert_boxes_drawn(shot, detections, horses)
    _assert_labels_apart(browser, shot, detections)


def test_a_refused_photo_is_shown_as_a_refusal_and_retry_sends_it_again(
    stack: RunningStack, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo at all\n" * 50)
    browser.get(f"{stack.api_url}/")
    browser.find_element(By.ID, "photo").send_keys(str(notes))
    refused = _wait_for_status(browser, "Not accepted", timeout=30)
    assert refused.startswith("Not accepted: 415: "), refused
    _assert_shows_a_problem_not_a_result(browser)
    assert not browser.find_element(By.ID, "result").is_displayed()
    posts = [u for u in requested_urls(browser) if u == f"{stack.api_url}/image_prediction"]
    assert len(posts) == 1

    browser.execute_script("document.getElementById('status').textContent = ''")
    browser.find_element(By.ID, "send").click()
    assert _wait_for_status(browser, "Not accepted", timeout=30) == refused
    posts = [u for u in requested_urls(browser) if u == f"{stack.api_url}/image_prediction"]
    assert len(posts) == 1, "Retry sent the photo again"
    _assert_shows_a_problem_not_a_result(browser)


def test_docs_render_from_this_service_alone(
    stack: RunningStack, api: httpx.Client, browser: webdriver.Chrome
) -> None:
    document = api.get("/openapi.json").json()
    described = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    browser.get(f"{stack.api_url}/docs")

    def operations() -> set[tuple[str, str]]:
        return {
            (
                o.find_element(By.CLASS_NAME, "opblock-summary-method").text,
                o.find_element(By.CLASS_NAME, "opblock-summary-path").text.replace("\u200b", ""),
            )
            for o in browser.find_elements(By.CLASS_NAME, "opblock-summary")
        }

    # Swagger UI shows every operation of the document, once it has rendered.
    eventually(lambda: operations() == described, 60, what=f"{sorted(described)} shown")
    browser.find_element(By.CLASS_NAME, "opblock-summary").click()  # one operation, opened
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CLASS_NAME, "opblock-body"))
    urls = requested_urls(browser)
    assert f"{stack.api_url}/openapi.json" in urls
    assert foreign(urls) == []
    assert console_errors(browser) == []


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_page_names_no_other_host_and_each_of_its_files_is_served(
    api: httpx.Client, path: str
) -> None:
    page = api.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"(?i)(https?:)?//", page.text), "an absolute URL in the page"
    references = ASSET_REFERENCE.findall(page.text)
    assert len(references) >= 3
    for reference in references:
        asset = api.get(f"/{reference}")
        assert asset.status_code == 200, reference
        if "swagger-ui/" not in reference:  # Swagger UI's own code names its project's sites
            text = re.sub(r'xmlns="[^"]*"', "", asset.text)  # an SVG namespace is no request
            assert not re.search(r"(?i)https?://", text), f"{reference} names another host"


# --- a fake API: polling, the key, a dropped file -------------------------------------------

FAKE_KEY = "page-test-key"
# In dog.jpg's pixels (768x576): what the fake answers once DONE.
FAKE_DETECTIONS = [
    {
        "label": "dog",
        "confidence": 0.91,
        "box": {"x1": 130.0, "y1": 220.0, "x2": 310.0, "y2": 540.0},
    },
    {
        "label": "bicycle",
        "confidence": 0.62,
        "box": {"x1": 120.0, "y1": 130.0, "x2": 570.0, "y2": 420.0},
    },
]


class FakeApi:
    """Answers like the service, but ignores Prefer: wait: a prediction is PENDING, then
    PROCESSING, then DONE, one step per GET, each answered at once."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.answers: dict[str, list[str]] = {}
        # The page's limits and policy: the defaults, unless a test says otherwise.
        self.settings = Settings()
        self.app = FastAPI()
        self.app.state.settings = lambda: self.settings
        web.serve_page(self.app)
        self.app.add_api_route("/image_prediction", self.submit, methods=["POST"])
        self.app.add_api_route("/image_prediction/uploads", self.presign, methods=["POST"])
        self.app.add_api_route("/image_prediction/{prediction_id}", self.read, methods=["GET"])
        self.app.add_api_route("/image_prediction/{prediction_id}", self.delete, methods=["DELETE"])
        self.app.add_api_route("/bucket", self.bucket, methods=["POST"])

    async def presign(self, request: Request) -> JSONResponse:
        """A presigned POST to this server's /bucket, which refuses the photo as S3 does."""
        if refused := self._refused(request):
            return refused
        prediction_id = str(uuid.uuid4())
        fields = {"key": f"incoming/{prediction_id}", "policy": "e30=", "x-amz-signature": "0"}
        upload = {"url": "/bucket", "fields": fields}
        body = {"image_prediction_id": prediction_id, "upload": upload, "expires_at": "..."}
        return JSONResponse(body, 201)

    async def bucket(self, request: Request) -> Response:
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        form = await request.form()
        assert list(form)[-1] == "file" and str(form["key"]).startswith("incoming/")
        return Response(
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>EntityTooLarge</Code>'
            "<Message>Your proposed upload exceeds the maximum allowed size</Message></Error>",
            400,
            media_type="application/xml",
        )

    def delete(self, prediction_id: str, request: Request) -> Response:
        if refused := self._refused(request):
            return refused
        return Response(status_code=204)

    def _refused(self, request: Request) -> JSONResponse | None:
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        if request.headers.get("x-api-key") != FAKE_KEY:
            return JSONResponse({"detail": "a valid X-API-Key header is required"}, 401)
        return None

    async def submit(self, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        form = await request.form()
        upload = form["image"]
        assert not isinstance(upload, str) and (await upload.read()) == DOG_PHOTO.read_bytes()
        prediction_id = str(uuid.uuid4())
        self.answers[prediction_id] = ["PENDING", "PROCESSING", "DONE"]
        return JSONResponse(self._body(prediction_id, "PENDING"), 202)

    def read(self, prediction_id: str, request: Request) -> JSONResponse:
        if refused := self._refused(request):
            return refused
        steps = self.answers[prediction_id]
        status = steps.pop(0) if len(steps) > 1 else steps[0]
        return JSONResponse(self._body(prediction_id, status))

    @staticmethod
    def _body(prediction_id: str, status: str) -> dict[str, Any]:
        done = status == "DONE"
        return {
            "image_prediction_id": prediction_id,
            "status": status,
            "has_dog": True if done else None,
            "detections": FAKE_DETECTIONS if done else [],
            "error": None,
        }

    def gets(self) -> list[dict[str, str]]:
        return [
            headers
            for method, path, headers in self.requests
            if method == "GET" and path.startswith("/image_prediction/")
        ]


@pytest.fixture
def fake_api() -> Iterator[tuple[FakeApi, str]]:
    fake = FakeApi()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(fake.app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    eventually(lambda: server.started, 10, what="the fake API started")
    try:
        yield fake, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def test_page_polls_with_the_key_when_the_service_does_not_wait(
    fake_api: tuple[FakeApi, str], browser: webdriver.Chrome
) -> None:
    fake, url = fake_api
    browser.get(f"{url}/")
    photo_input = browser.find_element(By.ID, "photo")
    photo_input.send_keys(str(DOG_PHOTO))
    refused = _wait_for_status(browser, "Not accepted", timeout=30)
    assert "401" in refused and "API key" in refused

    browser.find_element(By.ID, "api-key").send_keys(FAKE_KEY)
    browser.refresh()  # the key stays for the tab (sessionStorage), nowhere else
    assert browser.find_element(By.ID, "api-key").get_attribute("value") == FAKE_KEY
    browser.find_element(By.ID, "photo").send_keys(str(DOG_PHOTO))
    assert _wait_for_status(browser, "DONE", timeout=30) == "DONE: a dog, 2 detections."

    gets = fake.gets()
    assert len(gets) == 3, "PENDING, PROCESSING, DONE: asked again after each"
    assert all(h["x-api-key"] == FAKE_KEY and h["prefer"] == "wait=20" for h in gets)
    _assert_boxes_drawn(_canvas_shot(browser), FAKE_DETECTIONS)
    assert foreign(requested_urls(browser)) == []
    errors = console_errors(browser)
    # The first try's 401, as Chrome reports any failed load; nothing else.
    assert len(errors) == 1 and "401" in errors[0], errors


def test_after_a_refusal_retry_sends_the_photo_again_and_draws_only_the_answer(
    fake_api: tuple[FakeApi, str], browser: webdriver.Chrome
) -> None:
    fake, url = fake_api
    browser.get(f"{url}/")
    send = browser.find_element(By.ID, "send")
    assert not send.is_enabled()  # nothing to send yet
    browser.find_element(By.ID, "photo").send_keys(str(DOG_PHOTO))
    refused = _wait_for_status(browser, "Not accepted", timeout=30)
    assert refused == (
        "Not accepted: 401: a valid X-API-Key header is required "
        "(enter the API key above, then Retry)"
    )
    _assert_shows_a_problem_not_a_result(browser)  # no photo that looks like "no boxes"
    assert send.text == "Retry dog.jpg"

    browser.find_element(By.ID, "api-key").send_keys(FAKE_KEY)
    send.click()  # the same photo, without choosing it again
    assert _wait_for_status(browser, "DONE", timeout=30) == "DONE: a dog, 2 detections."
    assert browser.find_element(By.ID, "status").get_attribute("data-state") == "done"
    posts = [h for m, p, h in fake.requests if m == "POST"]
    assert len(posts) == 2 and posts[1]["x-api-key"] == FAKE_KEY
    shot = _canvas_shot(browser)
    _assert_boxes_drawn(shot, FAKE_DETECTIONS)
    _assert_labels_apart(browser, shot, FAKE_DETECTIONS)
    assert send.text == "Send dog.jpg again"

    # Choosing the same file again sends it again too.
    browser.find_element(By.ID, "photo").send_keys(str(DOG_PHOTO))
    eventually(lambda: len([m for m, _, _ in fake.requests if m == "POST"]) == 3, 30, what="sent")
    assert _wait_for_status(browser, "DONE", timeout=30) == "DONE: a dog, 2 detections."


def test_a_refusal_from_storage_is_shown_as_one_and_its_prediction_deleted(
    fake_api: tuple[FakeApi, str], browser: webdriver.Chrome
) -> None:
    fake, url = fake_api
    # dog.jpg (80 kB) counts as large here: it goes through the presigned POST.
    fake.settings = Settings(max_upload_bytes=1000)
    browser.get(f"{url}/")
    browser.find_element(By.ID, "api-key").send_keys(FAKE_KEY)
    browser.find_element(By.ID, "photo").send_keys(str(DOG_PHOTO))
    refused = _wait_for_status(browser, "Not accepted by storage", timeout=30)
    assert refused == (
        "Not accepted by storage: 400: EntityTooLarge: "
        "Your proposed upload exceeds the maximum allowed size"
    )
    _assert_shows_a_problem_not_a_result(browser)
    eventually(lambda: any(m == "DELETE" for m, _, _ in fake.requests), 10, what="deleted")
    calls = [(m, p.split("/")[-1] if m == "DELETE" else p) for m, p, _ in fake.requests]
    (presigned,) = [p for m, p, _ in fake.requests if m == "POST" and p.endswith("/uploads")]
    assert [c[0] for c in calls] == ["POST", "POST", "DELETE"]
    assert [c[1] for c in calls[:2]] == [presigned, "/bucket"]
    assert not fake.gets()  # nothing followed: there is no prediction to wait for


def test_a_photo_over_the_largest_is_refused_before_it_is_sent(
    fake_api: tuple[FakeApi, str], browser: webdriver.Chrome
) -> None:
    fake, url = fake_api
    fake.settings = Settings(max_upload_bytes=1000, direct_upload_max_bytes=2000)
    browser.get(f"{url}/")
    browser.find_element(By.ID, "photo").send_keys(str(DOG_PHOTO))
    refused = _wait_for_status(browser, "dog.jpg is", timeout=30)
    assert refused.endswith("the largest photo this service takes.")
    _assert_shows_a_problem_not_a_result(browser)
    assert fake.requests == []


def test_a_dropped_photo_is_sent(fake_api: tuple[FakeApi, str], browser: webdriver.Chrome) -> None:
    fake, url = fake_api
    browser.get(f"{url}/")
    browser.find_element(By.ID, "api-key").send_keys(FAKE_KEY)
    # A file input of the test's own as the file's source: a test cannot drag from the desktop.
    browser.execute_script(
        "const input = document.createElement('input'); input.type = 'file';"
        "input.id = 'source'; document.body.append(input);"
    )
    browser.find_element(By.ID, "source").send_keys(str(DOG_PHOTO))
    browser.execute_script(
        "const transfer = new DataTransfer();"
        "transfer.items.add(document.getElementById('source').files[0]);"
        "document.getElementById('drop-zone').dispatchEvent("
        "  new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));"
    )
    assert _wait_for_status(browser, "DONE", timeout=30).startswith("DONE: a dog")
    assert [p for m, p, _ in fake.requests if m == "POST"] == ["/image_prediction"]
    _assert_boxes_drawn(_canvas_shot(browser), FAKE_DETECTIONS)
    assert console_errors(browser) == []
