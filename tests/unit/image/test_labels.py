"""Where the annotated photo's labels go (`dogdetect.image.draw.place_labels`, the rule the page
follows too): no label hides another, each stays inside the image, and the crowded photos of
issue 20 (dog.jpg's car and truck on one vehicle, horses.jpg's herd) get every label."""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Sequence

import numpy as np
import pytest
from dogdetect.config import Settings
from dogdetect.domain.models import Box, Detection
from dogdetect.image.draw import (
    Rectangle,
    annotate,
    label_candidates,
    label_layout,
    label_text,
    overlaps,
    place_labels,
)
from PIL import Image

from tests.drawn_boxes import DOG, OTHER, open_jpeg
from tests.photos import photo

MAX_PIXELS = Settings().max_image_pixels

# What the model finds in ../shared/images (yolo11n int8, in each photo's own pixels).
DOG_JPG = [
    Detection("dog", 0.9241, Box(131.4, 220.8, 310.2, 540.0)),
    Detection("bicycle", 0.9173, Box(128.4, 135.6, 567.6, 419.4)),
    Detection("truck", 0.6169, Box(470.1, 74.4, 693.6, 173.7)),
    Detection("car", 0.4482, Box(471.6, 73.8, 693.3, 172.3)),
]
HORSES_JPG = [
    Detection("horse", 0.9086, Box(0.0, 193.2, 316.4, 412.4)),
    Detection("horse", 0.8977, Box(435.4, 210.7, 596.8, 348.5)),
    Detection("horse", 0.8344, Box(247.0, 196.8, 417.9, 363.5)),
    Detection("horse", 0.6689, Box(0.0, 187.2, 153.1, 283.2)),
    Detection("horse", 0.4853, Box(382.4, 213.1, 456.3, 323.6)),
]


def assert_apart_and_inside(
    placed: Sequence[Rectangle | None], image_size: tuple[float, float]
) -> None:
    shown = [r for r in placed if r is not None]
    for a, b in itertools.combinations(shown, 2):
        assert not overlaps(a, b), f"{a} overlaps {b}"
    for left, top, right, bottom in shown:
        assert min(left, top) >= 0 and right <= image_size[0] and bottom <= image_size[1]


def boxes_of(detections: Sequence[Detection]) -> list[tuple[float, float, float, float]]:
    return [(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in detections]


def test_rectangles_that_touch_do_not_overlap() -> None:
    assert overlaps((0, 0, 10, 10), (5, 5, 15, 15))
    assert overlaps((0, 0, 10, 10), (2, 2, 3, 3))  # one inside the other
    assert not overlaps((0, 0, 10, 10), (10, 0, 20, 10))
    assert not overlaps((0, 0, 10, 10), (0, 10, 10, 20))


def test_the_first_place_is_above_the_box_at_its_left_then_inside_it() -> None:
    (first, *_) = label_candidates((100, 150, 300, 300), (60, 20), (400, 400))
    assert first == (100, 130, 160, 150)
    (first, *_) = label_candidates((100, 5, 300, 300), (60, 20), (400, 400))
    assert first == (100, 0, 160, 20)  # no room above: moved into the image, on the box


@pytest.mark.parametrize(("name", "detections"), [("dog", DOG_JPG), ("horses", HORSES_JPG)])
def test_issue_20s_crowded_photos_get_every_label_apart(
    name: str, detections: list[Detection]
) -> None:
    size = Image.open(io.BytesIO(photo(f"{name}.jpg"))).size
    label_size = (95.0, 23.0)  # "horse 91%" at the page's and the JPEG's smallest font
    placed = place_labels(boxes_of(detections), [label_size] * len(detections), size)
    assert None not in placed
    assert_apart_and_inside(placed, size)


def test_the_car_and_the_truck_on_one_vehicle_both_show() -> None:
    # The truck's label (more confident) takes the place above the box; the car's, which
    # covered it ("car 45%%": the truck's % showing past its end), goes next along the box.
    truck, car = boxes_of(DOG_JPG[2:])
    truck_label, car_label = place_labels([truck, car], [(90.0, 23.0), (70.0, 23.0)], (768, 576))
    assert truck_label == (truck[0], truck[1] - 23, truck[0] + 90, truck[1])
    assert car_label is not None and not overlaps(truck_label, car_label)
    assert [label_text(d) for d in DOG_JPG[2:]] == ["truck 62%", "car 45%"]


def test_many_random_boxes_never_overlap_and_stay_inside() -> None:
    chance = random.Random(20)
    for _ in range(50):
        width, height = chance.randint(200, 1200), chance.randint(200, 1200)
        boxes = []
        for _ in range(chance.randint(1, 60)):
            x1, y1 = chance.uniform(-50, width), chance.uniform(-50, height)
            boxes.append((x1, y1, x1 + chance.uniform(1, width), y1 + chance.uniform(1, height)))
        sizes = [(chance.uniform(40, 160), chance.uniform(14, 40)) for _ in boxes]
        placed = place_labels(boxes, sizes, (width, height))
        assert placed[0] is not None  # the first label always has a place
        assert_apart_and_inside(placed, (width, height))


def test_a_label_with_no_free_place_is_left_out() -> None:
    # Fifty detections on one small box: some labels cannot have a place of their own.
    boxes = [(10.0, 10.0, 60.0, 40.0)] * 50
    placed = place_labels(boxes, [(40.0, 20.0)] * 50, (100, 100))
    assert None in placed and placed[0] is not None
    assert_apart_and_inside(placed, (100, 100))


def test_the_annotated_dog_photo_shows_each_label_in_full() -> None:
    # Drawn: each placed rectangle is filled with its detection's colour (apart from its text).
    image = open_jpeg(annotate(photo("dog.jpg"), DOG_JPG, MAX_PIXELS))
    layout = label_layout(image, DOG_JPG, 1.0, 1.0)
    assert [d.label for d, _ in layout] == ["dog", "bicycle", "truck", "car"]
    placed = [rectangle for _, rectangle in layout]
    assert None not in placed
    assert_apart_and_inside(placed, image.size)
    for detection, rectangle in layout:
        assert rectangle is not None
        colour = DOG if detection.label == "dog" else OTHER
        patch = np.asarray(image.crop(tuple(round(v) for v in rectangle)), dtype=int)
        share = (np.abs(patch - colour) <= 48).all(axis=2).mean()
        assert share > 0.5, f"{label_text(detection)}: {share:.0%} of its label shows"
