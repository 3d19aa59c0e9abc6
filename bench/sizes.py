"""The predict image's installed runtime closure: the packages functions/predict/requirements.txt
installs, with everything they depend on, and their bytes on disk.

Preferred source: `.aws-sam-test/predict-runtime.json`, written from a real `pip install` of
those requirements for Python 3.13 (the Lambda runtime's). Without it, the closure is computed
from this venv's installed distributions (importlib.metadata: requirements with markers
evaluated, extras ignored; sizes from each distribution's RECORD), which may hold other builds
(a CUDA torch, another Python's wheels): the report says which source it used."""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
# The inputs of the locks (their ranges and `-r` includes); the closure follows from them.
RUNTIME_REQUIREMENTS = REPO / "functions" / "predict" / "requirements.in"
EXPORT_REQUIREMENTS = REPO / "functions" / "predict" / "requirements-export.in"
IMAGE_REPORT = REPO / ".aws-sam-test" / "predict-runtime.json"


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(path: Path) -> list[str]:
    """The distributions a requirements file names, following `-r` includes."""
    names: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            names += requirement_names(path.parent / line.split(maxsplit=1)[1])
        elif not line.startswith("-"):
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate():
                names.append(norm(requirement.name))
    return names


def dist_size(name: str) -> int:
    total = 0
    for file in metadata.distribution(name).files or []:
        try:
            total += file.locate().stat().st_size
        except OSError:
            continue
    return total


def closure(names: list[str]) -> tuple[set[str], set[str]]:
    """`names` and everything they require, as installed here; and those not installed."""
    seen: set[str] = set()
    missing: set[str] = set()
    stack = list(names)
    while stack:
        name = norm(stack.pop())
        if name in seen or name in missing:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        seen.add(name)
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            stack.append(req.name)
    return seen, missing


def installed_closure(*requirement_files: Path) -> dict[str, Any]:
    names = [n for path in requirement_files for n in requirement_names(path)]
    found, missing = closure(names)
    packages = {n: dist_size(n) for n in sorted(found)}
    return {"total_bytes": sum(packages.values()), "packages": packages, "missing": sorted(missing)}


def _from_image_report(data: dict[str, Any]) -> dict[str, Any]:
    packages = data.get("packages") or data.get("per_package_bytes") or {}
    if isinstance(packages, list):  # [{"name": ..., "bytes": ...}]
        packages = {p["name"]: p["bytes"] for p in packages}
    packages = {norm(k): int(v) for k, v in packages.items()}
    total = data.get("total_bytes", data.get("total", sum(packages.values())))
    found = {"total_bytes": int(total), "packages": packages}
    if "trimmed_bytes" in data:  # what the image's build removes that the CPU engine never loads
        found["trimmed_bytes"] = int(data["trimmed_bytes"])
    return found


def predict_closure() -> dict[str, Any]:
    if IMAGE_REPORT.exists():
        found = _from_image_report(json.loads(IMAGE_REPORT.read_text()))
        source = (
            f"`pip install` for Python 3.13 by `make predict-runtime-check`, "
            f"`{IMAGE_REPORT.relative_to(REPO)}`"
        )
    else:
        found = installed_closure(RUNTIME_REQUIREMENTS)
        source = f"computed from this venv's installed packages ({IMAGE_REPORT.name} absent)"
    found["source"] = source
    found["has_torch"] = "torch" in found["packages"]
    if EXPORT_REQUIREMENTS.exists():  # what the image would hold with the ultralytics engine
        with_export = installed_closure(RUNTIME_REQUIREMENTS, EXPORT_REQUIREMENTS)
        found["with_export_requirements_bytes"] = with_export["total_bytes"]
    return found
