"""A request's own options (`confidence`, `classes`, as Roboflow's hosted API takes them), on
POST /image_prediction and POST /image_prediction/uploads: checked when the request comes,
stored with its prediction, applied by the worker, and shown in every answer.

- `confidence`: the least confidence of a detection kept, and of a dog for `has_dog`; from
  the service's floor (`DOG_CONFIDENCE`, 0.25 by default: the default too) to 1.
- `classes`: COCO class names as the model names them, comma-separated (`dog,cat`); only
  detections of these are kept. `has_dog` stays the answer to "is there a dog at or above
  `confidence`", whatever `classes` says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dogdetect.domain.errors import InvalidOptions

if TYPE_CHECKING:  # models holds a prediction's options: it imports this module
    from dogdetect.domain.models import Detection

# The 80 class names of COCO as the YOLO models name them, in the model's order (the order
# an answer lists `classes` in). tests/integration checks them against the shipped model.
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
    "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
    "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
    "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
    "toothbrush",
)  # fmt: skip
_CLASS_ORDER = {name: i for i, name in enumerate(COCO_CLASSES)}
MAX_CONFIDENCE = 1.0
DEFAULT_CONFIDENCE_FLOOR = 0.25  # DOG_CONFIDENCE's default
# The longest form values read: every class name with room for spaces (about 650 characters
# as the model spells them), a decimal number.
MAX_CLASSES_CHARS = 2_000
MAX_CONFIDENCE_CHARS = 32
_DECIMAL = re.compile(r"\s*(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*")
_SHOWN_UNKNOWN = 5  # unknown names quoted back at most, each cut to 40 characters
WHERE_CLASSES_ARE = "the model's 80 COCO names are listed in /docs under 'classes'"


@dataclass(frozen=True)
class PredictionOptions:
    """What a prediction applies: detections at or above `confidence` and, when `classes` is
    not None, of those classes only (in the model's order)."""

    confidence: float
    classes: tuple[str, ...] | None = None

    def keeps(self, detection: Detection) -> bool:
        return detection.confidence >= self.confidence and (
            self.classes is None or detection.label in self.classes
        )

    def kept(self, detections: Iterable[Detection]) -> tuple[Detection, ...]:
        return tuple(d for d in detections if self.keeps(d))


def confidence_range(floor: float) -> str:
    return f"'confidence' must be a number from {floor:g} to {MAX_CONFIDENCE:g}"


def parse_options(confidence: str | None, classes: str | None, floor: float) -> PredictionOptions:
    """The options a request's form values ask for, defaults filled (the floor, every class);
    InvalidOptions (422) naming the range or the unknown names otherwise."""
    return PredictionOptions(_confidence(confidence, floor), _classes(classes))


def _confidence(raw: str | None, floor: float) -> float:
    if raw is None:
        return floor
    if len(raw) > MAX_CONFIDENCE_CHARS or not _DECIMAL.fullmatch(raw):
        raise InvalidOptions(f"{confidence_range(floor)}, written as a decimal (0.8)")
    value = float(raw)
    if not floor <= value <= MAX_CONFIDENCE:
        raise InvalidOptions(
            f"{confidence_range(floor)} (the service's floor, and the default when left out)"
        )
    return value


def _classes(raw: str | None) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if len(raw) > MAX_CLASSES_CHARS:
        raise InvalidOptions(f"'classes' is longer than {MAX_CLASSES_CHARS} characters")
    names = [name.strip().lower() for name in raw.split(",")]
    if "" in names:
        raise InvalidOptions(
            "'classes' has an empty name: send COCO class names separated by single commas"
            " (dog,cat)"
        )
    unknown = list(dict.fromkeys(n for n in names if n not in _CLASS_ORDER))
    if unknown:
        shown = ", ".join(repr(n[:40]) for n in unknown[:_SHOWN_UNKNOWN])
        more = f" and {len(unknown) - _SHOWN_UNKNOWN} more" if len(unknown) > _SHOWN_UNKNOWN else ""
        raise InvalidOptions(f"'classes' names no such class: {shown}{more}; {WHERE_CLASSES_ARE}")
    return tuple(sorted(set(names), key=_CLASS_ORDER.__getitem__))


def same_options(stored: PredictionOptions | None, asked: PredictionOptions, floor: float) -> bool:
    """Whether a prediction's stored options are those `asked` (an Idempotency-Key's repeat).
    A prediction made before options existed (None) applied the floor to every class."""
    return (stored or PredictionOptions(floor)) == asked
