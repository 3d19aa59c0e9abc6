"""Handles on the local stack the bench started (local/launcher.py): pause its predict poller,
kill its predict execution environment, read the init durations its runtime logs, and the
environment its functions get. Only processes under the bench's own stack are touched."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

POLLER = ("-m", "local.poller")
PREDICT_WORKER = ("-m", "local.worker", "predict")  # then its code, reply fd and init hook
INIT_LINE = re.compile(r" (?P<name>\w+) pid (?P<pid>\d+) Init Duration: (?P<ms>[\d.]+) ms")


def _runs(argv: list[str], words: tuple[str, ...]) -> bool:
    return any(tuple(argv[i : i + len(words)]) == words for i in range(len(argv)))


def _descendants(stack: Any, words: tuple[str, ...]) -> list[psutil.Process]:
    """The stack's processes whose command line has `words` in a row."""
    found = []
    for process in psutil.Process(stack.process.pid).children(recursive=True):
        try:
            if _runs(process.cmdline(), words):
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


@contextmanager
def predict_paused(stack: Any) -> Iterator[None]:
    """SIGSTOP the stack's poller (our own child), so that submit is measured alone and the
    queue fills up; SIGCONT on the way out."""
    pollers = _descendants(stack, POLLER)
    if not pollers:  # measuring on would time a queue that was never held back
        raise LookupError("the stack has no predict poller to pause")
    for p in pollers:
        p.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for p in pollers:
            p.send_signal(signal.SIGCONT)


def predict_workers(stack: Any) -> list[psutil.Process]:
    """The predict function's execution environments (one process each)."""
    return _descendants(stack, PREDICT_WORKER)


def peak_rss_mb(process: psutil.Process) -> float | None:
    """A process's high-water mark of resident memory (VmHWM), None when it cannot be read."""
    try:
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def kill_predict_workers(stack: Any, timeout_s: float = 10) -> list[int]:
    """SIGKILL every predict environment, as Lambda discards a container: the next batch
    starts a new one (local/runtime.py), which pays the init again. Returns their pids."""
    workers = predict_workers(stack)
    for worker in workers:
        worker.kill()
    psutil.wait_procs(workers, timeout=timeout_s)
    return [w.pid for w in workers]


def log_size(stack: Any, name: str = "poller.log") -> int:
    path = stack.state_dir / name
    return path.stat().st_size if path.exists() else 0


def init_durations(stack: Any, since: int, function: str, name: str = "poller.log") -> list[float]:
    """Init durations (s) of `function`'s environments logged after byte `since` of the log."""
    path = stack.state_dir / name
    with path.open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return [float(m["ms"]) / 1000 for m in INIT_LINE.finditer(text) if m["name"] == function]


def wait_for_init(stack: Any, since: int, function: str, timeout_s: float = 30) -> float | None:
    """The first init duration of `function` logged after `since`, waiting for it a while."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = init_durations(stack, since, function)
        if found:
            return found[0]
        time.sleep(0.2)
    return None


def function_env(stack: Any, **overrides: str) -> dict[str, str]:
    """What a function of this stack sees (endpoint, database, bucket, queue, credentials)."""
    env = dict(os.environ)
    env.update({k: v for k, v in stack.environment.items() if k.isupper()})
    env.update(overrides)
    return env


def predict_engine(stack: Any) -> str:
    """The detector engine the stack's predict runs: DETECTOR_ENGINE, else the settings'
    default."""
    chosen = function_env(stack).get("DETECTOR_ENGINE")
    if chosen:
        return chosen
    from dogdetect.config import Settings

    field = Settings.model_fields.get("detector_engine")
    return str(field.default) if field is not None else "ultralytics"
