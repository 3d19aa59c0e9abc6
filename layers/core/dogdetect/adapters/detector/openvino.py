"""The default detector: an ultralytics YOLO export run by the OpenVINO runtime alone.

No torch, no ultralytics: the letterbox, decoding and NMS are `geometry`'s (beside this);
the u8 NHWC -> f32 NCHW / 255 conversion is compiled into the model (OpenVINO's
PrePostProcessor). The compiled model is cached in `cache_dir`, which may be read-only once
filled (the predict image fills it at build time), beside the model with that conversion saved
as an IR of its own (`prepared_model`): compiled from a file, a cached model is imported
without reading the model or hashing its weights, in a fifth of the time."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dogdetect.adapters.detector.geometry import letterbox, postprocess
from dogdetect.domain.models import Box, Detection

logger = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path(tempfile.gettempdir()) / "dogdetect-openvino-cache"
METADATA_FILE = "metadata.yaml"
PREPARED_FOLDER = "prepared"  # in the cache: the model with its input conversion, as an IR
# One stream on every core for one synchronous request at a time: the fastest single-image
# call on 2 cores (docs/decisions.md). Precision is the CPU plugin's default, as ultralytics
# leaves it, so both engines give the same answers on any CPU.
CPU_CONFIG: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}


class NotAnOpenVinoModel(ValueError):
    """The model path is not an OpenVINO export folder (an .xml, its .bin, metadata.yaml)."""


@dataclass(frozen=True)
class ModelMetadata:
    names: dict[int, str]
    input_size: int


def read_metadata(model_dir: Path) -> ModelMetadata:
    """Class names and the square input side, from the export's metadata.yaml."""
    import yaml

    # libyaml's parser where PyYAML was built with it: a tenth of the pure-Python one's time
    # (20 ms of a cold start).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    meta = yaml.load((model_dir / METADATA_FILE).read_text(), Loader=loader)  # noqa: S506  # nosec B506
    imgsz = meta["imgsz"]
    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    if height != width:
        raise NotAnOpenVinoModel(f"{model_dir}: the input is {width}x{height}, not square")
    return ModelMetadata({int(k): str(v) for k, v in meta["names"].items()}, int(height))


def model_xml(model_path: str) -> Path:
    """The IR's .xml in an OpenVINO export folder; a clear error for anything else."""
    folder = Path(model_path)
    xml = sorted(folder.glob("*.xml")) if folder.is_dir() else []
    if not xml or not (folder / METADATA_FILE).is_file():
        raise NotAnOpenVinoModel(
            f"{model_path} is not an OpenVINO model folder (an .xml, its .bin and "
            f"{METADATA_FILE}): the openvino engine runs only those; export the model to "
            "OpenVINO, or set DETECTOR_ENGINE=ultralytics to run .pt or .onnx weights"
        )
    return xml[0]


class OpenVinoYolo:
    """The model compiled once, with one inference request: calls must not overlap (predict
    runs one at a time)."""

    def __init__(self, model_dir: str, confidence: float, cache_dir: str | None = None) -> None:
        xml = model_xml(model_dir)
        meta = read_metadata(xml.parent)
        self.model_path = model_dir
        self.input_size = meta.input_size
        self._names = meta.names
        self._confidence = confidence
        self._compiled = compile_model(xml, self.input_size, Path(cache_dir or DEFAULT_CACHE_DIR))
        self._request = self._compiled.create_infer_request()

    @property
    def loaded_from_cache(self) -> bool:
        return bool(self._compiled.get_property("LOADED_FROM_CACHE"))

    def warm_up(self) -> None:
        """Run once on a blank image so the first real request pays for no lazy set-up."""
        self.detect([np.zeros((self.input_size, self.input_size, 3), dtype=np.uint8)])

    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detections for each RGB HxWx3 uint8 array, in its own pixels; one at a time (the
        export's batch is 1)."""
        return [self._detect_one(image) for image in images]

    def _detect_one(self, image: np.ndarray) -> list[Detection]:
        padded, box = letterbox(image, self.input_size)
        self._request.infer({0: padded[np.newaxis]})
        found = postprocess(self._request.get_output_tensor(0).data[0], box, self._confidence)
        return [
            self._detection(xyxy, score, cls)
            for xyxy, score, cls in zip(found.boxes, found.scores, found.classes, strict=True)
        ]

    def _detection(self, xyxy: np.ndarray, score: np.floating, cls: np.integer) -> Detection:
        """Rounded as the ultralytics adapter rounds (4 digits, 0.1 pixel)."""
        box = Box(*(round(float(v), 1) for v in xyxy))
        return Detection(self._names[int(cls)], round(float(score), 4), box)


def compile_model(xml: Path, input_size: int, cache_dir: Path) -> Any:
    """The model compiled for the CPU, taking uint8 NHWC RGB; through the compiled-model
    cache when it can be used, else without it (a cache must never stop the detector)."""
    import openvino as ov  # here, not at import: the module imports without the runtime

    core = ov.Core()
    cached = {**CPU_CONFIG, "CACHE_DIR": str(cache_dir)}
    try:
        prepared = prepared_model(ov, core, xml, input_size, cache_dir)
        if prepared is not None:
            return core.compile_model(str(prepared), "CPU", cached)
        return core.compile_model(_prepare(ov, core, xml, input_size), "CPU", cached)
    except RuntimeError as exc:  # the folder cannot be made, or a blob cannot be read
        logger.warning("compiling without the OpenVINO cache %s: %s", cache_dir, exc)
        return core.compile_model(_prepare(ov, core, xml, input_size), "CPU", CPU_CONFIG)


def prepared_model(ov: Any, core: Any, xml: Path, input_size: int, cache_dir: Path) -> Path | None:
    """The model with its input conversion, saved once as an IR in `cache_dir`, in a folder
    named by what it was made from; None when it is not there and cannot be written (a
    read-only cache). OpenVINO keys the compiled blob of a model compiled from a file by the
    file's path, so a changed model gets a folder, and a blob, of its own."""
    target = cache_dir / PREPARED_FOLDER / fingerprint(xml, input_size) / "model.xml"
    if target.is_file():
        return target
    try:
        target.parent.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=target.parent.parent))
    except OSError:
        return None
    try:
        model = _prepare(ov, core, xml, input_size)
        ov.save_model(model, str(building / target.name), compress_to_fp16=False)
        os.replace(building, target.parent)  # whole or not at all; a racing twin may win
    except OSError as exc:
        logger.info("prepared model not saved in %s: %s", cache_dir, exc)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target if target.is_file() else None


def fingerprint(xml: Path, input_size: int) -> str:
    """What a prepared model is made from: the IR's two files and the input side."""
    digest = hashlib.blake2b(str(input_size).encode(), digest_size=16)
    for part in (xml, xml.with_suffix(".bin")):
        digest.update(part.read_bytes())
    return digest.hexdigest()


def _prepare(ov: Any, core: Any, xml: Path, input_size: int) -> Any:
    return _with_input_conversion(ov, core.read_model(xml), input_size)


def _with_input_conversion(ov: Any, model: Any, input_size: int) -> Any:
    shape = model.input(0).get_partial_shape()
    if not shape.is_static or list(shape.to_shape()) != [1, 3, input_size, input_size]:
        raise NotAnOpenVinoModel(
            f"input {shape}, expected a static [1,3,{input_size},{input_size}]"
        )
    pre = ov.preprocess.PrePostProcessor(model)
    pre.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    pre.input().model().set_layout(ov.Layout("NCHW"))
    pre.input().preprocess().convert_element_type(ov.Type.f32).scale(255.0)
    return pre.build()
