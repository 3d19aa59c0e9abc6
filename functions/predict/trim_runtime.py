"""Remove from an installed site-packages what the predict function's CPU engine never loads.

    python trim_runtime.py <site-packages>

The OpenVINO wheel ships plugins for every device and a frontend for every model format; the
engine reads an OpenVINO IR (.xml + .bin) and runs it on the CPU plugin, so the GPU and NPU
plugins (with the GPU's kernel cache), the other formats' frontends (and their Python
bindings) and the C++ headers go. Shared by the image's runtime stage (Dockerfile) and
`make predict-runtime-check`, which runs the engine on what is left. Standard library only:
it runs in the Lambda base image before anything else is installed there.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

# Globs under site-packages. Each must match something: a new OpenVINO that renamed one
# fails the build here rather than silently keeping it.
UNUSED = (
    "openvino/libs/libopenvino_intel_gpu_plugin.so",
    "openvino/libs/libopenvino_intel_npu_plugin.so",
    "openvino/libs/cache.json",  # the GPU plugin's kernel tuning cache
    "openvino/libs/libopenvino_tensorflow_frontend.so*",
    "openvino/libs/libopenvino_tensorflow_lite_frontend.so*",
    "openvino/libs/libopenvino_paddle_frontend.so*",
    "openvino/libs/libopenvino_pytorch_frontend.so*",
    "openvino/libs/libopenvino_jax_frontend.so*",
    "openvino/libs/libopenvino_onnx_frontend.so*",
    "openvino/libs/libopenvino_gguf_frontend.so*",
    "openvino/frontend/tensorflow",
    "openvino/frontend/paddle",
    "openvino/frontend/pytorch",
    "openvino/frontend/jax",
    "openvino/frontend/onnx",
    "openvino/include",  # C++ headers and CMake files: for building against OpenVINO
    "openvino/cmake",
)
# What reading an IR and running it on the CPU needs: never matched by the globs above.
NEEDED = (
    "openvino/libs/libopenvino.so*",
    "openvino/libs/libopenvino_ir_frontend.so*",
    "openvino/libs/libopenvino_intel_cpu_plugin.so",
    "openvino/libs/libtbb.so*",
)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def trim(site: Path) -> int:
    """Remove UNUSED from `site`; the bytes removed. Raises when a glob matches nothing."""
    missing = [pattern for pattern in NEEDED if not any(site.glob(pattern))]
    if missing:
        raise FileNotFoundError(f"not an OpenVINO installation, missing {missing} in {site}")
    unmatched = [pattern for pattern in UNUSED if not any(site.glob(pattern))]
    if unmatched:
        raise FileNotFoundError(f"nothing to trim matches {unmatched} in {site}")
    removed = 0
    for pattern in UNUSED:
        for path in sorted(site.glob(pattern)):
            removed += _size(path)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    return removed


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    removed = trim(Path(sys.argv[1]))
    print(f"trimmed {removed:,} bytes of OpenVINO the CPU engine never loads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
