"""HTTP load against the local gateway: uploads at a fixed concurrency, then waits for DONE.
Latencies of the pipeline come from the rows' own timestamps (created_at -> updated_at of a
DONE row), so polling slowly does not inflate them, and polls are few so that they do not take
the cores the pipeline runs on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

POLL_INTERVAL_S = 0.25
TERMINAL = ("DONE", "ERROR")


@dataclass
class LoadRun:
    concurrency: int
    images: int
    submit_latencies_s: list[float] = field(default_factory=list)
    done_latencies_s: list[float] = field(default_factory=list)
    status_latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0  # first upload's row created -> last prediction DONE
    first_to_last_done_s: float = 0.0
    errors: int = 0

    @property
    def throughput_ips(self) -> float:
        return self.images / self.elapsed_s if self.elapsed_s else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "throughput_ips": self.throughput_ips}


def timestamp(value: str) -> float:
    """A row's ISO 8601 time as seconds since the epoch (the bench's own clock's unit)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def client(api_url: str, concurrency: int) -> httpx.Client:
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    return httpx.Client(base_url=api_url, timeout=60, limits=limits)


def backing_off(request: Callable[[], httpx.Response]) -> httpx.Response:
    """Send a request, backing off on the gateway's 429 (API Gateway's throttling, which the
    local gateway enforces at the template's limits) as a well-behaved client does."""
    for attempt in range(8):
        response = request()
        if response.status_code != 429:
            return response
        time.sleep(0.05 * 2**attempt)
    return response


def post_image(http: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return backing_off(lambda: http.post("/image_prediction", files={"image": (name, data)}))


def read_status(http: httpx.Client, prediction_id: str) -> dict[str, Any]:
    """The prediction's body; an answer other than 200 reads as not finished yet."""
    response = backing_off(lambda: http.get(f"/image_prediction/{prediction_id}"))
    body: dict[str, Any] = response.json() if response.status_code == 200 else {}
    return body


@dataclass
class Submitted:
    ids: list[str]  # in the order the photos were given; failed uploads left out
    latencies_s: list[float]
    errors: int


def submit_all(http: httpx.Client, photos: list[Path], concurrency: int) -> Submitted:
    """Upload every photo, `concurrency` at a time."""
    payloads = [(p.name, p.read_bytes()) for p in photos]
    latencies: list[float] = []
    lock = threading.Lock()

    def submit(item: tuple[str, bytes]) -> str | None:
        t = time.perf_counter()
        response = post_image(http, *item)
        with lock:
            latencies.append(time.perf_counter() - t)
        if response.status_code != 202:
            return None
        return str(response.json()["image_prediction_id"])

    with ThreadPoolExecutor(concurrency) as pool:
        answers = list(pool.map(submit, payloads))
    ids = [i for i in answers if i]
    return Submitted(ids, latencies, len(answers) - len(ids))


def wait_done(
    http: httpx.Client,
    ids: list[str],
    timeout_s: float = 300,
    status_latencies: list[float] | None = None,
) -> list[dict[str, Any]]:
    """The rows of `ids` once each is DONE or ERROR (those still unfinished at the timeout
    are left out). The queue is about first in, first out: only the last unfinished id is
    polled until it finishes, then the others are read once each."""
    pending, finished = list(ids), []
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for prediction_id in reversed(list(pending)):
            t = time.perf_counter()
            body = read_status(http, prediction_id)
            if status_latencies is not None:
                status_latencies.append(time.perf_counter() - t)
            if body.get("status") not in TERMINAL:
                break
            pending.remove(prediction_id)
            finished.append(body)
        if pending:
            time.sleep(POLL_INTERVAL_S)
    return finished


def upload_and_wait(
    api_url: str, photos: list[Path], concurrency: int, timeout_s: float = 300
) -> LoadRun:
    """Upload every photo (`concurrency` at a time), then wait until each one is DONE."""
    run = LoadRun(concurrency, len(photos))
    with client(api_url, concurrency) as http:
        submitted = submit_all(http, photos, concurrency)
        run.submit_latencies_s = submitted.latencies_s
        rows = wait_done(http, submitted.ids, timeout_s, run.status_latencies_s)
    run.errors = submitted.errors + len(submitted.ids) - len(rows)
    run.errors += sum(row["status"] == "ERROR" for row in rows)
    if rows:
        created = [timestamp(row["created_at"]) for row in rows]
        done = [timestamp(row["updated_at"]) for row in rows]
        run.done_latencies_s = [d - c for c, d in zip(created, done, strict=True)]
        run.elapsed_s = max(done) - min(created)  # the rows' clock, from the first upload
        run.first_to_last_done_s = max(done) - min(done)
    return run


def submit_only(api_url: str, photos: list[Path], concurrency: int) -> Submitted:
    """Uploads alone (the caller pauses the predict poller)."""
    with client(api_url, concurrency) as http:
        return submit_all(http, photos, concurrency)


def wait_idle(api_url: str, photo: Path, timeout_s: float = 300) -> None:
    """Block until the queue has drained: a fresh upload gets DONE."""
    upload_and_wait(api_url, [photo], 1, timeout_s)
