"""Model loops in a fresh process each (`python -m bench.worker ...`): ultralytics' backends,
the bare models the pipeline is compared with, and decoding for the model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.worker_env import core_path, offline, peak_rss_mb

MAX_PIXELS = 40_000_000  # decode_rgb's cap here: the photos are far below any limit
CONFIDENCE = 0.25


def _decoded(paths: list[str]) -> dict[str, Any]:
    from dogdetect.image.decode import decode_rgb

    return {Path(p).name: decode_rgb(Path(p).read_bytes(), MAX_PIXELS) for p in paths}


def backend(args: dict[str, Any]) -> dict[str, Any]:
    """One model backend through ultralytics (the project's YoloDetector)."""
    offline()
    core_path()
    started = time.perf_counter()
    import ultralytics  # noqa: F401

    if args["backend"] == "openvino":
        import openvino  # noqa: F401
    elif args["backend"] == "onnxruntime":
        import onnxruntime  # noqa: F401
    from dogdetect.adapters.detector.ultralytics import YoloDetector
    from dogdetect.service.predict import has_dog

    out: dict[str, Any] = {"backend": args["backend"], "model": args["model"]}
    out["import_s"] = time.perf_counter() - started
    t = time.perf_counter()
    detector = YoloDetector(args["model"], confidence=CONFIDENCE)
    out["model_load_s"] = time.perf_counter() - t
    images = _decoded(args["photos"])
    first = next(iter(images.values()))
    t = time.perf_counter()
    detector.detect([first])
    out["first_prediction_s"] = time.perf_counter() - t
    answers: dict[str, Any] = {}
    for name, image in images.items():
        detections = detector.detect([image])[0]
        dogs = [d.confidence for d in detections if d.label == "dog"]
        answers[name] = {
            "has_dog": has_dog(detections, CONFIDENCE),
            "dog_confidence": max(dogs or [0]),
        }
    out["answers"] = answers
    latencies = []
    for _ in range(args["rounds"]):
        for image in images.values():
            t = time.perf_counter()
            detector.detect([image])
            latencies.append(time.perf_counter() - t)
    out["latencies_s"] = latencies
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def head_to_head(args: dict[str, Any]) -> dict[str, Any]:
    """Every backend in one process, taking turns image by image: the machine's noise hits
    them alike, so their order holds even when the milliseconds move between runs."""
    offline()
    core_path()
    from dogdetect.adapters.detector.ultralytics import YoloDetector

    detectors = {
        name: YoloDetector(path, confidence=CONFIDENCE) for name, path in args["models"].items()
    }
    images = list(_decoded(args["photos"]).values())
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


def _timed_loop(items: list[Any], step: Any) -> dict[str, Any]:
    t = time.perf_counter()
    for item in items:
        step(item)
    elapsed = time.perf_counter() - t
    return {"images": len(items), "elapsed_s": elapsed, "throughput_ips": len(items) / elapsed}


def bare(args: dict[str, Any]) -> dict[str, Any]:
    """ultralytics predicting the same image files in a plain loop: the reference. One result
    per set of files (the photos, the phone-sized photo)."""
    offline()
    from ultralytics import YOLO

    model = YOLO(args["model"], task="detect")
    out: dict[str, Any] = {}
    for name, paths in args["sets"].items():
        model.predict(paths[0], verbose=False)  # load, compile, warm: not timed
        out[name] = _timed_loop(paths, lambda path: model.predict(path, verbose=False))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def bare_engine(args: dict[str, Any]) -> dict[str, Any]:
    """The OpenVINO engine alone (`OpenVinoYolo.detect`) on arrays decoded beforehand as the
    pipeline decodes them: raw engine speed, no file reading, no decoding."""
    core_path()
    try:
        from dogdetect.adapters.detector.openvino import OpenVinoYolo
        from dogdetect.image.decode import decode_for_model
    except ImportError as exc:
        return {"not_measured": f"the OpenVINO engine is not there: {exc}"}
    engine = OpenVinoYolo(args["model"], confidence=CONFIDENCE)
    engine.warm_up()
    arrays = {
        p: decode_for_model(Path(p).read_bytes(), MAX_PIXELS, engine.input_size).pixels
        for p in set(args["photos"])
    }
    images = [arrays[p] for p in args["photos"]]
    out = _timed_loop(images, lambda image: engine.detect([image]))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _times(rounds: int, call: Any, *args: Any) -> list[float]:
    """Seconds each of `rounds` calls of call(*args) took."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        call(*args)
        times.append(time.perf_counter() - t)
    return times


def decode(args: dict[str, Any]) -> dict[str, Any]:
    """Each photo decoded in full (`decode_rgb`) and for the model (`decode_for_model`: a JPEG
    draft-decoded at the smallest DCT scale still at least the model's input side)."""
    core_path()
    from dogdetect.image.decode import decode_for_model, decode_rgb

    rounds, min_side = int(args["rounds"]), int(args["min_side"])
    out: dict[str, Any] = {"min_side": min_side}
    for name, path in args["photos"].items():
        data = Path(path).read_bytes()
        found: dict[str, Any] = {"full_s": _times(rounds, decode_rgb, data, MAX_PIXELS)}
        decoded = decode_for_model(data, MAX_PIXELS, min_side)
        found["for_model_shape"] = list(decoded.pixels.shape)
        found["scale"] = [decoded.scale_x, decoded.scale_y]
        found["for_model_s"] = _times(rounds, decode_for_model, data, MAX_PIXELS, min_side)
        out[name] = found
    return out
