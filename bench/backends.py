"""ultralytics' model backends side by side (OpenVINO, PyTorch, ONNX Runtime) on the same photos:
what the choice of OpenVINO rests on. PyTorch needs the official weights, models/yolo11n.pt
(none can be downloaded here); ONNX is ultralytics' export of them."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from bench.common import MODEL, REPO, Steps, offline_env, photos, run_worker

NAMES = ("openvino", "pytorch", "onnxruntime")
STEPS = len(NAMES) + 1


def prepare_models() -> dict[str, dict[str, Any]]:
    """Each backend's model file and where its weights came from (None: not measured, why)."""
    models: dict[str, dict[str, Any]] = {"openvino": {"path": str(MODEL), "weights": "shared"}}
    pt = REPO / "models" / "yolo11n.pt"
    if not pt.exists():
        missing = {"path": None, "weights": "no official models/yolo11n.pt on this machine"}
        return {**models, "pytorch": missing, "onnxruntime": missing}
    models["pytorch"] = {"path": str(pt), "weights": "official yolo11n.pt"}
    export = "import sys; from ultralytics import YOLO; YOLO(sys.argv[1]).export(format='onnx')"
    argv = [sys.executable, "-c", export, str(pt)]
    proc = subprocess.run(argv, cwd=REPO, env=offline_env(), capture_output=True, text=True)
    exported = proc.returncode == 0 and pt.with_suffix(".onnx").exists()
    weights = (
        "official yolo11n.pt, exported to ONNX"
        if exported
        else f"export failed: {proc.stderr[-300:]}"
    )
    models["onnxruntime"] = {
        "path": str(pt.with_suffix(".onnx")) if exported else None,
        "weights": weights,
    }
    return models


def measure(step: Steps, rounds: int) -> dict[str, Any]:
    step("models for the backends")
    models = prepare_models()
    step.done()
    images = [str(p) for p in photos()]
    out: dict[str, Any] = {}
    for name in NAMES:
        step(f"backend {name}")
        model = models[name]
        if model["path"] is None:
            out[name] = {"not_measured": model["weights"]}
        else:
            args = {"backend": name, "model": model["path"], "photos": images, "rounds": rounds}
            out[name] = {**run_worker("backend", args), "weights": model["weights"]}
        step.done()
    return out
