"""Fill OpenVINO's compiled-model cache for the predict image, at build time.

    python build_model_cache.py <model folder> <cache folder>

Compiles the model once with the runtime's own engine (so the cache holds what the function
looks for: the model with the engine's input conversion, saved as an IR, and its compiled
blob, keyed by that IR's path and the CPU configuration) and leaves the cache readable by
every user: Lambda runs the image as a non-root
user, and a blob only root can read would be recompiled on every cold start. Run by the
image's export stage (Dockerfile) and by `make predict-runtime-check`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dogdetect.adapters.detector.openvino import OpenVinoYolo

# The confidence threshold only filters detections: it is not part of the compiled model.
ANY_CONFIDENCE = 0.25


def build(model_dir: Path, cache_dir: Path) -> list[Path]:
    """Compile into `cache_dir`; the cache's files. Raises when OpenVINO wrote none."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    OpenVinoYolo(str(model_dir), ANY_CONFIDENCE, str(cache_dir)).warm_up()
    files = sorted(path for path in cache_dir.rglob("*") if path.is_file())
    if not files:
        raise RuntimeError(f"OpenVINO wrote no compiled model into {cache_dir}")
    for path in [cache_dir, *cache_dir.rglob("*")]:
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
    return files


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    for path in build(Path(sys.argv[1]), Path(sys.argv[2])):
        print(f"compiled-model cache: {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
