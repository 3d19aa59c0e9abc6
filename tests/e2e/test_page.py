"""The page at GET / and /docs in a real headless Chromium (tests/browser.py): a photo chosen
through the file input goes through the whole local stack, and the boxes of its prediction are
found on a screenshot of the canvas; the browser asks no host but 127.0.0.1 and logs no error.
A small fake API (the real page files, answers scripted) shows what the stack cannot on
demand: plain polling when Prefer: wait is not honoured, the API key field, a dropped file."""

from __future__ import annotations

import io
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
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image, ImageOps
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from local.launcher import RunningStack
from tests.browser import (
    Chromium,
    colour_mask,
    console_errors,
    edge_coverage,
    ensure_chromium,
    foreign,
    headless,
    requested_urls,
)
from tests.conftest import eventually
from tests.photos import SHARED_IMAGES

DOG_PHOTO = SHARED_IMAGES / "dog.jpg"
# page.js's BOX_COLOURS.
DOG_COLOUR, OTHER_COLOUR = "#ff00aa", "#00c8ff"
MIN_COVERAGE = 0.9  # of the points along each edge; labels and crossing boxes hide a few
ASSET_REFERENCE = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    return ensure_chromium()


@pytest.fixture
def browser(chromium: Chromium, tmp_path: Path) -> Iterator[webdriver.Chrome]:
    with headless(chromium, tmp_path) as driver:
        yield driver


def _wait_for_status(driver: webdriver.Chrome, prefix: str, timeout: float = 120) -> str:
    def settled(d: webdriver.Chrome) -> str | bool:
        text: str = d.find_element(By.ID, "status").text
        if text.startswith(prefix):
            return text
        assert not text.startswith(("ERROR", "Not accepted", "Could not")), text
        return False

    result: str = WebDriverWait(driver, timeout, poll_frequency=0.2).until(settled)
    return result


def _canvas_shot(driver: webdriver.Chrome) -> Image.Image:
    canvas = driver.find_element(By.ID, "photo-canvas")
    return Image.open(io.BytesIO(canvas.screenshot_as_png)).convert("RGB")


def _photo() -> Image.Image:
    return ImageOps.exif_transpose(Image.open(DOG_PHOTO)).convert("RGB")


def _assert_boxes_drawn(shot: Image.Image, detections: list[dict[str, Any]]) -> None:
    photo = _photo()
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
    _assert_boxes_drawn(_canvas_shot(browser), prediction["detections"])

    urls = requested_urls(browser)
    assert f"{stack.api_url}/image_prediction" in urls  # the log did see the page's calls
    assert f"{stack.api_url}/image_prediction/{prediction_id}" in urls
    assert foreign(urls) == []
    assert console_errors(browser) == []


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
        self.app = FastAPI()
        web.serve_page(self.app)
        self.app.add_api_route("/image_prediction", self.submit, methods=["POST"])
        self.app.add_api_route("/image_prediction/{prediction_id}", self.read, methods=["GET"])

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
