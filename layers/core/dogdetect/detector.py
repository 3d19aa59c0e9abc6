"""Builds the detector from settings: finds the weights and loads them once."""

from __future__ import annotations

from pathlib import Path

from dogdetect.adapters.yolo import YoloDetector, find_model
from dogdetect.settings import Settings

# The checkout root (layers/core/dogdetect/ -> three levels up), for models/ beside it.
_CHECKOUT_ROOT = Path(__file__).resolve().parents[3]

# Store every detection ultralytics is sure of; `has_dog` applies DOG_CONFIDENCE on top.
DETECTION_CONFIDENCE = 0.25


def load_detector(settings: Settings) -> YoloDetector:
    model = find_model(settings.model_path, [Path.cwd(), _CHECKOUT_ROOT])
    detector = YoloDetector(model, confidence=min(DETECTION_CONFIDENCE, settings.dog_confidence))
    detector.warm_up()
    return detector
