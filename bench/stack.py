"""The bench's hands on the local stack it started (local/launcher.py), black-box: HTTP through
the gateway (uploads backing off on its 429s, reads of the rows' own timestamps), and, on its
own child processes only, pausing the predict poller, killing predict's execution
environments and reading the init durations the local runtime logs."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil

POLLER = ("-m", "local.poller")
PREDICT = ("-m", "local.worker", "predict")  # then its code, reply fd
INIT_LINE = re.compile(r" (?P<name>\w+) pid (?P<pid>\d+) Init Duration: (?P<ms>[\d.]+) ms")
NAN = float("nan")
POLL_INTERVAL_S = 1.0  # few polls: each takes cores the pipeline runs on; times are the rows'
TERMINAL = ("DONE", "ERROR")

# -- processes --------------------------------------------------------------------------------


def _children(stack: Any, words: tuple[str, ...]) -> list[psutil.Process]:
    """The stack's processes whose command line has `words` in a row."""
    found = []
    for process in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            argv = process.cmdline()
        except psutil.NoSuchProcess:
            continue
        if any(tuple(argv[i : i + len(words)]) == words for i in range(len(argv))):
            found.append(process)
    return found


def predict_environments(stack: Any) -> list[psutil.Process]:
    return _children(stack, PREDICT)


@contextmanager
def predict_paused(stack: Any) -> Iterator[None]:
    """SIGSTOP the poller (the queue fills, submit runs alone); SIGCONT on the way out."""
    pollers = _children(stack, POLLER)
    if not pollers:  # measuring on would time a queue that was never held back
        raise LookupError("the stack has no predict poller to pause")
    for p in pollers:
        p.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for p in pollers:
            p.send_signal(signal.SIGCONT)


def kill_predict_environments(stack: Any) -> list[int]:
    """SIGKILL every predict environment, as Lambda discards a container."""
    found = predict_environments(stack)
    for process in found:
        process.kill()
    psutil.wait_procs(found, timeout=10)
    return [p.pid for p in found]


# Who spends the machine's CPU: each of the stack's processes, by what its command line runs.
ROLES = {
    "-m local.worker predict": "predict environments",
    "-m local.worker": "the other functions' environments",
    "-m local.aws_server": "AWS endpoint (moto)",
    "localstack": "AWS endpoint (LocalStack)",
    "-m local.poller": "event source mappings (local.poller)",
    "-m local": "API gateway and supervisor (local)",
}


def cpu_seconds(stack: Any) -> dict[int, tuple[str, float]]:
    """Each of the stack's processes, and the bench's own: its role, the CPU seconds (user +
    system) it has used so far."""
    root = psutil.Process(stack.process.pid)
    used = {}
    for process in [psutil.Process(), root, *root.children(recursive=True)]:
        try:
            argv, times = process.cmdline(), process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        line = " ".join(argv)
        role = next((r for words, r in ROLES.items() if words in line), "other")
        role = "PostgreSQL" if argv and "postgres" in argv[0] else role
        role = "the bench: uploads and polls" if process.pid == os.getpid() else role
        used[process.pid] = (role, times.user + times.system)
    return used


def cpu_by_role(before: dict[int, tuple[str, float]], after: dict[int, Any]) -> dict[str, float]:
    """CPU seconds each role used between two `cpu_seconds` (a process started between them
    counts from zero)."""
    spent: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        spent[role] = spent.get(role, 0.0) + seconds - before.get(pid, (role, 0.0))[1]
    return dict(sorted(spent.items(), key=lambda item: -item[1]))


def log_size(stack: Any) -> int:
    path = stack.state_dir / "poller.log"
    return path.stat().st_size if path.exists() else 0


def inits_since(stack: Any, since: int, function: str = "predict") -> list[float]:
    """Init durations (s) of `function`'s environments logged after byte `since`."""
    with (stack.state_dir / "poller.log").open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return [float(m["ms"]) / 1000 for m in INIT_LINE.finditer(text) if m["name"] == function]


def wait_for_init(stack: Any, since: int, timeout_s: float = 30) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := inits_since(stack, since):
            return found[0]
        time.sleep(0.2)
    return None


def function_env(stack: Any, **overrides: str) -> dict[str, str]:
    """What a function of this stack sees (endpoint, database, bucket, queue, credentials)."""
    own = {k: v for k, v in stack.environment.items() if k.isupper()}
    return {**os.environ, **own, **overrides}


# -- HTTP -------------------------------------------------------------------------------------


def timestamp(value: str) -> float:
    """A row's ISO 8601 time as seconds since the epoch (this machine's clock, as the bench's)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def client(api_url: str, concurrency: int = 8) -> httpx.Client:
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    return httpx.Client(base_url=api_url, timeout=60, limits=limits)


def backing_off(
    request: Callable[[], httpx.Response], attempts: list[float] | None = None
) -> httpx.Response:
    """A request, retried on the gateway's 429 (the template's throttle) as a client would;
    each attempt's own seconds appended to `attempts`."""
    for attempt in range(8):
        t = time.perf_counter()
        response = request()
        (attempts if attempts is not None else []).append(time.perf_counter() - t)
        if response.status_code != 429:
            return response
        time.sleep(0.05 * 2**attempt)
    return response


def post_image(
    http: httpx.Client, name: str, data: bytes, attempts: list[float] | None = None, **form: str
) -> httpx.Response:
    files = {"image": (name, data)}
    post = partial(http.post, "/image_prediction", files=files, data=form or None)
    return backing_off(post, attempts)


def submit_all(http: httpx.Client, paths: list[Path], concurrency: int) -> dict[str, Any]:
    """Upload every photo, `concurrency` at a time: the ids (failed uploads left out), each
    upload's latency (its 429s' backing off included, as its client waits), the accepted
    attempt's own latency, the attempts the gateway throttled, the failures."""
    latencies: list[float] = []
    accepted: list[float] = []
    throttled: list[int] = []

    def submit(path: Path) -> str | None:
        t, attempts = time.perf_counter(), list[float]()
        response = post_image(http, path.name, path.read_bytes(), attempts)
        latencies.append(time.perf_counter() - t)  # list.append is atomic
        if response.status_code != 202:
            return None
        accepted.append(attempts[-1])
        throttled.append(len(attempts) - 1)
        return str(response.json()["image_prediction_id"])

    with ThreadPoolExecutor(concurrency) as pool:
        ids = [i for i in pool.map(submit, paths) if i]
    return {"ids": ids, "latencies_s": latencies, "attempt_latencies_s": accepted,
            "throttled": sum(throttled), "errors": len(paths) - len(ids)}  # fmt: skip


def wait_done(
    http: httpx.Client, ids: list[str], timeout_s: float = 300, polls: list[float] | None = None
) -> list[dict[str, Any]]:
    """The rows of `ids` once each is DONE or ERROR. The queue is about first in, first out:
    the last unfinished id is polled until it finishes, then the others are read once each."""
    pending, finished = list(ids), []
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for prediction_id in reversed(list(pending)):
            t = time.perf_counter()
            response = backing_off(partial(http.get, f"/image_prediction/{prediction_id}"))
            (polls if polls is not None else []).append(time.perf_counter() - t)
            body = response.json() if response.status_code == 200 else {}
            if body.get("status") not in TERMINAL:
                break
            pending.remove(prediction_id)
            finished.append(body)
        if pending:
            time.sleep(POLL_INTERVAL_S)
    return finished


def upload_and_wait(api_url: str, paths: list[Path], concurrency: int) -> dict[str, Any]:
    """Upload every photo (`concurrency` at a time), wait until each one is DONE; latencies from
    the rows' own timestamps (`created_at` -> `updated_at`), so polling slowly inflates none."""
    polls: list[float] = []
    with client(api_url, concurrency) as http:
        submitted = submit_all(http, paths, concurrency)
        rows = wait_done(http, submitted["ids"], polls=polls)
    created = [timestamp(row["created_at"]) for row in rows] or [NAN]
    done = [timestamp(row["updated_at"]) for row in rows] or [NAN]
    errors = submitted["errors"] + len(submitted["ids"]) - len(rows)
    errors += sum(row["status"] == "ERROR" for row in rows)
    return {"images": len(paths), "submit_latencies_s": submitted["latencies_s"],
            "status_latencies_s": polls, "errors": errors,
            "done_latencies_s": [d - c for c, d in zip(created, done, strict=True) if rows],
            "elapsed_s": max(done) - min(created), "first_to_last_done_s": max(done) - min(done),
            "throughput_ips": len(paths) / (max(done) - min(created))}  # fmt: skip


def wait_idle(api_url: str, photo: Path) -> None:
    """Block until the queue has drained: a fresh upload gets DONE."""
    upload_and_wait(api_url, [photo], 1)
