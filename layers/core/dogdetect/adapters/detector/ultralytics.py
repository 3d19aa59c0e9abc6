"""The ultralytics detector (DETECTOR_ENGINE=ultralytics): any model ultralytics runs, .pt and
.onnx included, at the cost of importing torch. The default engine is
`dogdetect.adapters.detector.openvino`, which gives the same answers without it."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dogdetect.domain.models import Box, Detection

OFFICIAL_WEIGHTS = "yolo11n.pt"  # ultralytics downloads it, for users with internet
_MODEL_SUFFIXES = (".pt", ".onnx")


def configure_offline() -> None:
    """Ultralytics reads these at import: no downloads, no pip installs, a writable config."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "Ultralytics"))


def find_model(explicit: str | None, search_roots: Sequence[Path]) -> str:
    """MODEL_PATH, else the first model under models/ or ../shared/models/, else official."""
    if explicit:
        if not Path(explicit).exists():
            raise FileNotFoundError(f"MODEL_PATH {explicit} does not exist")
        return explicit
    for root in search_roots:
        for folder in (root / "models", root.parent / "shared" / "models"):
            found = _model_in(folder)
            if found:
                return found
    return OFFICIAL_WEIGHTS


def _model_in(folder: Path) -> str | None:
    if not folder.is_dir():
        return None
    # OpenVINO first: the fastest backend on CPU that gives the same answers (docs/benchmarks.md).
    for candidate in sorted(folder.glob("*_openvino_model")):
        if (candidate / "metadata.yaml").exists():
            return str(candidate)
    for suffix in (".onnx", ".pt"):
        for candidate in sorted(folder.glob(f"*{suffix}")):
            return str(candidate)
    return None


class YoloDetector:
    def __init__(self, model_path: str, confidence: float, image_size: int = 640) -> None:
        configure_offline()
        from ultralytics import YOLO  # type: ignore[attr-defined]  # heavy: brings torch

        self.model_path = model_path
        self._model: Any = YOLO(model_path, task="detect")
        self._confidence = confidence
        self.input_size = image_size
        self._names: dict[int, str] = dict(self._model.names)

    def warm_up(self) -> None:
        """Run once on a blank image so the first real request does not pay for compilation."""
        self.detect([np.zeros((self.input_size, self.input_size, 3), dtype=np.uint8)])

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        import cv2  # comes with ultralytics

        # ultralytics reads numpy arrays as BGR (OpenCV order); ours are RGB. cvtColor is
        # ~10x faster than copying a reversed-channel view.
        bgr = [cv2.cvtColor(img, cv2.COLOR_RGB2BGR) for img in images]
        results = self._model.predict(
            bgr, conf=self._confidence, imgsz=self.input_size, verbose=False
        )
        return [self._detections(r) for r in results]

    def _detections(self, result: Any) -> list[Detection]:
        boxes = result.boxes
        xyxy = boxes.xyxy.cpu().numpy().tolist()
        confs = boxes.conf.cpu().numpy().tolist()
        classes = boxes.cls.cpu().numpy().astype(int).tolist()
        return [
            Detection(self._names[c], round(float(p), 4), Box(*(round(float(v), 1) for v in xy)))
            for xy, p, c in zip(xyxy, confs, classes, strict=True)
        ]
