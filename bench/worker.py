"""Measurements that need a fresh process each: cold start, peak memory (ru_maxrss), a backend's
latency, the bare-model loop. `python -m bench.worker <what> <json args>` prints one JSON line.
Imports are deferred so that the import time measured is the one a Lambda container pays."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM is the high-water mark of this program's own
    address space; ru_maxrss is its fallback, which on Linux also counts the parent's memory
    copied at fork (exec keeps the larger), so it can only read high."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _lambda_path(function: str) -> None:
    """sys.path as in Lambda: the function's code, then the layer (/opt/python)."""
    sys.path[:0] = [str(REPO / "functions" / function), str(REPO / "layers" / "core")]


def _offline() -> None:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "false")


def _invoke(module: Any, name: str, event: dict[str, Any]) -> Any:
    sys.path.append(str(REPO))
    from local.functions import invoke

    return invoke(module, name, event, 30.0)


def _http_event(method: str, path: str, body: bytes, content_type: str) -> dict[str, Any]:
    sys.path.append(str(REPO))
    from local.events import http_api_event

    headers = {"host": "bench", "content-type": content_type} if content_type else {"host": "b"}
    return http_api_event(
        route_key=f"{method} {path}",
        method=method,
        path=path,
        query_string="",
        headers=headers,
        body=body,
        path_parameters={},
        source_ip="127.0.0.1",
        host="bench",
    )


def _first_and_warm(app: Any, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """The first invocation after import, then a warm one, on the same event."""
    t = time.perf_counter()
    response = _invoke(app, name, event)
    first = time.perf_counter() - t
    t = time.perf_counter()
    _invoke(app, name, event)
    warm = time.perf_counter() - t
    return {"first_invoke_s": first, "status_code": response["statusCode"], "warm_invoke_s": warm}


def function_cold_start(args: dict[str, Any]) -> dict[str, Any]:
    """Import the handler module as Lambda would, then the first invocation(s)."""
    name = args["function"]
    _lambda_path(name)
    started = time.perf_counter()
    import app  # type: ignore[import-not-found]

    imported = time.perf_counter() - started
    heavy = sorted(m for m in ("torch", "ultralytics", "openvino", "numpy") if m in sys.modules)
    out: dict[str, Any] = {"function": name, "import_s": imported, "modules_at_import": heavy}
    if name == "submit":
        photo = Path(args["photo"]).read_bytes()
        boundary = "benchboundary"
        body = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="image"; filename="d.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + photo
            + f"\r\n--{boundary}--\r\n".encode()
        )
        event = _http_event(
            "POST", "/image_prediction", body, f"multipart/form-data; boundary={boundary}"
        )
        out.update(_first_and_warm(app, name, event))
    elif name == "status":
        out.update(_first_and_warm(app, name, _http_event("GET", "/health", b"", "")))
    elif name == "sweep":
        event = {"source": "aws.events", "detail-type": "Scheduled Event"}
        t = time.perf_counter()
        _invoke(app, "sweep", event)
        out["first_invoke_s"] = time.perf_counter() - t
    elif name == "predict":
        _offline()
        from dogdetect.adapters.yolo import YoloDetector
        from dogdetect.imaging import decode_rgb

        model = args["model"]
        t = time.perf_counter()
        detector = YoloDetector(model, confidence=0.25)
        out["model_load_s"] = time.perf_counter() - t
        image = decode_rgb(Path(args["photo"]).read_bytes(), 40_000_000)
        t = time.perf_counter()
        detector.detect([image])
        out["first_prediction_s"] = time.perf_counter() - t
        heavy = sorted(m for m in ("torch", "ultralytics", "openvino") if m in sys.modules)
        out["modules_after_load"] = heavy
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def backend(args: dict[str, Any]) -> dict[str, Any]:
    """One model backend through ultralytics, as predict uses it (YoloDetector)."""
    _offline()
    sys.path.insert(0, str(REPO / "layers" / "core"))
    started = time.perf_counter()
    import ultralytics  # noqa: F401

    if args["backend"] == "openvino":
        import openvino  # noqa: F401
    elif args["backend"] == "onnxruntime":
        import onnxruntime  # noqa: F401
    from dogdetect.adapters.yolo import YoloDetector
    from dogdetect.imaging import decode_rgb
    from dogdetect.service.predict import has_dog

    out: dict[str, Any] = {"backend": args["backend"], "model": args["model"]}
    out["import_s"] = time.perf_counter() - started
    t = time.perf_counter()
    detector = YoloDetector(args["model"], confidence=0.25)
    out["model_load_s"] = time.perf_counter() - t
    images = {Path(p).name: decode_rgb(Path(p).read_bytes(), 40_000_000) for p in args["photos"]}
    first = next(iter(images.values()))
    t = time.perf_counter()
    detector.detect([first])
    out["first_prediction_s"] = time.perf_counter() - t
    answers: dict[str, Any] = {}
    for name, image in images.items():
        detections = detector.detect([image])[0]
        dogs = [d.confidence for d in detections if d.label == "dog"]
        answers[name] = {"has_dog": has_dog(detections, 0.25), "dog_confidence": max(dogs or [0])}
    out["answers"] = answers
    latencies = []
    for _ in range(args["rounds"]):
        for image in images.values():
            t = time.perf_counter()
            detector.detect([image])
            latencies.append(time.perf_counter() - t)
    out["latencies_s"] = latencies
    if args.get("batch"):
        batch = [list(images.values())[i % len(images)] for i in range(args["batch"])]
        singles, together = [], []
        for _ in range(args["batch_rounds"]):
            t = time.perf_counter()
            for image in batch:
                detector.detect([image])
            singles.append(time.perf_counter() - t)
            t = time.perf_counter()
            detector.detect(batch)
            together.append(time.perf_counter() - t)
        out["batching"] = {
            "size": len(batch),
            "one_call_per_image_s": singles,
            "one_call_per_batch_s": together,
        }
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def head_to_head(args: dict[str, Any]) -> dict[str, Any]:
    """Every backend in one process, taking turns image by image: the machine's noise hits
    them alike, so their order holds even when the milliseconds move between runs."""
    _offline()
    sys.path.insert(0, str(REPO / "layers" / "core"))
    from dogdetect.adapters.yolo import YoloDetector
    from dogdetect.imaging import decode_rgb

    detectors = {name: YoloDetector(path, confidence=0.25) for name, path in args["models"].items()}
    images = [decode_rgb(Path(p).read_bytes(), 40_000_000) for p in args["photos"]]
    for detector in detectors.values():  # compile and warm every backend first
        for image in images:
            detector.detect([image])
    latencies: dict[str, list[float]] = {name: [] for name in detectors}
    for round_number in range(args["rounds"]):
        for image in images:
            # rotate who goes first, so no backend always runs right after another
            names = list(detectors)
            names = names[round_number % len(names) :] + names[: round_number % len(names)]
            for name in names:
                t = time.perf_counter()
                detectors[name].detect([image])
                latencies[name].append(time.perf_counter() - t)
    return {"latencies_s": latencies}


def bare(args: dict[str, Any]) -> dict[str, Any]:
    """ultralytics predicting the same image files in a plain loop: the reference."""
    _offline()
    from ultralytics import YOLO

    model = YOLO(args["model"], task="detect")
    model.predict(args["photos"][0], verbose=False)  # load and compile, not timed
    t = time.perf_counter()
    for path in args["photos"]:
        model.predict(path, verbose=False)
    elapsed = time.perf_counter() - t
    return {
        "images": len(args["photos"]),
        "elapsed_s": elapsed,
        "throughput_ips": len(args["photos"]) / elapsed,
    }


def main() -> None:
    what, raw = sys.argv[1], sys.argv[2]
    workers = {
        "function": function_cold_start,
        "backend": backend,
        "head_to_head": head_to_head,
        "bare": bare,
    }
    result = workers[what](json.loads(raw))
    print("BENCH-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
