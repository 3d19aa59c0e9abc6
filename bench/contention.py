"""What one client's load costs the others, black-box over HTTP, each on a stack of its own:
- waits: a plain read of a DONE prediction, `/health` and the page, with no waiter, then while
  50 `Prefer: wait=20` requests (2 per API key, 25 keys) wait on a prediction that never
  finishes; and what became of the 50 (held, answered at once, refused);
- drawings: the first `/annotated` of a 12 MP photo (drawn) and the next ones (kept); the same
  reads alone, then while 16 `/annotated` requests on 8 predictions never drawn arrive at once;
  what became of the 16 (200, 503 with Retry-After) and when a client retrying had them all;
- webhooks: how long an honest receiver waits for its delivery after DONE, alone, then behind
  25 predictions whose receiver sends its status line a byte a second."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest.mock import patch

import httpx
from dogdetect.config import Settings
from dogdetect.domain.webhooks.retry import DEFAULT_RETRY_DELAYS
from sqlalchemy import create_engine, text

from bench.common import SHARED, Steps, pct
from bench.slow_receiver import slow_receiver
from bench.stack import backing_off, post_image
from local.launcher import running_stack, warm_status_environments

WAIT_STEPS = 2
KEYS = [f"bench-waiter-{n:02d}" for n in range(25)]
WAITERS = 50
ROUNDS = 10
WAITS_TOTAL = Settings().waits_total  # the template's MaxConcurrentWaits default
HELD = text("SELECT count(*) FROM slot_claims WHERE pool = 'wait' AND expires_at > now()")


def waits(work: Path, step: Steps) -> dict[str, Any]:
    step("starting a stack with API keys (waits)")
    with (
        patch.dict(os.environ, {"API_KEYS": ",".join(KEYS)}),
        running_stack(work / "waits-stack") as stack,
    ):
        step.done()
        step("plain reads, /health and / beside 50 waiters")
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:
            result = _waits(http, stack.environment["DATABASE_URL"])
        step.done()
    return result


def _key(n: int) -> dict[str, str]:
    return {"X-API-Key": KEYS[n % len(KEYS)]}


def _waits(http: httpx.Client, database_url: str) -> dict[str, Any]:
    pending = http.post("/image_prediction/uploads", headers=_key(0)).json()
    pending_id = pending["image_prediction_id"]
    done_id = _done(http, (SHARED / "images" / "dog.jpg").read_bytes(), _key(0))
    idle = sample(http, done_id, _key(3))
    with ThreadPoolExecutor(WAITERS) as pool:
        waiters: list[Future[httpx.Response]] = []
        for n in range(WAITERS):  # 2.5 s: within the gateway's burst and rate
            headers = {**_key(n), "Prefer": "wait=20"}
            url = f"/image_prediction/{pending_id}"
            waiters.append(pool.submit(http.get, url, headers=headers))
            time.sleep(0.05)
        held = _held_settled(database_url)
        busy = sample(http, done_id, _key(3))
        answers = [w.result() for w in waiters]
    return {
        "waiters": WAITERS,
        "clients": len(KEYS),
        "held_while_sampling": held,
        "idle": idle,
        "with_waiters": busy,
        "held": sum("preference-applied" in a.headers for a in answers),
        "answered_at_once": sum(
            a.status_code == 200 and "preference-applied" not in a.headers for a in answers
        ),
        "refused_429": sum(a.status_code == 429 for a in answers),
        "other": sum(a.status_code not in (200, 429) for a in answers),
    }


def _done(http: httpx.Client, data: bytes, headers: dict[str, str] | None = None) -> str:
    """A prediction of `data`, once DONE."""
    files = {"image": ("photo.jpg", data)}
    response = backing_off(lambda: http.post("/image_prediction", files=files, headers=headers))
    if response.status_code != 202:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    prediction_id = str(response.json()["image_prediction_id"])
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        got = backing_off(lambda: http.get(f"/image_prediction/{prediction_id}", headers=headers))
        if got.status_code == 200 and got.json()["status"] == "DONE":
            return prediction_id
        time.sleep(0.25)
    raise RuntimeError("a bench photo did not finish within 180 s")


def _held_settled(database_url: str) -> int:
    """The number of waits held once the service's total is reached, or it has not changed
    for 10 s: every waiter sent, and answered or holding (status's environments start on
    demand, as Lambda's, a few seconds each on this machine)."""
    engine = create_engine(database_url)
    try:
        seen: list[int] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                seen.append(int(connection.execute(HELD).scalar_one()))
            steady = len(seen) >= 20 and len(set(seen[-20:])) == 1
            if seen[-1] >= WAITS_TOTAL or (steady and seen[-1] > 0):
                return seen[-1]
            time.sleep(0.5)
        return seen[-1] if seen else 0
    finally:
        engine.dispose()


def sample(
    http: httpx.Client, done_id: str, headers: dict[str, str]
) -> dict[str, dict[str, float]]:
    """p50 and p95 of each route over ROUNDS rounds (the last try's time, after any 429)."""
    routes: dict[str, Callable[[], httpx.Response]] = {
        "plain read": lambda: http.get(f"/image_prediction/{done_id}", headers=headers),
        "/health": lambda: http.get("/health"),
        "/ (the page)": lambda: http.get("/", headers=headers),
    }
    timings: dict[str, list[float]] = {name: [] for name in routes}
    for _ in range(ROUNDS):
        for name, request in routes.items():
            timings[name].append(_route_timed(request))
            time.sleep(0.05)
    return {
        name: {"p50_s": pct(values, 50), "p95_s": pct(values, 95), "n": len(values)}
        for name, values in timings.items()
    }


def _route_timed(request: Callable[[], httpx.Response]) -> float:
    """The answered attempt's own time, after any 429."""
    attempts: list[float] = []
    response = backing_off(request, attempts)
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return attempts[-1]


DRAWING_STEPS = 3
SINGLES = 3  # predictions drawn one at a time: first request, then kept
BURST_PREDICTIONS = 8
BURST = 16
DRAWINGS_TOTAL = Settings().drawings_total  # the template's MaxConcurrentDrawings default


def drawings(work: Path, step: Steps, phone: Path) -> dict[str, Any]:
    step("starting a stack (drawings)")
    with running_stack(work / "drawings-stack") as stack:
        step.done()
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:
            step(f"{SINGLES + BURST_PREDICTIONS} predictions of a 12 MP photo")
            ids = [_done(http, phone.read_bytes()) for _ in range(SINGLES + BURST_PREDICTIONS)]
            step.done()
            step("annotated photos: one at a time, then 16 at once beside reads")
            result = _drawings(http, ids[:SINGLES], ids[SINGLES:])
            step.done()
    return result


def _drawings(http: httpx.Client, singles: list[str], burst: list[str]) -> dict[str, Any]:
    first = [_annotated_timed(http, pid) for pid in singles]
    again = [_annotated_timed(http, pid) for pid in singles for _ in range(3)]
    warm_status_environments(http)  # what is measured is the drawings' share, not cold starts
    idle = sample(http, singles[0], {})
    started = time.perf_counter()
    with ThreadPoolExecutor(BURST) as pool:
        sent = [pool.submit(_served, http, burst[n % len(burst)]) for n in range(BURST)]
        busy = sample(http, singles[0], {})  # while the drawings run
        served = [s.result() for s in sent]
    firsts = [first for first, _, _ in served]
    return {
        "drawings_total": DRAWINGS_TOTAL, "first_s": _spread(first), "kept_s": _spread(again),
        "burst": {"requests": BURST, "predictions": len(burst)}, "idle": idle,
        "while_drawing": busy, "ok_at_once": firsts.count(200), "busy_503": firsts.count(503),
        "all_served_s": max(at for _, _, at in served) - started,
        "retries": sum(tries for _, tries, _ in served),
    }  # fmt: skip


def _spread(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 50), "max": max(values), "n": len(values)}


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


def _annotated_timed(http: httpx.Client, prediction_id: str) -> float:
    return _route_timed(lambda: http.get(f"/image_prediction/{prediction_id}/annotated"))


WEBHOOK_STEPS = 3
SLOW = 25
HONEST = 3


@contextmanager
def honest_receiver() -> Iterator[tuple[int, dict[str, float]]]:
    """A receiver answering 204 at once; when each path's first delivery arrived."""
    arrivals: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            arrivals.setdefault(self.path, time.monotonic())
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


def webhooks(work: Path, step: Steps) -> dict[str, Any]:
    step("starting a stack (webhooks)")
    # The cloud's retry schedule, not make local's seconds: slow receivers' retries come back
    # as often as they would in AWS.
    cloud = {"WEBHOOK_RETRY_DELAYS": DEFAULT_RETRY_DELAYS}
    with running_stack(work / "webhooks-stack", settings=cloud) as stack:
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
            return {"slow": SLOW, "alone_s": _spread(alone), "behind_s": _spread(behind),
                    "slow_tries_at_once": slow.most_open}  # fmt: skip


def _submit(http: httpx.Client, webhook: str) -> str:
    response = post_image(
        http, "dog.jpg", (SHARED / "images" / "dog.jpg").read_bytes(), webhook=webhook
    )
    if response.status_code != 202:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return str(response.json()["image_prediction_id"])


def _honest_delay(http: httpx.Client, port: int, arrivals: dict[str, float], path: str) -> float:
    """Seconds from the prediction seen DONE (polled every 0.1 s) to its delivery's arrival."""
    prediction_id = _submit(http, f"http://127.0.0.1:{port}{path}")
    deadline = time.monotonic() + 300
    done_at = None
    while time.monotonic() < deadline:
        if done_at is None:
            got = backing_off(lambda: http.get(f"/image_prediction/{prediction_id}"))
            if got.status_code == 200 and got.json()["status"] == "DONE":
                done_at = time.monotonic()
        if path in arrivals and done_at is not None:
            return max(0.0, arrivals[path] - done_at)
        time.sleep(0.1)
    raise RuntimeError(f"the webhook {path} was not delivered within 300 s")
