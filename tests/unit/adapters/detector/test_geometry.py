"""The OpenVINO engine's pre- and post-processing (adapters.detector.geometry), on crafted arrays:
ultralytics' letterbox, box decoding, class-aware NMS and scaling back, without any model.
tests/integration/test_engine_parity.py checks the same steps against ultralytics itself."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from dogdetect.adapters.detector.geometry import (
    MAX_DETECTIONS,
    PADDING_VALUE,
    Letterbox,
    RawDetections,
    candidates,
    letterbox,
    letterbox_params,
    non_max_suppression,
    postprocess,
    scale_back,
)
from hypothesis import given
from hypothesis import strategies as st

CLASSES = 80


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        # dog.jpg: the width fills, 80 rows of grey above and below
        (768, 576, Letterbox(768, 576, 640, 480, 0, 80, 640)),
        # bus.jpg (portrait): 480 wide, 80 columns each side
        (810, 1080, Letterbox(810, 1080, 480, 640, 80, 0, 640)),
        # odd padding (427 rows): ultralytics puts the extra row at the bottom
        (1000, 333, Letterbox(1000, 333, 640, 213, 0, 213, 640)),
        # small images are scaled up
        (100, 50, Letterbox(100, 50, 640, 320, 0, 160, 640)),
        # a thin image keeps one row
        (3000, 1, Letterbox(3000, 1, 640, 1, 0, 319, 640)),
    ],
)
def test_letterbox_params_are_ultralytics(width: int, height: int, expected: Letterbox) -> None:
    assert letterbox_params(width, height, 640) == expected


def test_letterbox_resizes_bilinear_and_pads_grey_around_the_centre() -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=(333, 1000, 3), dtype=np.uint8)
    padded, box = letterbox(image, 640)
    assert padded.shape == (640, 640, 3) and padded.dtype == np.uint8
    content = padded[box.top : box.top + box.new_height, box.left : box.left + box.new_width]
    np.testing.assert_array_equal(
        content, cv2.resize(image, (640, 213), interpolation=cv2.INTER_LINEAR)
    )
    assert (padded[: box.top] == PADDING_VALUE).all()
    assert (padded[box.top + box.new_height :] == PADDING_VALUE).all()
    assert padded.shape[0] - box.top - box.new_height == 214  # the odd row below


def test_letterbox_leaves_an_image_of_the_input_size_as_it_is() -> None:
    image = np.full((640, 640, 3), 9, dtype=np.uint8)
    padded, box = letterbox(image, 640)
    np.testing.assert_array_equal(padded, image)
    assert (box.left, box.top, box.gain_x, box.gain_y) == (0, 0, 1.0, 1.0)


@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    x=st.floats(0, 1),
    y=st.floats(0, 1),
)
def test_scale_back_inverts_the_letterbox(width: int, height: int, x: float, y: float) -> None:
    box = letterbox_params(width, height, 640)
    point = np.array([[x * width, y * height, x * width, y * height]])
    # where the point lands in the model's input, then back
    into = point * [box.gain_x, box.gain_y, box.gain_x, box.gain_y] + [
        box.left,
        box.top,
        box.left,
        box.top,
    ]
    back = scale_back(into, box)
    np.testing.assert_allclose(back, point, atol=1e-3 * max(width, height), rtol=1e-5)


def test_scale_back_clips_to_the_image() -> None:
    box = letterbox_params(768, 576, 640)  # rows 80..560 hold the image
    back = scale_back(np.array([[-20.0, 10.0, 700.0, 630.0]]), box)
    np.testing.assert_array_equal(back, [[0.0, 0.0, 768.0, 576.0]])


def head(*anchors: tuple[tuple[float, float, float, float], int, float]) -> np.ndarray:
    """A YOLO head's output (4 + 80 classes, anchors): each anchor's centre-x, centre-y,
    width, height and one class's score (the others 0.01)."""
    out = np.full((4 + CLASSES, len(anchors)), 0.01, dtype=np.float32)
    for i, (xywh, cls, score) in enumerate(anchors):
        out[:4, i] = xywh
        out[4 + cls, i] = score
    return out


def test_candidates_keep_scores_strictly_above_the_threshold_with_their_best_class() -> None:
    out = head(
        ((100, 100, 20, 10), 16, 0.9),
        ((200, 200, 20, 10), 3, 0.25),  # at the threshold: dropped, as ultralytics does
        ((300, 300, 20, 10), 5, 0.2500001),
    )
    out[4 + 7, 0] = 0.5  # a second class on the first anchor: the best one counts
    found = candidates(out, 0.25)
    np.testing.assert_array_equal(found.classes, [16, 5])
    np.testing.assert_allclose(found.scores, [0.9, 0.2500001])
    np.testing.assert_array_equal(found.boxes, [[90, 95, 110, 105], [290, 295, 310, 305]])


def raw(
    boxes: Sequence[Sequence[float]], scores: Sequence[float], classes: Sequence[int]
) -> RawDetections:
    return RawDetections(
        np.array(boxes, dtype=np.float32),
        np.array(scores, dtype=np.float32),
        np.array(classes, dtype=np.int64),
    )


def test_nms_suppresses_an_overlapping_box_of_the_same_class_only() -> None:
    big, almost = [0, 0, 100, 100], [0, 0, 100, 80]  # IoU 0.8 > 0.7
    same = non_max_suppression(raw([almost, big], [0.6, 0.9], [16, 16]))
    np.testing.assert_array_equal(same.boxes, [big])
    np.testing.assert_array_equal(same.scores, np.array([0.9], dtype=np.float32))
    other = non_max_suppression(raw([almost, big], [0.6, 0.9], [16, 17]))
    np.testing.assert_array_equal(other.boxes, [big, almost])  # best first
    np.testing.assert_array_equal(other.classes, [17, 16])


def test_nms_keeps_boxes_overlapping_at_most_the_iou_threshold() -> None:
    a, b = [0, 0, 100, 100], [0, 40, 100, 140]  # IoU 60 / 140 = 0.43
    kept = non_max_suppression(raw([a, b], [0.9, 0.8], [0, 0]))
    assert len(kept.scores) == 2


def test_nms_keeps_the_best_max_det() -> None:
    n = MAX_DETECTIONS + 50
    boxes = [[10.0 * i, 0, 10.0 * i + 5, 5] for i in range(n)]  # none overlap
    scores = list(np.linspace(0.3, 0.9, n))
    kept = non_max_suppression(raw(boxes, scores, [0] * n))
    assert len(kept.scores) == MAX_DETECTIONS
    assert kept.scores[0] == pytest.approx(0.9) and (np.diff(kept.scores) <= 0).all()
    assert kept.scores.min() == pytest.approx(
        np.sort(np.array(scores, dtype=np.float32))[-MAX_DETECTIONS]
    )


def test_nms_of_nothing_is_nothing() -> None:
    empty = RawDetections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int))
    assert non_max_suppression(empty) is empty


def test_postprocess_gives_boxes_in_the_original_pixels() -> None:
    box = letterbox_params(768, 576, 640)  # gain 5/6, 80 rows of padding on top
    # a dog at (120, 240)-(300, 540) in the photo is at (100, 280)-(250, 530) in the input
    out = head(((175, 405, 150, 250), 16, 0.92), ((176, 404, 150, 250), 16, 0.5))
    found = postprocess(out, box, 0.25)
    np.testing.assert_allclose(found.boxes, [[120, 240, 300, 540]], atol=1e-3)
    np.testing.assert_array_equal(found.classes, [16])


def test_postprocess_of_an_empty_head_is_empty() -> None:
    found = postprocess(head(((10, 10, 5, 5), 0, 0.1)), letterbox_params(64, 64, 640), 0.25)
    assert found.boxes.shape == (0, 4) and len(found.scores) == 0
