"""`make bench`: every figure of docs/benchmarks.md, measured on this machine in one run.

Each ratio is taken between two measurements made minutes apart in the same run (the bare
model right before the pipeline it is compared with), so that a noisy machine moves both."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench import load
from bench.sizes import variant_sizes

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SHARED = REPO.parent / "shared"
OPENVINO_MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
CONCURRENCIES = (1, 8, 32)
LOAD_FACTORS = (1, 4, 16)


def photos() -> list[Path]:
    spec_origin = __import__("importlib.util").util.find_spec("ultralytics").origin
    assets = Path(spec_origin).parent / "assets"
    return [
        SHARED / "images" / "dog.jpg",
        SHARED / "images" / "horses.jpg",
        assets / "bus.jpg",
        assets / "zidane.jpg",
    ]


def cycle(items: list[Path], n: int) -> list[Path]:
    return [items[i % len(items)] for i in range(n)]


def run_worker(what: str, args: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", what, json.dumps(args)],
        cwd=REPO,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line.removeprefix("BENCH-RESULT "))
    raise RuntimeError(f"bench.worker {what} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def save(name: str, data: Any) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")


class Steps:
    """The progress bar: one tick per measurement."""

    def __init__(self, total: int) -> None:
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)

    def __call__(self, label: str) -> None:
        self.bar.set_description(label)

    def done(self) -> None:
        self.bar.update(1)


# --- models -------------------------------------------------------------------------------


def _offline_env() -> dict[str, str]:
    return {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_VERBOSE": "false"}


def prepare_models(work: Path) -> dict[str, Any]:
    """PyTorch and ONNX models from the shared OpenVINO export (no official weights offline)."""
    official = REPO / "models" / "yolo11n.pt"
    models: dict[str, Any] = {"openvino": {"path": str(OPENVINO_MODEL), "weights": "shared"}}
    if official.exists():
        pt, origin = official, "official yolo11n.pt"
    else:
        # In a child: torch stays out of this process, whose memory its children would inherit.
        pt = work / "yolo11n.pt"
        code = (
            "import sys; from pathlib import Path; from bench.reconstruct import reconstruct_pt; "
        )
        code += "reconstruct_pt(Path(sys.argv[1]), Path(sys.argv[2]))"
        subprocess.run(
            [sys.executable, "-c", code, str(OPENVINO_MODEL), str(pt)],
            cwd=REPO,
            env=_offline_env(),
            check=True,
            capture_output=True,
            timeout=300,
        )
        origin = "reconstructed from the shared INT8 export (dequantized)"
    models["pytorch"] = {"path": str(pt), "weights": origin}
    env = _offline_env()
    code = (
        "import sys; from ultralytics import YOLO; "
        "print(YOLO(sys.argv[1]).export(format='onnx', simplify=False, imgsz=640))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(pt)], env=env, capture_output=True, text=True, timeout=300
    )
    onnx = pt.with_suffix(".onnx")
    if proc.returncode == 0 and onnx.exists():
        models["onnxruntime"] = {"path": str(onnx), "weights": f"{origin}, exported to ONNX"}
    else:
        models["onnxruntime"] = {"path": None, "weights": f"export failed: {proc.stderr[-500:]}"}
    return models


def measure_backends(models: dict[str, Any], step: Steps, rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    images = [str(p) for p in photos()]
    for name in ("openvino", "pytorch", "onnxruntime"):
        step(f"backend {name}")
        model = models[name]
        if model["path"] is None:
            out[name] = {"not_measured": model["weights"]}
        else:
            args = {
                "backend": name,
                "model": model["path"],
                "photos": images,
                "rounds": rounds,
                "batch": 10,
                "batch_rounds": 3,
            }
            out[name] = {**run_worker("backend", args), "weights": model["weights"]}
        step.done()
    available = {name: m["path"] for name, m in models.items() if m["path"] is not None}
    step("backends head to head")
    together = {"models": available, "photos": images, "rounds": rounds}
    out["head_to_head"] = run_worker("head_to_head", together)
    step.done()
    return out


# --- the local stack ----------------------------------------------------------------------


def _children(pid: int, needle: str) -> list[Any]:
    import psutil

    return [
        p for p in psutil.Process(pid).children(recursive=True) if needle in " ".join(p.cmdline())
    ]


@contextmanager
def predict_paused(stack: Any) -> Iterator[None]:
    """SIGSTOP the stack's poller (our own child), so submit is measured alone."""
    pollers = _children(stack.process.pid, "local.poller")
    for p in pollers:
        p.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for p in pollers:
            p.send_signal(signal.SIGCONT)


def function_env(stack: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update({k: v for k, v in stack.environment.items() if k.isupper()})
    return env


def measure_functions(stack: Any, step: Steps, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dog = str(SHARED / "images" / "dog.jpg")
    for name in ("submit", "status", "sweep", "predict"):
        step(f"cold start {name}")
        runs = [
            run_worker(
                "function",
                {"function": name, "photo": dog, "model": str(OPENVINO_MODEL)},
                function_env(stack),
            )
            for _ in range(repeats)
        ]
        out[name] = runs
        step.done()
    return out


def measure_pipeline(stack: Any, step: Steps, n: int, idle_n: int) -> dict[str, Any]:
    api = stack.api_url
    pics = photos()
    out: dict[str, Any] = {"images_per_run": n}
    step("warm-up")
    load.wait_idle(api, pics[0])
    load.upload_and_wait(api, cycle(pics, 8), 8)
    step.done()

    step("submit -> DONE, idle")
    idle = []
    for path in cycle(pics, idle_n):
        run = load.upload_and_wait(api, [path], 1)
        idle.extend(run.done_latencies_s)
    out["idle_done_latencies_s"] = idle
    step.done()

    step("submit latency (predict paused)")
    submit_only: dict[str, list[float]] = {}
    with predict_paused(stack):
        for c in CONCURRENCIES:
            submit_only[str(c)] = load.submit_only(api, cycle(pics, n), c)
    out["submit_only_latencies_s"] = submit_only
    load.wait_idle(api, pics[0])
    step.done()

    throughput: dict[str, Any] = {}
    for c in CONCURRENCIES:
        step(f"bare vs pipeline, concurrency {c}")
        bare = run_worker(
            "bare", {"model": str(OPENVINO_MODEL), "photos": [str(p) for p in cycle(pics, n)]}
        )
        run = load.upload_and_wait(api, cycle(pics, n), c)
        throughput[str(c)] = {
            "bare": bare,
            "pipeline": run.as_dict(),
            "ratio": run.throughput_ips / bare["throughput_ips"],
        }
        load.wait_idle(api, pics[0])
        step.done()
    out["throughput"] = throughput

    scaling: dict[str, Any] = {}
    base = 8
    for factor in LOAD_FACTORS:
        step(f"load x{factor}")
        run = load.upload_and_wait(api, cycle(pics, base * factor), 8)
        scaling[str(factor)] = run.as_dict()
        step.done()
    out["scaling"] = {"base_images": base, "concurrency": 8, "runs": scaling}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer images (a smoke run)")
    parser.add_argument("--report-only", action="store_true", help="redraw from results/")
    args = parser.parse_args(argv)
    from bench import report

    if args.report_only:
        report.write(RESULTS)
        return
    n, idle_n, rounds, repeats = (16, 4, 2, 1) if args.quick else (64, 12, 10, 2)
    started = time.monotonic()
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "Ultralytics"))
    step = Steps(total=1 + 3 + 1 + 1 + 4 + 3 + len(CONCURRENCIES) + len(LOAD_FACTORS) + 1)
    save(
        "machine",
        {
            "when": datetime.now(UTC).isoformat(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "quick": args.quick,
            "load_average_at_start": os.getloadavg(),
        },
    )
    work = Path(tempfile.mkdtemp(prefix="dogdetect-bench-"))
    try:
        step("models and sizes")
        models = prepare_models(work)
        save("sizes", {"models": models, "variants": variant_sizes()})
        step.done()
        save("backends", measure_backends(models, step, rounds))

        from local.launcher import running_stack

        step("starting the local stack")
        with running_stack(work / "stack") as stack:
            step.done()
            save("functions", measure_functions(stack, step, repeats))
            save("pipeline", measure_pipeline(stack, step, n, idle_n))
        step("report")
        save(
            "run", {"elapsed_s": time.monotonic() - started, "load_average_at_end": os.getloadavg()}
        )
        report.write(RESULTS)
        step.done()
    finally:
        step.bar.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"bench: {time.monotonic() - started:.0f} s; wrote {RESULTS} and docs/benchmarks.md")


if __name__ == "__main__":
    main()
