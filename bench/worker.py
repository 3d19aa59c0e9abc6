"""Measurements that need a process of their own: cold starts and peak memory, model loops,
decoding, predict's batches in process. `python -m bench.worker <what> <json args>` prints one
`BENCH-RESULT <json>` line. Imports are deferred so that the import time measured is the one a
Lambda container pays."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from local.memory import KIB_PER_MB, peak_resident_kib

REPO = Path(__file__).resolve().parent.parent
CORE = REPO / "layers" / "core"
MAX_PIXELS = 40_000_000
CONFIDENCE = 0.25


def peak_rss_mb(pid: int | None = None) -> float:
    """A process's (this one's by default) high-water mark of resident memory (VmHWM) in MiB;
    NaN when it cannot be read."""
    found = peak_resident_kib(os.getpid() if pid is None else pid)
    return float("nan") if found is None else found / KIB_PER_MB


def lambda_path(function: str) -> None:
    """sys.path as in Lambda: the function's code, then the layer (/opt/python)."""
    sys.path[:0] = [str(REPO / "functions" / function), str(CORE)]


def _loaded() -> list[str]:
    return [m for m in ("cv2", "numpy", "openvino", "torch", "ultralytics") if m in sys.modules]


def _timed(call: Callable[[], Any]) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def _loop(items: list[Any], step: Callable[[Any], Any]) -> dict[str, Any]:
    elapsed = _timed(lambda: [step(item) for item in items])
    return {"images": len(items), "elapsed_s": elapsed, "throughput_ips": len(items) / elapsed}


# -- each function's cold start ----------------------------------------------------------------


def _http_event(method: str, path: str, photo: bytes = b"") -> dict[str, Any]:
    """API Gateway's event for a request; with `photo`, an upload of it (multipart)."""
    from local.events import http_api_event

    headers, body = {"host": "bench"}, b""
    if photo:
        part = 'Content-Disposition: form-data; name="image"; filename="d.jpg"'
        body = (
            f"--b\r\n{part}\r\nContent-Type: image/jpeg\r\n\r\n".encode() + photo + b"\r\n--b--\r\n"
        )
        headers["content-type"] = "multipart/form-data; boundary=b"
    return http_api_event(
        route_key=f"{method} {path}", method=method, path=path, query_string="", headers=headers,
        body=body, path_parameters={}, source_ip="127.0.0.1", host="bench",
    )  # fmt: skip


def function(args: dict[str, Any]) -> dict[str, Any]:
    """Import the handler module as Lambda would, then its first invocation(s); predict: its
    init (the detector its settings choose, warmed up), then dog.jpg decoded and detected."""
    name, photo = args["function"], Path(args["photo"])
    lambda_path(name)
    started = time.perf_counter()
    import app

    out: dict[str, Any] = {"import_s": time.perf_counter() - started, "at_import": _loaded()}
    from local.functions import invoke

    events: dict[str, Callable[[], dict[str, Any]]] = {
        "submit": lambda: _http_event("POST", "/image_prediction", photo.read_bytes()),
        "status": lambda: _http_event("GET", "/health"),
        "sweep": lambda: {"source": "aws.events", "detail-type": "Scheduled Event"},
    }
    if name in events:
        event = events[name]()
        out["first_invoke_s"] = _timed(lambda: invoke(app, name, event, 30.0))
        if name != "sweep":
            out["warm_invoke_s"] = _timed(lambda: invoke(app, name, event, 30.0))
    else:
        from dogdetect.adapters.detector.loading import load_detector
        from dogdetect.config import Settings
        from dogdetect.image.decode import decode_for_model

        t = time.perf_counter()
        detector = load_detector(Settings())
        out["model_load_s"] = time.perf_counter() - t
        data, side = photo.read_bytes(), detector.input_size
        first = lambda: detector.detect([decode_for_model(data, MAX_PIXELS, side).pixels])  # noqa: E731
        out["first_prediction_s"] = _timed(first)
        out["after_load"] = _loaded()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# -- model loops -------------------------------------------------------------------------------


def ultralytics_loop(args: dict[str, Any]) -> dict[str, Any]:
    """ultralytics predicting the image files in a plain loop, one result per set of files."""
    from ultralytics import YOLO  # type: ignore[attr-defined]

    model = YOLO(args["model"], task="detect")
    out: dict[str, Any] = {}
    for name, paths in args["sets"].items():
        model.predict(paths[0], verbose=False)  # load, compile, warm: not timed
        out[name] = _loop(paths, lambda path: model.predict(path, verbose=False))
    return out


def engine(args: dict[str, Any]) -> dict[str, Any]:
    """The predict function's engine (`OpenVinoYolo.detect`) on arrays decoded beforehand, then
    the same with `decode_for_model` from the file's bytes."""
    sys.path.insert(0, str(CORE))
    from dogdetect.adapters.detector.openvino import OpenVinoYolo
    from dogdetect.image.decode import decode_for_model

    detector = OpenVinoYolo(args["model"], confidence=CONFIDENCE)
    detector.warm_up()
    data = {p: Path(p).read_bytes() for p in set(args["photos"])}
    bytes_in = [data[p] for p in args["photos"]]
    side = detector.input_size
    arrays = {p: decode_for_model(b, MAX_PIXELS, side).pixels for p, b in data.items()}
    return {
        "detect": _loop([arrays[p] for p in args["photos"]], lambda a: detector.detect([a])),
        "decode_and_detect": _loop(
            bytes_in, lambda b: detector.detect([decode_for_model(b, MAX_PIXELS, side).pixels])
        ),
        "peak_rss_mb": peak_rss_mb(),
    }


def raw(args: dict[str, Any]) -> dict[str, Any]:
    """OpenVINO alone on the shared model: one synchronous request on one image, over and over,
    for `seconds` from `start_at` (epoch; processes started together run together). `cpus`:
    the process pinned to them; `threads`: the plugin's inference threads (0: its default)."""
    import numpy as np
    import openvino as ov
    from PIL import Image

    if args.get("cpus"):
        os.sched_setaffinity(0, set(args["cpus"]))
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}  # as the engine compiles it
    if args.get("threads"):
        config["INFERENCE_NUM_THREADS"] = int(args["threads"])
    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(next(Path(args["model"]).glob("*.xml"))), "CPU", config
    )
    request = compiled.create_infer_request()
    side = int(compiled.input(0).get_shape()[2])
    with Image.open(args["photo"]) as photo:
        pixels = np.asarray(photo.convert("RGB").resize((side, side)), dtype=np.float32) / 255
    tensor = np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])
    for _ in range(3):
        request.infer({0: tensor})
    time.sleep(max(0.0, args["start_at"] - time.time()))
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < args["seconds"]:
        request.infer({0: tensor})
        count += 1
    return {"images": count, "elapsed_s": elapsed, "throughput_ips": count / elapsed,
            "cpus": args.get("cpus"), "threads": args.get("threads") or "default"}  # fmt: skip


def decode(args: dict[str, Any]) -> dict[str, Any]:
    """Each photo decoded in full (`decode_rgb`) and for the model (`decode_for_model`)."""
    sys.path.insert(0, str(CORE))
    from dogdetect.image.decode import decode_for_model, decode_rgb

    side, out = int(args["min_side"]), {}
    for name, path in args["photos"].items():
        data = Path(path).read_bytes()
        full, draft = (
            partial(decode_rgb, data, MAX_PIXELS),
            partial(decode_for_model, data, MAX_PIXELS, side),
        )
        out[name] = {"full_s": [_timed(full) for _ in range(5)],
                     "for_model_s": [_timed(draft) for _ in range(5)],
                     "for_model_shape": list(draft().pixels.shape)}  # fmt: skip
    return out


# -- predict's batches, in process -------------------------------------------------------------


class Timers:
    """Seconds spent in each part, summed over a batch; wrappers around the ports and the
    engine's steps, none in the core."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, part: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.spent[part] = self.spent.get(part, 0.0) + time.perf_counter() - t

        return timed


class Timed:
    """A port whose every method call counts towards `part`."""

    def __init__(self, inner: Any, timers: Timers, part: str) -> None:
        self._inner, self._timers, self._part = inner, timers, part

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        return self._timers.wrap(self._part, found) if callable(found) else found


def _pipe_round_trip(event: dict[str, Any], reply: Any, rounds: int = 5) -> float:
    """The event to another process and its reply back, as JSON lines (the local runtime's
    channel to an execution environment): the median of `rounds`."""
    echo = "import json, sys\nfor line in sys.stdin:\n json.loads(line)\n print(sys.argv[1])"
    answer = json.dumps({"result": reply})
    argv = [sys.executable, "-u", "-c", echo, answer]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        assert child.stdin is not None and child.stdout is not None
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            child.stdin.write(json.dumps({"event": event, "timeout": 60}).encode() + b"\n")
            child.stdin.flush()
            json.loads(child.stdout.readline())
            times.append(time.perf_counter() - t)
        child.stdin.close()
    return sorted(times)[len(times) // 2]


def batches(args: dict[str, Any]) -> dict[str, Any]:
    """Batches of fresh PENDING rows through predict's handler in process, with the function's
    own wiring (its `predict_deps`) at fetch concurrency `concurrency`, each part timed. Each
    batch's messages go through a queue of the bench's (at `sqs`), received and deleted as the
    local event source does; the event and its answer through a pipe to another process."""
    lambda_path("predict")
    import boto3
    from dogdetect.adapters.detector import openvino as engine_module
    from dogdetect.config import Settings
    from dogdetect.domain.models import image_key_for
    from dogdetect.entrypoints import predict as app  # what functions/predict/app.py runs
    from dogdetect.service import predict as service

    from local.events import sqs_event
    from local.functions import LambdaContext

    deps, timers, settings = app.predict_deps(), Timers(), Settings()
    service.decode_for_model = timers.wrap("decode", service.decode_for_model)  # type: ignore[attr-defined]
    for step in ("letterbox", "postprocess"):  # the engine's own steps, when it has them
        if hasattr(engine_module, step):
            setattr(engine_module, step, timers.wrap(step, getattr(engine_module, step)))
    timed = {"storage": "fetch", "repository": "sql", "detector": "detect"}
    wrapped: dict[str, Any] = {
        port: Timed(getattr(deps, port), timers, part) for port, part in timed.items()
    }
    deps = replace(deps, **wrapped)
    sqs = boto3.client("sqs", endpoint_url=args["sqs"], region_name=settings.aws_region)
    queue = sqs.create_queue(QueueName="dogdetect-bench-batches")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    out = []
    for run in args["runs"]:
        for i in run["ids"]:
            job = {
                "image_prediction_id": i,
                "bucket": settings.bucket_name,
                "key": image_key_for(UUID(i)),
            }
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(job))
        t, messages = time.perf_counter(), list[dict[str, Any]]()
        while len(messages) < len(run["ids"]):
            messages += sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
            ).get("Messages", [])
        found: dict[str, Any] = {
            **run,
            "images": len(messages),
            "sqs_receive_s": time.perf_counter() - t,
        }
        event = sqs_event(messages, arn["QueueArn"], settings.aws_region)
        timers.spent = {}
        batch_deps = replace(deps, fetch_concurrency=run["concurrency"])
        t = time.perf_counter()
        reply = app.lambda_handler(event, LambdaContext("predict", 60.0), lambda: batch_deps)  # noqa: B023 - called at once
        found |= {"batch_s": time.perf_counter() - t, "parts_s": dict(timers.spent)}
        found["failed"] = len(reply["batchItemFailures"])
        handles = [
            {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
        ]
        found["sqs_delete_s"] = _timed(
            partial(sqs.delete_message_batch, QueueUrl=queue, Entries=handles)
        )
        found["pipe_s"] = _pipe_round_trip(event, reply)
        out.append(found)
    sqs.delete_queue(QueueUrl=queue)
    return {"runs": out}


def floor(args: dict[str, Any]) -> dict[str, Any]:
    """The emulators' floor under submit: its calls made directly by `concurrency` clients at
    once, each a process of its own (as each submit environment is; threads of one process
    would wait on its GIL) with submit's own adapters (its clients, its database engine),
    warmed by one upload, then uploading its share one after the other: the photo put to S3
    beside the PENDING row's INSERT, as submit does, then the job's SendMessage. No HTTP,
    gateway, handler or image check. The rows and messages are real: predict processes them
    once it runs again."""
    lambda_path("submit")
    import multiprocessing

    from dogdetect.runtime import use_cases  # imported once, before the clients fork

    clients = args["concurrency"]
    context = multiprocessing.get_context("fork")
    ready, results = context.Barrier(clients), context.Queue()
    shares = [args["photos"][i::clients] for i in range(clients)]
    workers = [
        context.Process(target=_floor_client, args=(use_cases, share, ready, results))
        for share in shares
    ]
    for worker in workers:
        worker.start()
    latencies = [s for _ in workers for s in results.get(timeout=300)]
    for worker in workers:
        worker.join()
    return {"latencies_s": latencies}


def _floor_client(use_cases: Any, photos: list[str], ready: Any, results: Any) -> None:
    from dogdetect.domain.models import Job, image_key_for

    deps = use_cases.current(use_cases.submit_deps)()  # its own clients and connections
    beside = ThreadPoolExecutor(1)

    def upload(path: str) -> float:
        data, pid = Path(path).read_bytes(), uuid4()
        key = image_key_for(pid)
        t = time.perf_counter()
        put = beside.submit(deps.storage.put, key, data)
        deps.repository.add_pending(pid, key, None)
        put.result()
        deps.queue.send(Job(pid, deps.storage.bucket, key))
        return time.perf_counter() - t

    upload(photos[0])  # warm: connections open, clients' first calls made
    ready.wait(timeout=120)
    results.put([upload(path) for path in photos])


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    f.__name__: f for f in (function, ultralytics_loop, engine, raw, decode, batches, floor)
}

if __name__ == "__main__":
    os.environ.update({"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_VERBOSE": "false"})
    result = WORKERS[sys.argv[1]](json.loads(sys.argv[2]))
    print("BENCH-RESULT " + json.dumps(result), flush=True)
