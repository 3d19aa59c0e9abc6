"""YOLO's pre- and post-processing without a model runtime: numpy and OpenCV only.

Each step does what ultralytics 8.4 does for a static-shape export (`LetterBox` with
`auto=False`, `nms.non_max_suppression`, `ops.scale_boxes`), so that the OpenVINO engine
gives ultralytics' answers without importing torch (tests/integration/test_engine_parity.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PADDING_VALUE = 114  # ultralytics' grey
IOU_THRESHOLD = 0.7  # ultralytics' predict default (cfg `iou`)
MAX_DETECTIONS = 300  # ultralytics' predict default (cfg `max_det`)


@dataclass(frozen=True)
class Letterbox:
    """Where an image of `width` x `height` lands in the model's `size` x `size` input."""

    width: int
    height: int
    new_width: int
    new_height: int
    left: int
    top: int
    size: int

    @property
    def gain_x(self) -> float:
        return self.new_width / self.width

    @property
    def gain_y(self) -> float:
        return self.new_height / self.height


@dataclass(frozen=True)
class RawDetections:
    """Kept detections of one image, best first: xyxy boxes (N, 4), scores (N,), classes (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray


def letterbox_params(width: int, height: int, size: int) -> Letterbox:
    """Ratio-preserving fit into a square, centred, as `LetterBox.get_params` computes it
    (Python's `round`, each side at least 1 pixel)."""
    ratio = min(size / height, size / width)
    new_width, new_height = max(round(width * ratio), 1), max(round(height * ratio), 1)
    left = round((size - new_width) / 2 - 0.1)
    top = round((size - new_height) / 2 - 0.1)
    return Letterbox(width, height, new_width, new_height, left, top, size)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """The HxWx3 uint8 image resized (bilinear) and padded with grey to size x size."""
    height, width = image.shape[:2]
    box = letterbox_params(width, height, size)
    resized = image
    if (box.new_width, box.new_height) != (width, height):
        resized = cv2.resize(image, (box.new_width, box.new_height), interpolation=cv2.INTER_LINEAR)
    right = size - box.new_width - box.left
    bottom = size - box.new_height - box.top
    padded = cv2.copyMakeBorder(
        resized,
        box.top,
        bottom,
        box.left,
        right,
        cv2.BORDER_CONSTANT,
        value=(PADDING_VALUE,) * 3,
    )
    return padded, box


def candidates(output: np.ndarray, confidence: float) -> RawDetections:
    """Boxes whose best class score is above `confidence` (strictly, as ultralytics), from a
    YOLO head's (4 + classes, anchors) output: centre x, centre y, width, height, scores."""
    scores_by_class = output[4:]
    classes = scores_by_class.argmax(axis=0)
    scores = scores_by_class[classes, np.arange(output.shape[1])]
    keep = scores > confidence
    centre, half = output[:2, keep].T, output[2:4, keep].T / 2
    boxes = np.concatenate((centre - half, centre + half), axis=1)
    return RawDetections(boxes, scores[keep], classes[keep])


def non_max_suppression(
    found: RawDetections, iou: float = IOU_THRESHOLD, max_det: int = MAX_DETECTIONS
) -> RawDetections:
    """Class-aware NMS: a box suppresses only boxes of its own class overlapping it by more
    than `iou`; the best `max_det` survivors, best first."""
    if not len(found.scores):
        return found
    xywh = np.concatenate((found.boxes[:, :2], found.boxes[:, 2:] - found.boxes[:, :2]), axis=1)
    kept = cv2.dnn.NMSBoxesBatched(
        xywh.astype(np.float64).tolist(),
        found.scores.astype(np.float32).tolist(),
        found.classes.astype(np.int32).tolist(),
        0.0,
        iou,
    )
    order = np.asarray(kept, dtype=np.int64).reshape(-1)[:max_det]
    return RawDetections(found.boxes[order], found.scores[order], found.classes[order])


def scale_back(boxes: np.ndarray, box: Letterbox) -> np.ndarray:
    """Boxes from the model's input back to the original image's pixels, clipped to it, as
    `ops.scale_boxes` does (per-axis gains of the rounded resize)."""
    scaled = boxes.astype(np.float32, copy=True)
    scaled[:, [0, 2]] = (scaled[:, [0, 2]] - box.left) / box.gain_x
    scaled[:, [1, 3]] = (scaled[:, [1, 3]] - box.top) / box.gain_y
    scaled[:, [0, 2]] = scaled[:, [0, 2]].clip(0, box.width)
    scaled[:, [1, 3]] = scaled[:, [1, 3]].clip(0, box.height)
    return scaled


def postprocess(output: np.ndarray, box: Letterbox, confidence: float) -> RawDetections:
    """A YOLO head's output for one image -> its detections in the image's own pixels."""
    kept = non_max_suppression(candidates(output, confidence))
    return RawDetections(scale_back(kept.boxes, box), kept.scores, kept.classes)
