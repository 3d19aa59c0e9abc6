"""Installed size of each predict image variant, from the installed distributions' files:
the dependency closure (importlib.metadata requirements, markers evaluated, extras ignored)
of the predict function's packages, with and without each inference backend."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement

# The predict image's own requirements (functions/predict/requirements.txt and the layer).
BASE = [
    "ultralytics",
    "numpy",
    "pillow",
    "aws-lambda-powertools",
    "boto3",
    "fastapi",
    "mangum",
    "pydantic",
    "pydantic-settings",
    "sqlalchemy",
    "pg8000",
    "alembic",
]
BACKENDS = {
    "pytorch": ["torch", "torchvision"],  # ultralytics needs torch in every variant
    "openvino": ["torch", "torchvision", "openvino"],
    "onnxruntime": ["torch", "torchvision", "onnxruntime"],
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_size(name: str) -> int:
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        try:
            total += file.locate().stat().st_size
        except OSError:
            continue
    return total


def closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = _norm(stack.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            stack.append(req.name)
    return seen


def variant_sizes() -> dict[str, object]:
    out: dict[str, object] = {}
    for variant, extra in BACKENDS.items():
        names = closure(BASE + extra)
        sizes = {n: dist_size(n) for n in sorted(names)}
        out[variant] = {"total_bytes": sum(sizes.values()), "packages": sizes}
    out["backend_packages_bytes"] = {
        n: dist_size(n) for n in ("torch", "torchvision", "openvino", "onnxruntime")
    }
    torch_closure = closure(["torch"])
    out["torch_closure_bytes"] = sum(dist_size(n) for n in torch_closure)
    return out
