"""ultralytics' model backends side by side (OpenVINO, PyTorch, ONNX Runtime) on the same
photos: what the choice of OpenVINO rests on. No `.pt` can be downloaded here, so the PyTorch
model is rebuilt from the shared OpenVINO export (bench/reconstruct.py) unless
models/yolo11n.pt exists, and exported to ONNX by ultralytics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import OPENVINO_MODEL, REPO, Steps, offline_env, photos, run_worker

NAMES = ("openvino", "pytorch", "onnxruntime")
EXPORT_TIMEOUT_S = 300


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A child interpreter: torch stays out of this process, whose memory children inherit."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=EXPORT_TIMEOUT_S,
    )


def prepare_models(work: Path) -> dict[str, Any]:
    """Each backend's model file and where its weights came from."""
    models: dict[str, Any] = {"openvino": {"path": str(OPENVINO_MODEL), "weights": "shared"}}
    official = REPO / "models" / "yolo11n.pt"
    if official.exists():
        pt, origin = official, "official yolo11n.pt"
    else:
        pt = work / "yolo11n.pt"
        rebuild = (
            "import sys; from pathlib import Path; from bench.reconstruct import reconstruct_pt; "
            "reconstruct_pt(Path(sys.argv[1]), Path(sys.argv[2]))"
        )
        _python(rebuild, str(OPENVINO_MODEL), str(pt)).check_returncode()
        origin = "reconstructed from the shared INT8 export (dequantized)"
    models["pytorch"] = {"path": str(pt), "weights": origin}
    export = (
        "import sys; from ultralytics import YOLO; "
        "print(YOLO(sys.argv[1]).export(format='onnx', simplify=False, imgsz=640))"
    )
    proc = _python(export, str(pt))
    onnx = pt.with_suffix(".onnx")
    if proc.returncode == 0 and onnx.exists():
        models["onnxruntime"] = {"path": str(onnx), "weights": f"{origin}, exported to ONNX"}
    else:
        models["onnxruntime"] = {"path": None, "weights": f"export failed: {proc.stderr[-500:]}"}
    return models


def measure(models: dict[str, Any], step: Steps, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    images = [str(p) for p in photos()]
    for name in NAMES:
        step(f"backend {name}")
        model = models[name]
        if model["path"] is None:
            out[name] = {"not_measured": model["weights"]}
        else:
            args = {
                "backend": name,
                "model": model["path"],
                "photos": images,
                "rounds": rounds,
                "batch": 10,
                "batch_rounds": 3,
            }
            out[name] = {**run_worker("backend", args), "weights": model["weights"]}
        step.done()
    available = {name: m["path"] for name, m in models.items() if m["path"] is not None}
    step("backends head to head")
    together = {"models": available, "photos": images, "rounds": rounds}
    out["head_to_head"] = run_worker("head_to_head", together)
    step.done()
    return out


STEPS = len(NAMES) + 1
