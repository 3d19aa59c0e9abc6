"""The raw figures of one run: bench/results/<part>.json, written as each part is measured and
read back whole by the report (`python -m bench --report-only` redraws from them). A part
this run did not measure reads as None, and the report says so instead of failing."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Results:
    machine: dict[str, Any] | None = None  # when, where, load average at the start
    run: dict[str, Any] | None = None  # how long, load average at the end
    closure: dict[str, Any] | None = None  # the predict image's installed runtime closure
    backends: dict[str, Any] | None = None  # ultralytics' backends, one process each
    functions: dict[str, Any] | None = None  # cold start of each function, in process
    drain: dict[str, Any] | None = None  # bare model, bare engine, queue drained by the stack
    cold_start: dict[str, Any] | None = None  # predict worker killed, then one image to DONE
    decode: dict[str, Any] | None = None  # full decode vs decode for the model
    s3_latency: dict[str, Any] | None = None  # a batch with S3 behind a delay, by concurrency
    pipeline: dict[str, Any] | None = None  # idle latency, submit latency, growing load
    waits: dict[str, Any] | None = None  # plain reads, /health and / beside 50 waiters
    drawings: dict[str, Any] | None = None  # /annotated drawn then kept; reads beside 16 drawings
    webhooks: dict[str, Any] | None = None  # an honest receiver's delay, alone and behind 25 slow


PARTS = tuple(f.name for f in fields(Results))


def save(part: str, data: Any, folder: Path = RESULTS) -> None:
    if part not in PARTS:
        raise ValueError(f"unknown results part {part!r}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{part}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")


def load(folder: Path = RESULTS) -> Results:
    found = {}
    for part in PARTS:
        path = folder / f"{part}.json"
        found[part] = json.loads(path.read_text()) if path.exists() else None
    return Results(**found)
