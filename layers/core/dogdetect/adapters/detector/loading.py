"""Builds the detector from settings: finds the model, loads it once with the chosen engine."""

from __future__ import annotations

from pathlib import Path

from dogdetect.adapters.detector.ultralytics import find_model
from dogdetect.config import Settings
from dogdetect.domain.ports import Detector

# The checkout root (five levels above this folder), for models/ beside it.
_CHECKOUT_ROOT = Path(__file__).resolve().parents[5]

# Store every detection ultralytics is sure of; `has_dog` applies DOG_CONFIDENCE on top.
DETECTION_CONFIDENCE = 0.25


def load_detector(settings: Settings) -> Detector:
    """The engine DETECTOR_ENGINE names, loaded and warmed up. openvino (the default) runs
    an OpenVINO export only, and says so for anything else. Each engine's modules are
    imported here, the chosen one's only (OpenCV for one, torch for the other)."""
    model = find_model(settings.model_path, [Path.cwd(), _CHECKOUT_ROOT])
    confidence = min(DETECTION_CONFIDENCE, settings.dog_confidence)
    if settings.detector_engine == "openvino":
        from dogdetect.adapters.detector.openvino import OpenVinoYolo

        engine = OpenVinoYolo(model, confidence, settings.openvino_cache_dir)
        engine.warm_up()
        return engine
    from dogdetect.adapters.detector.ultralytics import YoloDetector

    detector = YoloDetector(model, confidence=confidence)
    detector.warm_up()
    return detector
