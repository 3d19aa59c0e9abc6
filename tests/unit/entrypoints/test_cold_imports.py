"""The zip functions (all but predict's image) never import torch, ultralytics or numpy:
their Lambda packages (the dependency layer) do not contain them, and importing them would cost
seconds of cold start. Nor what their requests never use: boto3 and its s3transfer (botocore's
clients are the same), and the X-Ray SDK where tracing is off. Each import runs in a fresh
interpreter with sys.path as in Lambda (the function's folder, then the core layer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from local.template import functions

REPO = Path(__file__).resolve().parents[3]
# numpy too: only the worker decodes pixels; submit validates without it (cold start).
HEAVY = ("torch", "torchvision", "ultralytics", "openvino", "onnxruntime", "numpy")
# What no request uses: boto3's resources and managed transfers (~0.1 s); the X-Ray SDK
# (~0.15 s) while tracing is off, as here: no LAMBDA_TASK_ROOT (dogdetect.runtime.observability).
UNUSED = ("boto3", "s3transfer", "aws_xray_sdk")
# What predict's init has no use for: Powertools' batch package (asyncio among its imports;
# predict answers for its batch itself, dogdetect.runtime.sqs_batch) and drawing (status's).
PREDICT_UNUSED = ("aws_lambda_powertools.utilities.batch", "dogdetect.service.annotate")
TRACING_OFF = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
TRACING_ON = {**TRACING_OFF, "LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "0"}

PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app
wanted = sys.argv[3].split(",")
below = tuple(w + "." for w in wanted)
print(json.dumps(sorted(m for m in sys.modules if m in wanted or m.startswith(below))))
"""


# Every function of the template but the container image (functions/<name>/Dockerfile).
ZIP_FUNCTIONS = sorted(
    n for n in functions() if not (REPO / "functions" / n / "Dockerfile").exists()
)


def test_every_zip_function_is_checked() -> None:
    assert {"submit", "status", "sweep", "deadletter", "migrate"} <= set(ZIP_FUNCTIONS)


def imported(function: str, modules: tuple[str, ...], environ: Mapping[str, str]) -> list[str]:
    """Which of `modules` (and their submodules) importing functions/<function>/app.py loads."""
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(REPO / "functions" / function),
            str(REPO / "layers" / "core"),
            ",".join(modules),
        ],
        cwd=REPO / "functions" / function,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(environ),
    )
    assert proc.returncode == 0, proc.stderr
    found: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("function", ZIP_FUNCTIONS)
def test_function_imports_no_model_runtime(function: str) -> None:
    assert imported(function, HEAVY + UNUSED, TRACING_OFF) == []


def test_predict_imports_neither_the_batch_processor_nor_drawing() -> None:
    assert imported("predict", PREDICT_UNUSED, TRACING_OFF) == []


def test_the_probe_sees_a_package_imported_below_its_top() -> None:
    assert "dogdetect.service.annotate" in imported("status", PREDICT_UNUSED, TRACING_OFF)


def test_tracing_on_imports_the_xray_sdk() -> None:
    """In Lambda with tracing on (the template's `Tracing: Active`) the tracer is there."""
    assert "aws_xray_sdk" in imported("submit", ("aws_xray_sdk",), TRACING_ON)


def test_probe_sees_heavy_imports() -> None:
    """The probe reports what is imported (here numpy, which the yolo adapter needs)."""
    proc = subprocess.run(
        [sys.executable, "-c",
         PROBE.replace("import app", "import dogdetect.adapters.detector.ultralytics"),
         str(REPO / "functions" / "predict"), str(REPO / "layers" / "core"), "numpy"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "numpy" in json.loads(proc.stdout.strip().splitlines()[-1])
