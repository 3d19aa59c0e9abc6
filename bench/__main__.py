"""`make bench`: every figure of docs/benchmarks.md, measured on this machine in one run.

Each ratio is taken between two measurements made minutes apart in the same run (the bare
model right before the pipeline it is compared with), so that a noisy machine moves both."""

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

from bench import (
    backends,
    cold_start,
    drain,
    drawings,
    functions,
    phone_photo,
    pipeline,
    report,
    s3_latency,
    template_facts,
    waits,
    webhooks,
)
from bench.common import SHARED, Steps, model_input_side, run_worker
from bench.result_files import RESULTS, save
from bench.sizes import predict_closure


@dataclass(frozen=True)
class Plan:
    """How many images and repeats: a full run, or a quick smoke run."""

    submit_images: int  # per concurrency, with predict paused; and the bursts' base
    idle_uploads: int
    drain_batches: int  # the queue pre-filled with this many full batches
    phone_images: int
    backend_rounds: int
    repeats: int  # cold starts
    s3_rounds: int


FULL = Plan(64, 12, 6, 20, 10, 2, 3)
QUICK = Plan(16, 4, 2, 10, 2, 1, 1)


def machine(quick: bool) -> dict[str, object]:
    return {
        "when": datetime.now(UTC).isoformat(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "quick": quick,
        "load_average_at_start": os.getloadavg(),
    }


def measure_without_stack(plan: Plan, work: Path, phone: Path, step: Steps) -> None:
    step("runtime closure")
    save("closure", predict_closure())
    step.done()
    step("decoding a 12 MP photo")
    pics = {phone.name: str(phone), "dog.jpg": str(SHARED / "images" / "dog.jpg")}
    args = {"photos": pics, "rounds": 5, "min_side": model_input_side()}
    save("decode", {**run_worker("decode", args), "phone": phone_photo.describe(phone)})
    step.done()
    step("models for the backends")
    models = backends.prepare_models(work)
    step.done()
    save("backends", backends.measure(models, step, plan.backend_rounds))


def measure_on_stack(plan: Plan, work: Path, phone: Path, step: Steps) -> None:
    from local.launcher import running_stack

    batch = template_facts.read().batch_size  # full batches: no wait for the window to end
    step("starting the local stack")
    with running_stack(work / "stack") as stack:
        step.done()
        save("functions", functions.measure(stack, step, plan.repeats))
        latencies = pipeline.measure(stack, step, plan.submit_images, plan.idle_uploads)
        drained = drain.measure(stack, step, plan.drain_batches * batch, phone, plan.phone_images)
        save("drain", drained)
        save("cold_start", cold_start.measure(stack, step, plan.repeats))
        save("s3_latency", s3_latency.measure(stack, step, plan.s3_rounds, batch))
        latencies["scaling"] = pipeline.bursts(stack, step)
        save("pipeline", latencies)
    measure_contention(work, phone, step)


def measure_contention(work: Path, phone: Path, step: Steps) -> None:
    """What one client's waits, drawings and slow receivers cost the others: stacks of their
    own."""
    save("waits", waits.measure(work, step))
    save("drawings", drawings.measure(work, step, phone))
    save("webhooks", webhooks.measure(work, step))


STEPS = (
    2
    + 1
    + backends.STEPS
    + 1
    + functions.STEPS
    + pipeline.STEPS
    + drain.STEPS
    + cold_start.STEPS
    + s3_latency.STEPS
    + waits.STEPS
    + drawings.STEPS
    + webhooks.STEPS
    + 1
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer images (a smoke run)")
    parser.add_argument("--report-only", action="store_true", help="redraw from bench/results")
    parser.add_argument(
        "--contention-only",
        action="store_true",
        help="measure waits and drawings again (the rest of bench/results stays), then report",
    )
    args = parser.parse_args(argv)
    if args.report_only:
        report.write()
        return
    if args.contention_only:
        contention_only()
        return
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "Ultralytics"))
    save("machine", machine(args.quick))
    work = Path(tempfile.mkdtemp(prefix="dogdetect-bench-"))
    step = Steps(total=STEPS)
    try:
        phone = phone_photo.make(work)
        measure_without_stack(plan, work, phone, step)
        measure_on_stack(plan, work, phone, step)
        step("report")
        elapsed = time.monotonic() - started
        save("run", {"elapsed_s": elapsed, "load_average_at_end": os.getloadavg()})
        report.write()
        step.done()
    finally:
        step.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"bench: {time.monotonic() - started:.0f} s; wrote {RESULTS} and docs/benchmarks.md")


def contention_only() -> None:
    work = Path(tempfile.mkdtemp(prefix="dogdetect-bench-"))
    step = Steps(total=1 + waits.STEPS + drawings.STEPS + webhooks.STEPS)
    try:
        measure_contention(work, phone_photo.make(work), step)
        step("report")
        report.write()
        step.done()
    finally:
        step.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
