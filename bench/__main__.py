"""`make bench`: every figure of docs/benchmarks.md, measured on this machine in one run.

Each ratio is taken between two measurements of the same run, minutes apart (the engine's
limits right before the drain they are compared with), so that a noisy machine moves both."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import contention, database, measure, report
from bench.common import RESULTS, Steps, save


@dataclass(frozen=True)
class Plan:
    """How many images and repeats: a full run, or a quick smoke run."""

    drain_images: int  # the queue pre-filled with this many uploads
    phone_images: int
    submit_images: int  # per concurrency, predict paused
    repeats: int  # cold starts
    s3_rounds: int


FULL = Plan(150, 20, 64, 3, 3)
QUICK = Plan(40, 10, 16, 1, 1)


def measure_all(only: str | None, plan: Plan, work: Path, step: Steps) -> None:
    from local.launcher import running_stack

    phone = measure.phone_photo(work)
    if only is None:
        step("runtime closure, decoding a 12 MP photo")
        if (closure := measure.closure()) is not None:
            save("closure", closure)
        save("decode", measure.decoding(phone, 640))
        step.done()
    if only in (None, "stack"):
        step("starting the local stack")
        with running_stack(work / "stack") as stack:
            step.done()
            measure.on_stack(stack, step, plan, phone, report.facts().batch_size)
    if only in (None, "database"):
        batch = report.facts().batch_size
        save("database", database.measure(work, batch, step, step.done))
    if only in (None, "contention"):
        save("waits", contention.waits(work, step))
        save("drawings", contention.drawings(work, step, phone))
        save("webhooks", contention.webhooks(work, step))


CONTENTION_STEPS = contention.WAIT_STEPS + contention.DRAWING_STEPS + contention.WEBHOOK_STEPS
STEPS = 1 + 1 + measure.STACK_STEPS + database.DB_STEPS + CONTENTION_STEPS + 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer images (a smoke run)")
    parser.add_argument("--report-only", action="store_true", help="render from bench/results")
    parser.add_argument(
        "--only",
        choices=("stack", "database", "contention"),
        help="measure only the parts on the main stack (engine, drain, cold starts, batches, "
        "submit, load), the database replay or the contention stacks; the rest stays",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report.write()
        return
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "Ultralytics"))
    when, python = datetime.now(UTC).isoformat(), platform.python_version()
    machine = {"when": when, "python": python, "cpus": os.cpu_count(), "quick": args.quick}
    save("machine", {**machine, "load_average_at_start": os.getloadavg()})
    work = Path(tempfile.mkdtemp(prefix="dogdetect-bench-"))
    step = Steps(total=STEPS)
    try:
        measure_all(args.only, plan, work, step)
        step("report")
        elapsed = time.monotonic() - started
        save("run", {"elapsed_s": elapsed, "load_average_at_end": os.getloadavg()})
        report.write()
        step.done()
    finally:
        step.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"bench: {time.monotonic() - started:.0f} s; wrote {RESULTS} and docs/benchmarks.md")


if __name__ == "__main__":
    main()
