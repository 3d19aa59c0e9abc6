"""Waiting requests against everyone else, black-box over HTTP on a stack with API keys (each
key a client): a plain read of a DONE prediction, `/health` and the page, first with no
waiter, then while 50 `Prefer: wait=20` requests (2 per key) wait on a prediction that never
finishes. Also what became of the 50: held (Preference-Applied), answered at once, refused."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from dogdetect.config import Settings
from sqlalchemy import create_engine, text

from bench import stats
from bench.common import SHARED, Steps
from bench.load import backing_off

STEPS = 2
KEYS = [f"bench-waiter-{n:02d}" for n in range(25)]
WAITERS = 50
ROUNDS = 10
TOTAL = Settings().waits_total  # the template's MaxConcurrentWaits default, as its tests check
HELD = text("SELECT count(*) FROM slot_claims WHERE pool = 'wait' AND expires_at > now()")


@contextmanager
def keyed_environment() -> Iterator[None]:
    before = os.environ.get("API_KEYS")
    os.environ["API_KEYS"] = ",".join(KEYS)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("API_KEYS", None)
        else:
            os.environ["API_KEYS"] = before


def measure(work: Path, step: Steps) -> dict[str, Any]:
    from local.launcher import running_stack

    step("starting a stack with API keys (waits)")
    with keyed_environment(), running_stack(work / "waits-stack") as stack:
        step.done()
        step("plain reads, /health and / beside 50 waiters")
        with httpx.Client(base_url=stack.api_url, timeout=60) as http:
            result = _measure(http, stack.environment["DATABASE_URL"])
        step.done()
    return result


def _key(n: int) -> dict[str, str]:
    return {"X-API-Key": KEYS[n % len(KEYS)]}


def _measure(http: httpx.Client, database_url: str) -> dict[str, Any]:
    pending = http.post("/image_prediction/uploads", headers=_key(0)).json()
    pending_id = pending["image_prediction_id"]
    done_id = _done_prediction(http)
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


def _done_prediction(http: httpx.Client) -> str:
    data = (SHARED / "images" / "dog.jpg").read_bytes()
    response = backing_off(
        lambda: http.post("/image_prediction", files={"image": ("dog.jpg", data)}, headers=_key(0))
    )
    prediction_id = str(response.json()["image_prediction_id"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        got = http.get(f"/image_prediction/{prediction_id}", headers=_key(0))
        if got.status_code == 200 and got.json()["status"] == "DONE":
            return prediction_id
        time.sleep(0.25)
    raise RuntimeError("the bench's photo did not finish within 120 s")


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
            if seen[-1] >= TOTAL or (steady and seen[-1] > 0):
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
            timings[name].append(_timed(request))
            time.sleep(0.05)
    return {
        name: {"p50_s": stats.pct(values, 50), "p95_s": stats.pct(values, 95), "n": len(values)}
        for name, values in timings.items()
    }


def _timed(request: Callable[[], httpx.Response]) -> float:
    for attempt in range(8):
        started = time.perf_counter()
        response = request()
        took = time.perf_counter() - started
        if response.status_code != 429:
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
            return took
        time.sleep(0.05 * 2**attempt)
    raise RuntimeError("throttled 8 times")
