"""The two engines on the shared OpenVINO model give the same answers: OpenVinoYolo (the
default, no torch) and ultralytics' YoloDetector, on every photo we have, on odd shapes cut
from them, and on a 12-megapixel JPEG decoded for the model as predict decodes it. Then the
12-megapixel photo decoded at a quarter (DCT scaling) against the same photo at full size."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from dogdetect.adapters.detector.loading import load_detector
from dogdetect.adapters.detector.openvino import OpenVinoYolo
from dogdetect.adapters.detector.ultralytics import YoloDetector
from dogdetect.config import Settings
from dogdetect.domain.models import Detection, scaled
from dogdetect.domain.ports import Detector
from dogdetect.image.decode import decode_for_model, decode_rgb
from dogdetect.service.predict import has_dog
from PIL import Image

from tests.photos import LABELLED_PHOTOS, SHARED_IMAGES, photo

pytestmark = pytest.mark.model

MODEL = SHARED_IMAGES.parent / "models" / "yolo11n_int8_openvino_model"
MAX_PIXELS = Settings().max_image_pixels
DOG_CONFIDENCE = 0.25
# Same pixels, same model, same runtime: what is left is float rounding.
BOX_PIXELS, CONFIDENCE = 2.0, 0.02


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Detector]:
    cache = tmp_path_factory.mktemp("openvino-cache")
    built = {
        engine: load_detector(
            Settings(model_path=str(MODEL), detector_engine=engine, openvino_cache_dir=str(cache))
        )
        for engine in ("openvino", "ultralytics")
    }
    assert isinstance(built["openvino"], OpenVinoYolo)
    assert isinstance(built["ultralytics"], YoloDetector)
    return built


@pytest.fixture(scope="module")
def twelve_megapixel_dog(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """dog.jpg enlarged to 4000 x 3000 and saved as a camera would: a JPEG file."""
    path = tmp_path_factory.mktemp("photos") / "dog-12mp.jpg"
    small = Image.open(io.BytesIO(photo("dog.jpg"))).convert("RGB")
    small.resize((4000, 3000), Image.Resampling.LANCZOS).save(path, "JPEG", quality=92)
    return path.read_bytes()


def box_distance(a: Detection, b: Detection) -> float:
    pairs = zip(vars(a.box).values(), vars(b.box).values(), strict=True)
    return float(max(abs(u - v) for u, v in pairs))


def assert_same_detections(
    ours: Sequence[Detection], theirs: Sequence[Detection], box_pixels: float, confidence: float
) -> None:
    """The same labels (as multisets), each of ours matched to the nearest of theirs with its
    label, within `box_pixels` on every coordinate and `confidence`."""
    assert Counter(d.label for d in ours) == Counter(d.label for d in theirs)
    left = list(theirs)
    for mine in sorted(ours, key=lambda d: -d.confidence):
        twin = min((d for d in left if d.label == mine.label), key=lambda d: box_distance(mine, d))
        left.remove(twin)
        assert box_distance(mine, twin) <= box_pixels, (mine, twin)
        assert abs(mine.confidence - twin.confidence) <= confidence, (mine, twin)


def odd_shapes() -> dict[str, np.ndarray]:
    """Shapes that exercise the letterbox's rounding: odd padding, portrait, tiny, thin."""
    dog, bus = decode_rgb(photo("dog.jpg"), MAX_PIXELS), decode_rgb(photo("bus.jpg"), MAX_PIXELS)
    zidane = decode_rgb(photo("zidane.jpg"), MAX_PIXELS)
    return {
        "dog 767x333": np.ascontiguousarray(dog[100:433, :767]),
        "bus 811x1079": cv2.resize(bus, (811, 1079)),
        "zidane 97x55": cv2.resize(zidane, (97, 55), interpolation=cv2.INTER_AREA),
        "zidane 1001x563": np.ascontiguousarray(zidane[:563, 100:1101]),
        "dog 640x640": cv2.resize(dog, (640, 640)),
    }


def both(engines: dict[str, Detector], image: np.ndarray) -> tuple[list[Detection], ...]:
    return engines["openvino"].detect([image])[0], engines["ultralytics"].detect([image])[0]


@pytest.mark.parametrize("name", sorted(LABELLED_PHOTOS))
def test_engines_agree_on_every_photo(engines: dict[str, Detector], name: str) -> None:
    ours, theirs = both(engines, decode_for_model(photo(name), MAX_PIXELS, 640).pixels)
    assert has_dog(ours, DOG_CONFIDENCE) is has_dog(theirs, DOG_CONFIDENCE) is LABELLED_PHOTOS[name]
    assert ours, name  # every photo has something in it
    assert_same_detections(ours, theirs, BOX_PIXELS, CONFIDENCE)


def test_engines_agree_on_a_12_megapixel_jpeg(
    engines: dict[str, Detector], twelve_megapixel_dog: bytes
) -> None:
    model_input = decode_for_model(twelve_megapixel_dog, MAX_PIXELS, 640)
    assert model_input.pixels.shape == (750, 1000, 3)  # decoded at a quarter
    ours, theirs = both(engines, model_input.pixels)
    assert has_dog(ours, DOG_CONFIDENCE) and has_dog(theirs, DOG_CONFIDENCE)
    # compared in the original's pixels, as predict stores them
    assert_same_detections(
        scaled(ours, model_input.scale_x, model_input.scale_y),
        scaled(theirs, model_input.scale_x, model_input.scale_y),
        BOX_PIXELS * model_input.scale_x,
        CONFIDENCE,
    )


@pytest.mark.parametrize("name", sorted(odd_shapes()))
def test_engines_agree_on_odd_shapes(engines: dict[str, Detector], name: str) -> None:
    ours, theirs = both(engines, odd_shapes()[name])
    assert_same_detections(ours, theirs, BOX_PIXELS, CONFIDENCE)


# Full decode: one bilinear 6.25x reduction to the model's 640, which reads 4 of each 39
# pixels; quarter decode: libjpeg's 1/4 DCT scaling (each 4x4 block averaged) and then a 1.56x
# bilinear one. The model sees slightly different pictures. Measured on dog.jpg enlarged to
# five sizes from 1536 to 4032 pixels wide: every label the same, boxes at most 1.5 pixels
# apart at the model's scale, confidences at most 0.058 apart (0.018 on this photo).
MODEL_PIXELS, DECODE_CONFIDENCE = 2.0, 0.06


def test_quarter_decoding_finds_what_full_decoding_finds(
    engines: dict[str, Detector], twelve_megapixel_dog: bytes
) -> None:
    detector = engines["openvino"]
    full = detector.detect([decode_rgb(twelve_megapixel_dog, MAX_PIXELS)])[0]
    model_input = decode_for_model(twelve_megapixel_dog, MAX_PIXELS, detector.input_size)
    reduced = detector.detect([model_input.pixels])[0]
    in_original = scaled(reduced, model_input.scale_x, model_input.scale_y)
    assert has_dog(in_original, DOG_CONFIDENCE) and has_dog(full, DOG_CONFIDENCE)
    assert_same_detections(
        in_original, full, MODEL_PIXELS * 4000 / detector.input_size, DECODE_CONFIDENCE
    )
