"""functions/predict/trim_runtime.py, the predict image's runtime-stage trim, on a fake
OpenVINO layout (the real one is trimmed and run by `make predict-runtime-check`)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "functions" / "predict" / "trim_runtime.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trim_runtime", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


trim_runtime = load_script()

KEPT = [
    "openvino/libs/libopenvino.so.2641",
    "openvino/libs/libopenvino_ir_frontend.so.2641",
    "openvino/libs/libopenvino_intel_cpu_plugin.so",
    "openvino/libs/libopenvino_auto_plugin.so",
    "openvino/libs/libtbb.so.12",
    "openvino/frontend/__init__.py",
    "openvino/__init__.py",
    "numpy/__init__.py",
]
REMOVED = [
    "openvino/libs/libopenvino_intel_gpu_plugin.so",
    "openvino/libs/libopenvino_intel_npu_plugin.so",
    "openvino/libs/cache.json",
    "openvino/libs/libopenvino_tensorflow_frontend.so.2641",
    "openvino/libs/libopenvino_tensorflow_lite_frontend.so.2641",
    "openvino/libs/libopenvino_paddle_frontend.so.2641",
    "openvino/libs/libopenvino_pytorch_frontend.so.2641",
    "openvino/libs/libopenvino_jax_frontend.so.2641",
    "openvino/libs/libopenvino_onnx_frontend.so.2641",
    "openvino/libs/libopenvino_gguf_frontend.so.2641",
    "openvino/frontend/tensorflow/__init__.py",
    "openvino/frontend/paddle/__init__.py",
    "openvino/frontend/pytorch/ts_decoder.py",
    "openvino/frontend/jax/__init__.py",
    "openvino/frontend/onnx/__init__.py",
    "openvino/include/openvino/openvino.hpp",
    "openvino/cmake/OpenVINOConfig.cmake",
]


def make_site(root: Path, files: list[str]) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x" * 10)
    return root


def test_removes_what_the_cpu_engine_never_loads_and_keeps_the_rest(tmp_path: Path) -> None:
    site = make_site(tmp_path, KEPT + REMOVED)
    removed = trim_runtime.trim(site)
    assert removed == 10 * len(REMOVED)
    assert [name for name in KEPT if not (site / name).exists()] == []
    assert [name for name in REMOVED if (site / name).exists()] == []
    assert not (site / "openvino" / "frontend" / "pytorch").exists()


def test_a_pattern_that_matches_nothing_fails_the_build(tmp_path: Path) -> None:
    site = make_site(tmp_path, KEPT + REMOVED[1:])  # no GPU plugin: a renamed file, say
    with pytest.raises(FileNotFoundError, match="intel_gpu_plugin"):
        trim_runtime.trim(site)
    assert (site / REMOVED[1]).exists()  # nothing was removed


def test_refuses_a_folder_without_openvino_s_cpu_runtime(tmp_path: Path) -> None:
    site = make_site(tmp_path, [n for n in KEPT if "intel_cpu" not in n] + REMOVED)
    with pytest.raises(FileNotFoundError, match="intel_cpu_plugin"):
        trim_runtime.trim(site)
