"""What every measurement of the bench shares: where things are, the photos, the progress bar,
and running a measurement in a fresh interpreter (`bench.worker`)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
OPENVINO_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
WORKER_TIMEOUT_S = 600


def photos() -> list[Path]:
    """The four photos every measurement cycles through: two shared, two of ultralytics'."""
    spec = importlib.util.find_spec("ultralytics")  # its folder only: nothing is imported
    assert spec is not None and spec.origin is not None
    assets = Path(spec.origin).parent / "assets"
    return [
        SHARED / "images" / "dog.jpg",
        SHARED / "images" / "horses.jpg",
        assets / "bus.jpg",
        assets / "zidane.jpg",
    ]


def model_input_side(model_dir: Path = OPENVINO_MODEL) -> int:
    """The export's square input side, from its metadata.yaml (`imgsz`)."""
    import yaml

    imgsz = yaml.safe_load((model_dir / "metadata.yaml").read_text())["imgsz"]
    return int(imgsz if isinstance(imgsz, int) else imgsz[0])


def cycle(items: list[Path], n: int) -> list[Path]:
    return [items[i % len(items)] for i in range(n)]


def offline_env(**extra: str) -> dict[str, str]:
    """This environment, with ultralytics kept offline and quiet."""
    return {
        **os.environ,
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_VERBOSE": "false",
        **extra,
    }


def run_worker(what: str, args: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    """`python -m bench.worker what args` in a fresh interpreter; its BENCH-RESULT line."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", what, json.dumps(args)],
        cwd=REPO,
        env=env or offline_env(),
        capture_output=True,
        text=True,
        timeout=WORKER_TIMEOUT_S,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise RuntimeError(f"bench.worker {what} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


class Steps:
    """The progress bar: one tick per measurement."""

    def __init__(self, total: int) -> None:
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)

    def __call__(self, label: str) -> None:
        self.bar.set_description(label)

    def done(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
