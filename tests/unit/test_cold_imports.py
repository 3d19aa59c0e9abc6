"""The zip functions (all but predict's image) never import torch, ultralytics or numpy:
their Lambda packages (the dependency layer) do not contain them, and importing them would cost
seconds of cold start. Each import runs in a fresh
interpreter with sys.path as in Lambda (the function's folder, then the core layer)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from local.template import functions

REPO = Path(__file__).resolve().parents[2]
# numpy too: only the worker decodes pixels; submit validates without it (cold start).
HEAVY = ("torch", "torchvision", "ultralytics", "openvino", "onnxruntime", "numpy")

PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[3].split(","))))
"""


# Every function of the template but the container image (functions/<name>/Dockerfile).
ZIP_FUNCTIONS = sorted(
    n for n in functions() if not (REPO / "functions" / n / "Dockerfile").exists()
)


def test_every_zip_function_is_checked() -> None:
    assert {"submit", "status", "sweep", "deadletter", "migrate"} <= set(ZIP_FUNCTIONS)


@pytest.mark.parametrize("function", ZIP_FUNCTIONS)
def test_function_imports_no_model_runtime(function: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(REPO / "functions" / function),
            str(REPO / "layers" / "core"),
            ",".join(HEAVY),
        ],
        cwd=REPO / "functions" / function,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_probe_sees_heavy_imports() -> None:
    """The probe reports what is imported (here numpy, which the yolo adapter needs)."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.replace("import app", "import dogdetect.adapters.yolo"),
         str(REPO / "functions" / "predict"), str(REPO / "layers" / "core"), "numpy"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "numpy" in json.loads(proc.stdout.strip().splitlines()[-1])
