"""HTTP load against the local gateway: uploads at a fixed concurrency, then waits for DONE.
Latencies of the pipeline come from the rows' own timestamps (created_at -> updated_at of a
DONE row), so polling slowly does not inflate them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx


@dataclass
class LoadRun:
    concurrency: int
    images: int
    submit_latencies_s: list[float] = field(default_factory=list)
    done_latencies_s: list[float] = field(default_factory=list)
    status_latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0  # first upload sent -> last prediction DONE
    first_to_last_done_s: float = 0.0
    errors: int = 0

    @property
    def throughput_ips(self) -> float:
        return self.images / self.elapsed_s if self.elapsed_s else 0.0

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "throughput_ips": self.throughput_ips}


def post_image(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    """POST one photo, backing off on the gateway's 429 (API Gateway's throttling, which the
    local gateway enforces at the template's limits) as a well-behaved client does."""
    for attempt in range(8):
        response = client.post("/image_prediction", files={"image": (name, data)})
        if response.status_code != 429:
            return response
        time.sleep(0.05 * 2**attempt)
    return response


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def upload_and_wait(
    api_url: str, photos: list[Path], concurrency: int, timeout_s: float = 300
) -> LoadRun:
    """Upload every photo (`concurrency` at a time), then poll until each one is DONE."""
    run = LoadRun(concurrency, len(photos))
    payloads = [(p.name, p.read_bytes()) for p in photos]
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=api_url, timeout=60, limits=limits) as client:

        def submit(item: tuple[str, bytes]) -> str | None:
            t = time.perf_counter()
            response = post_image(client, *item)
            run.submit_latencies_s.append(time.perf_counter() - t)
            if response.status_code != 202:
                run.errors += 1
                return None
            return str(response.json()["image_prediction_id"])

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            ids = [i for i in pool.map(submit, payloads) if i]
        # Poll in upload order and stop a round at the first unfinished one: the queue is
        # roughly first in, first out, and polling everything would load the 2 cores the
        # pipeline runs on. Latencies come from the rows' timestamps, not from the polling.
        pending = list(ids)
        done_at: list[float] = []
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for prediction_id in list(pending):
                t = time.perf_counter()
                body = client.get(f"/image_prediction/{prediction_id}").json()
                run.status_latencies_s.append(time.perf_counter() - t)
                if body["status"] not in ("DONE", "ERROR"):
                    break
                pending.remove(prediction_id)
                run.errors += body["status"] == "ERROR"
                finished = _ts(body["updated_at"])
                done_at.append(finished)
                run.done_latencies_s.append(finished - _ts(body["created_at"]))
            if pending:
                time.sleep(0.25)
        run.errors += len(pending)
        # Wall time to the last DONE, from the rows' clock, anchored at the first upload.
        first_created = min(done_at[i] - run.done_latencies_s[i] for i in range(len(done_at)))
        run.elapsed_s = max(done_at) - first_created if done_at else time.perf_counter() - started
        run.first_to_last_done_s = max(done_at) - min(done_at) if done_at else 0.0
    return run


def submit_only(api_url: str, photos: list[Path], concurrency: int) -> list[float]:
    """Submit latencies alone (the caller pauses the predict poller)."""
    payloads = [(p.name, p.read_bytes()) for p in photos]
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=api_url, timeout=60, limits=limits) as client:

        def submit(item: tuple[str, bytes]) -> None:
            t = time.perf_counter()
            response = post_image(client, *item)
            latencies.append(time.perf_counter() - t)
            response.raise_for_status()

        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(submit, payloads))
    return latencies


def wait_idle(api_url: str, photo: Path, timeout_s: float = 300) -> None:
    """Block until the queue has drained: a fresh upload gets DONE."""
    upload_and_wait(api_url, [photo], 1, timeout_s)
