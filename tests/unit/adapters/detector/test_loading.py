"""Choosing the detector engine, and what the OpenVINO engine accepts as a model, without a
model: settings, metadata, the error for weights it cannot run, and its import cost.
The engines on the real model: tests/integration/test_openvino_engine.py, test_engine_parity.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest
from dogdetect.adapters.detector.loading import load_detector
from dogdetect.adapters.detector.openvino import NotAnOpenVinoModel, read_metadata
from dogdetect.config import Settings

REPO = Path(__file__).resolve().parents[4]
ENGINE_MODULES = (
    "dogdetect.adapters.detector.geometry",
    "dogdetect.adapters.detector.openvino",
    "dogdetect.adapters.detector.loading",
)

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2].split(","):
    __import__(name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_importing_the_engine_loads_neither_torch_nor_ultralytics() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "layers" / "core"), ",".join(ENGINE_MODULES)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {"cv2", "numpy", "dogdetect"} <= loaded  # the probe sees what was imported
    assert not loaded & {"torch", "torchvision", "ultralytics"}


def test_openvino_is_the_default_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DETECTOR_ENGINE", raising=False)
    monkeypatch.delenv("OPENVINO_CACHE_DIR", raising=False)
    settings = Settings()
    assert settings.detector_engine == "openvino"
    assert settings.openvino_cache_dir is None


def test_engine_and_cache_dir_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DETECTOR_ENGINE", "ultralytics")
    monkeypatch.setenv("OPENVINO_CACHE_DIR", "/opt/models/openvino-cache")
    settings = Settings()
    assert settings.detector_engine == "ultralytics"
    assert settings.openvino_cache_dir == "/opt/models/openvino-cache"


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="detector_engine"):
        Settings(detector_engine="tensorflow")  # type: ignore[arg-type]


@pytest.mark.parametrize("weights", ["yolo11n.pt", "yolo11n.onnx"])
def test_openvino_engine_names_the_ultralytics_engine_for_other_weights(
    tmp_path: Path, weights: str
) -> None:
    (tmp_path / weights).write_bytes(b"weights")
    with pytest.raises(NotAnOpenVinoModel, match="DETECTOR_ENGINE=ultralytics"):
        load_detector(Settings(model_path=str(tmp_path / weights), detector_engine="openvino"))


def test_an_openvino_folder_needs_its_metadata(tmp_path: Path) -> None:
    (tmp_path / "model.xml").write_text("<net/>")
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(NotAnOpenVinoModel, match=r"metadata\.yaml"):
        load_detector(Settings(model_path=str(tmp_path)))


def test_metadata_gives_class_names_and_input_size(tmp_path: Path) -> None:
    (tmp_path / "metadata.yaml").write_text(
        "stride: 32\ntask: detect\nimgsz:\n- 320\n- 320\nnames:\n  0: person\n  1: traffic light\n"
        "  2: 'yes'\n"
    )
    meta = read_metadata(tmp_path)
    assert meta.input_size == 320
    assert meta.names == {0: "person", 1: "traffic light", 2: "yes"}


def test_a_rectangular_input_is_refused(tmp_path: Path) -> None:
    (tmp_path / "metadata.yaml").write_text("imgsz: [384, 640]\nnames: {0: person}\n")
    with pytest.raises(NotAnOpenVinoModel, match="not square"):
        read_metadata(tmp_path)
