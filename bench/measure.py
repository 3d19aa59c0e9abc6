"""The measurements of `make bench`, each saved as bench/results/<part>.json: without a stack
(the image's closure, decoding, the backends), then black-box on a local stack (each
function's cold start, the engine's limits beside the drained queue, predict's cold start,
one batch's parts, S3 a hop away, submit, the load) in the order `bench/__main__.py` runs."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import database, latency_proxy
from bench import stack as st
from bench.common import DRAIN_PHOTOS, MODEL, REPO, SHARED, Steps, cycle, photos, run_worker, save
from bench.worker import peak_rss_mb

IMAGE_REPORT = REPO / ".aws-sam-test" / "predict-runtime.json"  # make predict-runtime-check's
PHONE_SIZE, PHONE_QUALITY = (4032, 3024), 90  # a 12 MP phone camera's 4:3 frame
RAW_SECONDS = 6.0
S3_DELAYS_S = (0.0, 0.020, 0.100)  # each way: 20 ms is about a same-region S3 round trip's half
CONCURRENCIES = (1, 8, 32)  # submit alone
LOAD_FACTORS, BURST_BASE, BURST_CONCURRENCY = (1, 4, 16), 8, 8
DOG = SHARED / "images" / "dog.jpg"


def closure() -> dict[str, Any] | None:
    """The predict image's runtime stage as `make predict-runtime-check` installed it."""
    if not IMAGE_REPORT.exists():
        return None
    data = json.loads(IMAGE_REPORT.read_text())  # scripts/predict_runtime.py's report
    source = str(IMAGE_REPORT.relative_to(REPO))
    return {**data, "has_torch": "torch" in data["packages"], "source": source}


def phone_photo(folder: Path) -> Path:
    """`dog.jpg` scaled to a 12 MP phone photo, in the run's work folder (never committed)."""
    from PIL import Image

    out = folder / "phone-12mp.jpg"
    with Image.open(DOG) as photo:
        photo.convert("RGB").resize(PHONE_SIZE, Image.Resampling.LANCZOS).save(
            out, "JPEG", quality=PHONE_QUALITY
        )
    return out


def decoding(phone: Path, min_side: int) -> dict[str, Any]:
    pics = {phone.name: str(phone), DOG.name: str(DOG)}
    found = run_worker("decode", {"photos": pics, "min_side": min_side})
    size = {"width": PHONE_SIZE[0], "height": PHONE_SIZE[1], "quality": PHONE_QUALITY}
    return {"min_side": min_side, "phone": {**size, "bytes": phone.stat().st_size}, "photos": found}


def functions(stack: Any, step: Steps, repeats: int) -> dict[str, Any]:
    """Each function's import and first invocation in a fresh interpreter; predict with each
    engine (the default first)."""
    out: dict[str, Any] = {}
    for name, engine in [(n, "") for n in ("submit", "status", "sweep")] + [
        ("predict", "openvino"), ("predict", "ultralytics")
    ]:  # fmt: skip
        step(f"cold start {name} {engine}")
        env = st.function_env(stack, **({"DETECTOR_ENGINE": engine} if engine else {}))
        args = {"function": name, "photo": str(DOG)}
        out[f"{name} ({engine})" if engine else name] = [
            run_worker("function", args, env) for _ in range(repeats)
        ]
        step.done()
    return out


def engine_limits(n: int, phone: Path, phone_n: int, step: Steps) -> dict[str, Any]:
    """The same model outside the stack, right before the drain: OpenVINO alone, one process
    (the drain's reference) and two pinned single-thread processes (two 1-vCPU Lambda
    environments' limit); the engine with and without decoding; the ultralytics loop."""
    pics = [str(p) for p in cycle(DRAIN_PHOTOS, n)]
    out: dict[str, Any] = {"images": n}
    step("engine limits: OpenVINO alone")
    cores = sorted(os.sched_getaffinity(0))[:2]
    out["raw"] = raw()[0]
    out["pinned_pair"] = raw([{"cpus": [c], "threads": 1} for c in cores])
    out["pinned_alone"] = raw([{"cpus": cores[:1], "threads": 1}])[0]
    step.done()
    step("engine limits: OpenVinoYolo, ultralytics")
    out["engine"] = run_worker("engine", {"model": str(MODEL), "photos": pics})
    sets = {"photos": pics, "phone": [str(phone)] * phone_n}
    out["ultralytics"] = run_worker("ultralytics_loop", {"model": str(MODEL), "sets": sets})
    step.done()
    return out


def raw(shapes: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """OpenVINO alone, one process per shape (its cpus and threads), all timed together."""
    args = {"model": str(MODEL), "photo": str(DOG), "seconds": RAW_SECONDS}
    start = {"start_at": time.time() + 8}  # every process compiled and warm by then
    with ThreadPoolExecutor(len(shapes or [{}])) as pool:
        return list(pool.map(lambda s: run_worker("raw", {**args, **start, **s}), shapes or [{}]))


def drain(stack: Any, paths: list[Path]) -> dict[str, Any]:
    """The poller paused, the photos uploaded, the poller resumed: timed from the resume to the
    last row's own `updated_at`. Inits logged meanwhile say whether an environment was cold;
    the database's statements, the whole stack's (the bench's polls among them)."""
    st.wait_idle(stack.api_url, DOG)  # only these images in the queue
    polls: list[float] = []
    master = database.counting(stack.environment["MASTER_DATABASE_URL"])
    with st.client(stack.api_url) as http, database.counted(master) as statements:
        with st.predict_paused(stack):
            submitted = st.submit_all(http, paths, 8)["ids"]
            since = st.log_size(stack)
            before = st.cpu_seconds(stack)
        resumed_at = time.time()  # the rows' clock is this machine's too
        st.wait_done(http, submitted[-1:], 600, polls)  # the last one queued: about the last done
        cpu = st.cpu_by_role(before, st.cpu_seconds(stack))
        rows = st.wait_done(http, submitted, 600, polls)
    master.dispose()
    done = [st.timestamp(row["updated_at"]) for row in rows]
    elapsed = max(done) - resumed_at if done else float("nan")
    return {"images": len(paths), "finished": len(rows), "elapsed_s": elapsed,
            "errors": len(paths) - len(rows) + sum(row["status"] != "DONE" for row in rows),
            "throughput_ips": len(rows) / elapsed, "inits_during_s": st.inits_since(stack, since),
            "environments": len(st.predict_environments(stack)), "cpu_s_by_role": cpu,
            "cpus": len(os.sched_getaffinity(0)), "load_average": os.getloadavg()[0],
            "database": statements, "status_reads": len(polls)}  # fmt: skip


def drains(
    stack: Any, step: Steps, n: int, phone: Path, phone_n: int, batch: int, repeats: int
) -> dict[str, Any]:
    """The drain `repeats` times, the best of them taken ("photos"), as the reference is the
    better of two raw loops: the machine is shared, and a neighbour's burst lowers either."""
    step("warming every predict environment")
    drain(stack, cycle(DRAIN_PHOTOS, 4 * batch))  # batches in flight at once: each one warm
    step.done()
    step(f"drain of {n} uploads, {repeats} times")
    runs = [drain(stack, cycle(DRAIN_PHOTOS, n)) for _ in range(repeats)]
    out: dict[str, Any] = {"photos": max(runs, key=lambda run: run["throughput_ips"])}
    out["photos_runs_ips"] = [run["throughput_ips"] for run in runs]
    out["phone"] = drain(stack, [phone] * phone_n)
    pids = [p.pid for p in st.predict_environments(stack)]
    out["peak_rss_mb"] = max((peak_rss_mb(p) for p in pids), default=None)
    step.done()
    return out


def cold_starts(stack: Any, step: Steps, repeats: int) -> dict[str, Any]:
    """Every predict environment killed (as Lambda discards containers), one upload, its row
    from `created_at` to DONE; a warm upload right before, the same way."""
    step("predict cold start")
    runs = []
    for _ in range(repeats):
        warm = st.upload_and_wait(stack.api_url, [DOG], 1)  # warm, and the queue empty
        since = st.log_size(stack)
        killed = st.kill_predict_environments(stack)
        load = os.getloadavg()[0]
        cold = st.upload_and_wait(stack.api_url, [DOG], 1)
        runs.append({"done_s": (cold["done_latencies_s"] or [None])[0], "killed": len(killed),
                     "warm_done_s": (warm["done_latencies_s"] or [None])[0],
                     "errors": cold["errors"], "load_average": load,
                     "init_s": st.wait_for_init(stack, since)})  # fmt: skip
    step.done()
    return {"runs": runs}


def batches(stack: Any, step: Steps, rounds: int, batch: int) -> dict[str, Any]:
    """predict's handler in process on batches of fresh rows (uploads, poller paused), each
    part timed; S3 directly, then through bench/latency_proxy.py. At no delay, each batch's
    messages also go through a queue of the bench's and the event through a pipe."""
    endpoint = stack.environment["AWS_ENDPOINT_URL"]
    port = urlsplit(endpoint).port
    assert port is not None
    plan = [{"concurrency": c, "warm_up": False} for _ in range(rounds) for c in (1, 4)]
    plan.insert(0, {"concurrency": 4, "warm_up": True})
    storages = []
    with st.predict_paused(stack), ExitStack() as proxies:
        for delay in S3_DELAYS_S:
            step(f"batches, S3 {delay * 1000:.0f} ms away each way")
            url = endpoint
            if delay:
                url = proxies.enter_context(latency_proxy.delayed(port, delay)).url
            with st.client(stack.api_url) as http:
                ids = st.submit_all(http, cycle(photos(), batch * len(plan)), 8)["ids"]
            runs = [{**r, "ids": ids[i * batch : (i + 1) * batch]} for i, r in enumerate(plan)]
            args = {"runs": runs, "sqs": endpoint}
            found = run_worker("batches", args, st.function_env(stack, AWS_ENDPOINT_URL=url))
            [run.pop("ids") for run in found["runs"]]
            storages.append({"delay_each_way_s": delay, **found})
            step.done()
    st.wait_idle(stack.api_url, DOG)  # their messages: no-ops once the rows are DONE
    return {"batch": batch, "storages": storages}


def submit_alone(stack: Any, step: Steps, n: int) -> dict[str, Any]:
    step("submit alone")
    pics = photos()
    st.upload_and_wait(stack.api_url, cycle(pics, 8), 8)  # every function warm
    paused: dict[str, list[float]] = {}
    attempts: dict[str, list[float]] = {}
    throttled: dict[str, int] = {}
    with st.predict_paused(stack), st.client(stack.api_url, max(CONCURRENCIES)) as http:
        for c in CONCURRENCIES:
            found = st.submit_all(http, cycle(pics, n), c)
            paused[str(c)], attempts[str(c)] = found["latencies_s"], found["attempt_latencies_s"]
            throttled[str(c)] = found["throttled"]
        # The floor: submit's own calls, made directly on the same emulators at c8.
        floor = run_worker("floor", {"photos": [str(p) for p in cycle(pics, n)], "concurrency": 8},
                           st.function_env(stack))  # fmt: skip
    st.wait_idle(stack.api_url, DOG)
    step.done()
    return {
        "submit_only_latencies_s": paused,
        "submit_attempt_latencies_s": attempts,
        "submit_throttled": throttled,
        "floor_c8_latencies_s": floor["latencies_s"],
    }


def bursts(stack: Any, step: Steps) -> dict[str, Any]:
    runs = {}
    for factor in LOAD_FACTORS:
        step(f"load x{factor}")
        paths = cycle(photos(), BURST_BASE * factor)
        runs[str(factor)] = st.upload_and_wait(stack.api_url, paths, BURST_CONCURRENCY)
        step.done()
    return {"base_images": BURST_BASE, "concurrency": BURST_CONCURRENCY, "runs": runs}


STACK_STEPS = 5 + 2 + 2 + 1 + len(S3_DELAYS_S) + 1 + len(LOAD_FACTORS)


def on_stack(stack: Any, step: Steps, plan: Any, phone: Path, batch: int) -> None:
    save("functions", functions(stack, step, plan.repeats))
    engine = engine_limits(plan.drain_images, phone, plan.phone_images, step)
    drained = drains(stack, step, plan.drain_images, phone, plan.phone_images, batch, plan.repeats)
    save("drain", drained)
    save("engine", {**engine, "raw_after_drain": raw()[0]})  # the limit on either side of it
    save("cold_start", cold_starts(stack, step, plan.repeats))
    save("batches", batches(stack, step, plan.s3_rounds, batch))
    pipeline = submit_alone(stack, step, plan.submit_images)
    save("pipeline", {**pipeline, "scaling": bursts(stack, step)})
