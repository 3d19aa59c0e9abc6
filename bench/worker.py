"""Measurements that need a fresh process each: cold start, peak memory, a model loop.
`python -m bench.worker <what> <json args>` prints one `BENCH-RESULT <json>` line.
Imports are deferred so that the import time measured is the one a Lambda container pays."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.worker_env import REPO, lambda_path, offline, peak_rss_mb


def _invoke(module: Any, name: str, event: dict[str, Any]) -> Any:
    sys.path.append(str(REPO))
    from local.functions import invoke

    return invoke(module, name, event, 30.0)


def http_event(method: str, path: str, body: bytes, content_type: str) -> dict[str, Any]:
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


def upload_event(photo: bytes) -> dict[str, Any]:
    boundary = "benchboundary"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="image"; filename="d.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return http_event(
        "POST", "/image_prediction", body, f"multipart/form-data; boundary={boundary}"
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


def _heavy_modules() -> list[str]:
    return sorted(
        m for m in ("torch", "ultralytics", "openvino", "numpy", "cv2") if m in sys.modules
    )


def _predict_init(photo: Path) -> dict[str, Any]:
    """What predict's init does (the detector as its settings choose it, warmed up), then the
    first image: decoded as the pipeline decodes it, and detected."""
    offline()
    from dogdetect.adapters.detector.loading import load_detector
    from dogdetect.config import Settings
    from dogdetect.image.decode import decode_for_model

    out: dict[str, Any] = {}
    settings = Settings()
    out["engine"] = getattr(settings, "detector_engine", "ultralytics")
    t = time.perf_counter()
    detector = load_detector(settings)
    out["model_load_s"] = time.perf_counter() - t
    out["detector"] = type(detector).__name__
    t = time.perf_counter()
    data = photo.read_bytes()
    pixels = decode_for_model(data, settings.max_image_pixels, detector.input_size)
    detector.detect([pixels.pixels])
    out["first_prediction_s"] = time.perf_counter() - t
    out["modules_after_load"] = _heavy_modules()
    return out


def function_cold_start(args: dict[str, Any]) -> dict[str, Any]:
    """Import the handler module as Lambda would, then the first invocation(s)."""
    name = args["function"]
    lambda_path(name)
    started = time.perf_counter()
    import app  # type: ignore[import-not-found]

    imported = time.perf_counter() - started
    out: dict[str, Any] = {"function": name, "import_s": imported}
    out["modules_at_import"] = _heavy_modules()
    if name == "submit":
        out.update(_first_and_warm(app, name, upload_event(Path(args["photo"]).read_bytes())))
    elif name == "status":
        out.update(_first_and_warm(app, name, http_event("GET", "/health", b"", "")))
    elif name == "sweep":
        event = {"source": "aws.events", "detail-type": "Scheduled Event"}
        t = time.perf_counter()
        _invoke(app, "sweep", event)
        out["first_invoke_s"] = time.perf_counter() - t
    elif name == "predict":
        out.update(_predict_init(Path(args["photo"])))
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main() -> None:
    from bench import worker_batch, worker_model

    what, raw = sys.argv[1], sys.argv[2]
    workers = {
        "function": function_cold_start,
        "backend": worker_model.backend,
        "head_to_head": worker_model.head_to_head,
        "bare": worker_model.bare,
        "bare_engine": worker_model.bare_engine,
        "decode": worker_model.decode,
        "s3_batch": worker_batch.s3_batch,
    }
    result = workers[what](json.loads(raw))
    print("BENCH-RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
