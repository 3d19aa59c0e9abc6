"""What every part of the bench shares: where things are, the photos, the results folder, the
progress bar, statistics, and running a measurement in a fresh interpreter (`bench.worker`)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
RESULTS = REPO / "bench" / "results"
NAN = float("nan")
# The drain's photos, as issue 18's black-box table took them: the two shared ones, in turn.
DRAIN_PHOTOS = (SHARED / "images" / "dog.jpg", SHARED / "images" / "horses.jpg")


def photos() -> list[Path]:
    """Four photos: the two shared ones and two of ultralytics' samples."""
    spec = importlib.util.find_spec("ultralytics")  # its folder only: nothing is imported
    assert spec is not None and spec.origin is not None
    assets = Path(spec.origin).parent / "assets"
    return [*DRAIN_PHOTOS, assets / "bus.jpg", assets / "zidane.jpg"]


def cycle(items: Iterable[Path], n: int) -> list[Path]:
    pool = list(items)
    return [pool[i % len(pool)] for i in range(n)]


def offline_env(**extra: str) -> dict[str, str]:
    """This environment, with ultralytics kept offline and quiet."""
    quiet = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_VERBOSE": "false"}
    return {**os.environ, **quiet, **extra}


def run_worker(what: str, args: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    """`python -m bench.worker what args` in a fresh interpreter; its BENCH-RESULT line."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", what, json.dumps(args)],
        cwd=REPO,
        env=env or offline_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise RuntimeError(f"bench.worker {what} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def save(part: str, data: Any) -> None:
    """bench/results/<part>.json: the raw figures the report is drawn from."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{part}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")


def load(folder: Path = RESULTS) -> dict[str, Any]:
    """Every part a run saved, by name; a part not measured is absent."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


class Steps:
    """The progress bar: one tick per measurement."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm  # here: the report's unit tests (.venv313) have no tqdm

        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)

    def __call__(self, label: str) -> None:
        self.bar.set_description(label)

    def done(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


DATABASE_P95_LIMIT_S = 0.050  # issue 19: the replay's ceiling is where a call's p95 passes it


def held(step: dict[str, Any]) -> bool:
    """A step of the database replay it kept up with: p95 within the limit, its rate achieved
    (within 10%)."""
    within = step["p95_ms"] <= DATABASE_P95_LIMIT_S * 1000
    return bool(within and step["achieved_ips"] >= 0.9 * step["rate_ips"])


def known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def pct(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0..100), linear between the closest ranks; NaN without values."""
    ordered = sorted(values)
    if not ordered:
        return NAN
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Iterable[float | None]) -> float:
    present = [float(v) for v in values if v is not None and known(float(v))]
    return statistics.median(present) if present else NAN


def median_of(runs: Iterable[Mapping[str, Any]], key: str) -> float:
    """The median of one field over runs, skipping runs that lack it."""
    return median(r.get(key) for r in runs)


def ratio(numerator: float | None, denominator: float | None) -> float:
    if not known(numerator) or not known(denominator) or not denominator:
        return NAN
    return float(numerator) / float(denominator)  # type: ignore[arg-type]
