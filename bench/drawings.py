"""Annotated photos against everyone else, black-box over HTTP on a stack of its own: the
first `/annotated` of a 12 MP photo (drawn) and the next ones (kept); a plain read of a DONE
prediction and `/health`, first alone, then while 16 `/annotated` requests on 8 predictions
never drawn arrive at once. Also what became of the 16: drawn, shared, told 503 (every drawing
slot taken), and how long until a client retrying on Retry-After had all of them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from dogdetect.config import Settings

from bench import stats
from bench.common import Steps
from bench.load import backing_off, post_image
from bench.waits import sample
from local.launcher import warm_status_environments

STEPS = 3
SINGLES = 3  # predictions drawn one at a time: first request, then kept
BURST_PREDICTIONS = 8
BURST = 16
TOTAL = Settings().drawings_total  # the template's MaxConcurrentDrawings default


def measure(work: Path, step: Steps, phone: Path) -> dict[str, Any]:
    from local.launcher import running_stack

    step("starting a stack (drawings)")
    with running_stack(work / "drawings-stack") as stack:
        step.done()
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:
            step(f"{SINGLES + BURST_PREDICTIONS} predictions of a 12 MP photo")
            ids = [_done(http, phone.read_bytes()) for _ in range(SINGLES + BURST_PREDICTIONS)]
            step.done()
            step("annotated photos: one at a time, then 16 at once beside reads")
            result = _measure(http, ids[:SINGLES], ids[SINGLES:])
            step.done()
    return result


def _measure(http: httpx.Client, singles: list[str], burst: list[str]) -> dict[str, Any]:
    first = [_timed(http, pid) for pid in singles]
    again = [_timed(http, pid) for pid in singles for _ in range(3)]
    warm_status_environments(http)  # what is measured is the drawings' share, not cold starts
    idle = sample(http, singles[0], {})
    started = time.perf_counter()
    with ThreadPoolExecutor(BURST) as pool:
        sent = [pool.submit(_served, http, burst[n % len(burst)]) for n in range(BURST)]
        busy = sample(http, singles[0], {})  # while the drawings run
        served = [s.result() for s in sent]
    firsts = [first for first, _, _ in served]
    return {
        "drawings_total": TOTAL,
        "first_s": {"p50": stats.pct(first, 50), "max": max(first), "n": len(first)},
        "kept_s": {"p50": stats.pct(again, 50), "max": max(again), "n": len(again)},
        "burst": {"requests": BURST, "predictions": len(burst)},
        "idle": idle,
        "while_drawing": busy,
        "ok_at_once": firsts.count(200),
        "busy_503": firsts.count(503),
        "all_served_s": max(at for _, _, at in served) - started,
        "retries": sum(tries for _, tries, _ in served),
    }


def _served(http: httpx.Client, prediction_id: str) -> tuple[int, int, float]:
    """As a client honouring Retry-After: the first answer's status, how many retries it took
    to get the photo, and when it had it (perf_counter)."""
    answer = _annotated(http, prediction_id)
    first, tries = answer.status_code, 0
    while answer.status_code == 503:
        time.sleep(float(answer.headers.get("retry-after", "1")))
        answer = _annotated(http, prediction_id)
        tries += 1
    if answer.status_code != 200:
        raise RuntimeError(f"{answer.status_code}: {answer.text[:200]}")
    return first, tries, time.perf_counter()


def _annotated(http: httpx.Client, prediction_id: str) -> httpx.Response:
    return backing_off(lambda: http.get(f"/image_prediction/{prediction_id}/annotated"))


def _timed(http: httpx.Client, prediction_id: str) -> float:
    started = time.perf_counter()
    response = _annotated(http, prediction_id)
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return time.perf_counter() - started


def _done(http: httpx.Client, data: bytes) -> str:
    response = post_image(http, "phone.jpg", data)
    if response.status_code != 202:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    prediction_id = str(response.json()["image_prediction_id"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        got = backing_off(lambda: http.get(f"/image_prediction/{prediction_id}"))
        if got.status_code == 200 and got.json()["status"] == "DONE":
            return prediction_id
        time.sleep(0.25)
    raise RuntimeError("a bench photo did not finish within 180 s")
