"""The annotated photo: drawing (`dogdetect.image.draw`), when there is one
(`dogdetect.service.annotate`; drawing it once: test_annotate.py), and GET
/image_prediction/{id}/annotated through the status app and its Lambda handler (Mangum,
base64 under the response limit)."""

from __future__ import annotations

import base64
import io
import json
import uuid
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from dogdetect.api.annotated import CACHE_CONTROL
from dogdetect.config import Settings
from dogdetect.domain.errors import AnnotationUnavailable, DependencyUnavailable, PredictionNotFound
from dogdetect.domain.limits import LAMBDA_PAYLOAD_LIMIT_BYTES
from dogdetect.domain.models import Box, Detection, Status
from dogdetect.image.draw import MAX_JPEG_BYTES, annotate
from dogdetect.service.annotate import Drawing, annotated_photo
from PIL import Image

from tests import corpus
from tests.drawn_boxes import DOG, OTHER, colour_share, edge_fraction, open_jpeg
from tests.fakes import FakeAdapters, FakeRepository, FakeSlots, FakeStorage
from tests.unit.conftest import FakeLambdaContext, Wired, fakes_behind, load_event

# Powertools warns when an invocation publishes no metric (the handler test): expected.
pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish:UserWarning")

MAX_PIXELS = Settings().max_image_pixels
GREY = (110, 110, 110)


def grey_jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), GREY).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def noise_png(width: int, height: int) -> bytes:
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def found(label: str, box: tuple[float, float, float, float], confidence: float = 0.9) -> Detection:
    return Detection(label, confidence, Box(*box))


def as_tuple(box: Box, scale: float = 1.0) -> tuple[float, float, float, float]:
    return (box.x1 * scale, box.y1 * scale, box.x2 * scale, box.y2 * scale)


# --- drawing ------------------------------------------------------------------------------


def test_each_detection_is_boxed_in_its_colour() -> None:
    dog = found("dog", (100, 120, 400, 380))
    horse = found("horse", (450, 60, 760, 560), 0.6)
    image = open_jpeg(annotate(grey_jpeg(800, 600), [dog, horse], MAX_PIXELS))
    assert image.size == (800, 600)
    assert edge_fraction(image, as_tuple(dog.box), DOG) > 0.95
    assert edge_fraction(image, as_tuple(horse.box), OTHER) > 0.95
    assert edge_fraction(image, as_tuple(horse.box), DOG) < 0.2  # each in its own colour
    assert colour_share(image, DOG) < 0.1 and colour_share(image, OTHER) < 0.1


def test_without_detections_it_is_the_photo() -> None:
    image = open_jpeg(annotate(grey_jpeg(320, 240), [], MAX_PIXELS))
    assert image.size == (320, 240)
    assert colour_share(image, DOG) == 0 and colour_share(image, OTHER) == 0
    assert np.abs(np.asarray(image, dtype=int) - GREY).max() <= 3


def test_a_label_names_the_detection_with_its_confidence_above_the_box() -> None:
    dog = found("dog", (100, 150, 300, 300))
    image = open_jpeg(annotate(grey_jpeg(400, 400), [dog], MAX_PIXELS))
    label = image.crop((100, 150 - 14, 140, 150))  # just above the box: the label
    pixels = np.asarray(label, dtype=int)
    magenta = (np.abs(pixels - DOG) <= 48).all(axis=2).mean()
    white = (pixels >= 200).all(axis=2).mean()
    assert magenta > 0.3 and white > 0.02  # a magenta patch with white text on it
    below = found("dog", (100, 0, 300, 300))  # no room above: inside the box
    image = open_jpeg(annotate(grey_jpeg(400, 400), [below], MAX_PIXELS))
    inside = np.asarray(image.crop((105, 5, 160, 30)), dtype=int)
    assert (np.abs(inside - DOG) <= 48).all(axis=2).mean() > 0.3


def test_the_photo_is_drawn_upright_as_the_worker_saw_it() -> None:
    data = corpus.exif_rotated_jpeg()  # stored 40x24, orientation 6: upright 24x40
    image = open_jpeg(annotate(data, [], MAX_PIXELS))
    assert image.size == (corpus.EXIF_STORED_SIZE[1], corpus.EXIF_STORED_SIZE[0])


def test_a_large_photo_is_drawn_on_a_copy_2048_pixels_a_side() -> None:
    dog = found("dog", (400, 600, 2400, 2600))
    image = open_jpeg(annotate(grey_jpeg(6000, 4000), [dog], MAX_PIXELS))
    assert image.size == (2048, 1365)
    scale = 2048 / 6000  # boxes are in the original's pixels: scaled with the photo
    assert edge_fraction(image, as_tuple(dog.box, scale), DOG) > 0.95


def test_a_40_megapixel_photo_makes_a_jpeg_within_the_lambda_response_limit() -> None:
    data = grey_jpeg(8000, 5000)
    photo = annotate(data, [found("dog", (10, 10, 7000, 4900))], MAX_PIXELS)
    assert open_jpeg(photo).size == (2048, 1280)
    assert len(base64.b64encode(photo)) < LAMBDA_PAYLOAD_LIMIT_BYTES - 100_000


def test_the_worst_photo_for_jpeg_still_fits_the_response() -> None:
    # Noise is the costliest content for JPEG: 2048 x 2048 of it at the first quality.
    photo = annotate(noise_png(2048, 2048), [], MAX_PIXELS)
    assert len(photo) <= MAX_JPEG_BYTES
    assert len(base64.b64encode(photo)) < LAMBDA_PAYLOAD_LIMIT_BYTES - 100_000


def test_a_jpeg_over_the_budget_is_made_smaller_until_it_fits() -> None:
    data = noise_png(512, 512)
    first = annotate(data, [], MAX_PIXELS)
    smaller = annotate(data, [], MAX_PIXELS, max_bytes=len(first) // 2)
    assert len(smaller) <= len(first) // 2
    tiny = annotate(data, [], MAX_PIXELS, max_bytes=20_000)
    assert len(tiny) <= 20_000
    assert max(open_jpeg(tiny).size) < 512  # past the lowest quality: halved


def test_boxes_outside_the_photo_are_clipped() -> None:
    wild = found("dog", (-50, -20, 900, 700))
    image = open_jpeg(annotate(grey_jpeg(320, 240), [wild], MAX_PIXELS))
    assert edge_fraction(image, (0, 0, 319, 239), DOG) > 0.95


# --- when there is an annotated photo ----------------------------------------------------


def drawing(repository: FakeRepository, storage: FakeStorage) -> Drawing:
    return Drawing(repository, storage, FakeSlots(), total=4, max_pixels=MAX_PIXELS)


def seeded(status: Status, storage: FakeStorage, repository: FakeRepository, **row: Any) -> str:
    prediction = repository.seed(status, **row)
    storage.objects[prediction.image_key] = grey_jpeg(64, 48)
    return str(prediction.id)


def test_a_done_prediction_has_its_photo_annotated() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    pid = seeded(Status.DONE, storage, repository, detections=[found("dog", (5, 5, 40, 30))])
    image = open_jpeg(annotated_photo(pid, drawing(repository, storage)))
    assert image.size == (64, 48)
    assert edge_fraction(image, (5, 5, 40, 30), DOG, reach=3, step=1) > 0.9


@pytest.mark.parametrize("status", [Status.PENDING, Status.PROCESSING])
def test_an_unfinished_prediction_has_none_yet(status: Status) -> None:
    repository, storage = FakeRepository(), FakeStorage()
    pid = seeded(status, storage, repository)
    with pytest.raises(AnnotationUnavailable) as raised:
        annotated_photo(pid, drawing(repository, storage))
    assert raised.value.detail == (
        f"the prediction is {status.value}: its annotated photo exists once it is DONE"
    )
    assert storage.operations() == []  # the bucket is not read for nothing


def test_a_failed_prediction_never_has_one() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    pid = seeded(Status.ERROR, storage, repository, error="the image could not be decoded")
    with pytest.raises(AnnotationUnavailable, match="ended in ERROR"):
        annotated_photo(pid, drawing(repository, storage))


def test_unknown_and_malformed_ids_are_not_found() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    for raw in ("6f1c2a8e-4b7d-4e3a-9c5f-2d8b1e0a7c34", "nope"):
        with pytest.raises(PredictionNotFound):
            annotated_photo(raw, drawing(repository, storage))


def test_a_photo_no_longer_stored_is_said_so() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    pid = seeded(Status.DONE, storage, repository)
    storage.objects.clear()  # expired by the bucket's lifecycle rule
    with pytest.raises(AnnotationUnavailable, match="no longer stored"):
        annotated_photo(pid, drawing(repository, storage))


def test_storage_down_is_a_dependency_failure() -> None:
    repository, storage = FakeRepository(), FakeStorage()
    pid = seeded(Status.DONE, storage, repository)
    storage.break_("get")
    with pytest.raises(DependencyUnavailable):
        annotated_photo(pid, drawing(repository, storage))


# --- over HTTP (the status app) and through its Lambda handler ---------------------------


def test_the_route_answers_a_jpeg_that_may_be_kept(status_api: Wired) -> None:
    pid = seeded(
        Status.DONE,
        status_api.storage,
        status_api.repository,
        detections=[found("dog", (5, 5, 40, 30))],
    )
    response = status_api.client.get(f"/image_prediction/{pid}/annotated")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == CACHE_CONTROL
    assert open_jpeg(response.content).size == (64, 48)


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (Status.PENDING, "the prediction is PENDING: its annotated photo exists once it is DONE"),
        (Status.ERROR, "the prediction ended in ERROR: there is no annotated photo"),
    ],
)
def test_the_route_is_404_json_until_done(status_api: Wired, status: Status, detail: str) -> None:
    pid = seeded(status, status_api.storage, status_api.repository)
    response = status_api.client.get(f"/image_prediction/{pid}/annotated")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": detail}
    assert "cache-control" not in response.headers


def test_the_route_says_503_when_the_bucket_does_not_answer(status_api: Wired) -> None:
    pid = seeded(Status.DONE, status_api.storage, status_api.repository)
    status_api.storage.break_("get")
    response = status_api.client.get(f"/image_prediction/{pid}/annotated")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"


def test_the_lambda_handler_answers_base64_jpeg_within_the_payload_limit(
    status_module: ModuleType, fakes: FakeAdapters
) -> None:
    event = load_event("status_get_annotated")
    pid = event["pathParameters"]["image_prediction_id"]
    prediction = fakes.repository.seed(Status.DONE, prediction_id=uuid.UUID(pid))
    fakes.storage.objects[prediction.image_key] = noise_png(2048, 2048)  # the worst case
    with fakes_behind(status_module, fakes):
        result = status_module.handler(event, FakeLambdaContext())
    assert result["statusCode"] == 200
    assert result["isBase64Encoded"] is True
    assert result["headers"]["content-type"] == "image/jpeg"
    assert len(json.dumps(result)) < LAMBDA_PAYLOAD_LIMIT_BYTES
    assert open_jpeg(base64.b64decode(result["body"])).size == (2048, 2048)
