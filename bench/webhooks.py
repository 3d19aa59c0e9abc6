"""Webhooks against slow receivers, black-box over HTTP on a stack of its own: how long an
honest receiver waits for its delivery after the prediction is DONE, first alone, then
submitted right behind 25 predictions whose receiver sends its status line a byte a second
(the probe's case: the honest delivery came 235 s after DONE)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench import stats
from bench.common import SHARED, Steps
from bench.load import backing_off
from bench.slow_receiver import slow_receiver

STEPS = 3
SLOW = 25
HONEST = 3


class Arrivals:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}  # path -> when it arrived


@contextmanager
def honest_receiver() -> Iterator[tuple[int, Arrivals]]:
    arrivals = Arrivals()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            arrivals.at.setdefault(self.path, time.monotonic())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    try:
        yield server.server_address[1], arrivals
    finally:
        server.shutdown()
        server.server_close()


def measure(work: Path, step: Steps) -> dict[str, Any]:
    from local.launcher import running_stack

    step("starting a stack (webhooks)")
    with running_stack(work / "webhooks-stack") as stack:
        step.done()
        with (
            httpx.Client(base_url=stack.api_url, timeout=60) as http,
            honest_receiver() as (port, arrivals),
            slow_receiver() as slow,
        ):
            step("honest webhooks alone")
            alone = [_honest_delay(http, port, arrivals, f"/alone-{n}") for n in range(HONEST)]
            step.done()
            step(f"honest webhooks behind {SLOW} slow receivers")
            with ThreadPoolExecutor(5) as pool:
                list(pool.map(lambda _: _submit(http, slow.url), range(SLOW)))
            behind = [_honest_delay(http, port, arrivals, f"/behind-{n}") for n in range(HONEST)]
            step.done()
            return {
                "slow": SLOW,
                "alone_s": {"p50": stats.pct(alone, 50), "max": max(alone), "n": len(alone)},
                "behind_s": {"p50": stats.pct(behind, 50), "max": max(behind), "n": len(behind)},
                "slow_tries_at_once": slow.most_open,
            }


def _submit(http: httpx.Client, webhook: str) -> str:
    data = (SHARED / "images" / "dog.jpg").read_bytes()
    response = backing_off(
        lambda: http.post(
            "/image_prediction", files={"image": ("dog.jpg", data)}, data={"webhook": webhook}
        )
    )
    if response.status_code != 202:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return str(response.json()["image_prediction_id"])


def _honest_delay(http: httpx.Client, port: int, arrivals: Arrivals, path: str) -> float:
    """Seconds from the prediction seen DONE (polled every 0.1 s) to its delivery's arrival."""
    prediction_id = _submit(http, f"http://127.0.0.1:{port}{path}")
    deadline = time.monotonic() + 300
    done_at = None
    while time.monotonic() < deadline:
        if done_at is None:
            got = backing_off(lambda: http.get(f"/image_prediction/{prediction_id}"))
            if got.status_code == 200 and got.json()["status"] == "DONE":
                done_at = time.monotonic()
        if path in arrivals.at and done_at is not None:
            return max(0.0, arrivals.at[path] - done_at)
        time.sleep(0.1)
    raise RuntimeError(f"the webhook {path} was not delivered within 300 s")
