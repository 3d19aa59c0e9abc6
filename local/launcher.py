"""Run `python -m local` as a child on free ports, for tests and benchmarks: the same stack a
developer gets from `make local`, started and stopped programmatically."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from local import poller
from local.config import REPO_ROOT, Emulator
from local.processes import wait_until
from local.stack import READY_FILE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class RunningStack:
    process: subprocess.Popen[bytes]
    state_dir: Path
    ports: dict[str, int]
    environment: dict[str, str]

    @property
    def api_url(self) -> str:
        return self.environment["api_url"]

    def log(self, name: str = "stack.log") -> str:
        path = self.state_dir / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def child(self, fragment: str) -> psutil.Process:
        """The stack's child process whose command line contains `fragment`."""
        for process in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if fragment in " ".join(process.cmdline()):
                    return process
            except psutil.NoSuchProcess:
                continue
        raise LookupError(f"no child process matching {fragment!r}")

    def sweep(self, timeout: float = 180) -> dict[str, Any]:
        """Run the stack's sweep now and return that run's answer (its SweepResult as a dict):
        a run that starts after this call, asked of the poller (SIGUSR1) as its schedule would,
        not the schedule's next one. Fails when that run failed or timed out. `timeout` bounds
        the wait for the answer only: the sweep's own Timeout ends a stuck run first."""
        pid = int((self.state_dir / poller.READY_FILE).read_text())
        runs = self.state_dir / poller.SWEEP_RUNS_FILE
        before = _record(runs)
        started = before["started"] if before and before["pid"] == pid else 0
        os.kill(pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not ((run := _record(runs)) and run["pid"] == pid and run["finished"] > started):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no sweep ran in {timeout} s:\n{self.log('poller.log')}")
            time.sleep(0.05)
        if run["error"]:
            raise AssertionError(f"the sweep failed: {run['error']}\n{self.log('poller.log')}")
        result: dict[str, Any] = run["result"]
        return result

    def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a developer would; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)


def _record(path: Path) -> dict[str, Any] | None:
    """A JSON file the stack replaces whole, or None before its first write."""
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return found


def _await_ready(stack: RunningStack, timeout: float) -> None:
    ready = stack.state_dir / READY_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            raise RuntimeError(
                f"the local stack exited early:\n{stack.log()}\n{stack.log('poller.log')}"
            )
        if ready.exists():
            stack.environment = json.loads(ready.read_text())
            return
        time.sleep(0.2)
    raise TimeoutError(f"the local stack was not ready in {timeout} s:\n{stack.log()}")


@contextmanager
def running_stack(
    state_dir: Path,
    visibility_timeout: int | None = None,
    ready_timeout: float = 300,
    function_timeouts: dict[str, float] | None = None,
    settings: dict[str, str] | None = None,
    emulator: Emulator = "moto",
) -> Iterator[RunningStack]:
    """`settings`: environment variables for the stack and so its functions (a test's short
    direct-upload expiry, say). `emulator`: the AWS endpoint it starts on its AWS port."""
    ports = {"api": free_port(), "aws": free_port(), "pg": free_port()}
    argv = [
        sys.executable, "-m", "local",
        "--state-dir", str(state_dir),
        "--api-port", str(ports["api"]),
        "--aws-port", str(ports["aws"]),
        "--pg-port", str(ports["pg"]),
        "--emulator", emulator,
    ]  # fmt: skip
    if visibility_timeout is not None:
        argv += ["--visibility-timeout", str(visibility_timeout)]
    for name, seconds in (function_timeouts or {}).items():
        argv += ["--function-timeout", f"{name}={seconds}"]
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / READY_FILE).unlink(missing_ok=True)  # a previous run's must not count
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AWS_ENDPOINT_URL")}
    env.update(settings or {})
    with open(state_dir / "stack.log", "ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own module
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack = RunningStack(process, state_dir, ports, {})
    try:
        _await_ready(stack, ready_timeout)
        yield stack
    finally:
        if process.poll() is None:
            stack.interrupt()


def warm_status_environments(client: httpx.Client, timeout: float = 600) -> None:
    """Start every status environment (16 locally, as Lambda would start one per concurrent
    request) before something that needs them all at once. Cold starts on a busy machine take
    seconds each, and a burst that meets them all cold can wait past the gateway's 30 s: this
    asks /health 16 at a time until one round is answered 200 throughout, however long the
    machine takes (within `timeout`)."""
    from local.gateway import POOL_SIZES  # here: the unit suites' 3.13 venv has no gateway

    count = POOL_SIZES["status"]
    with ThreadPoolExecutor(count) as pool:

        def one_round_all_answered() -> bool:
            answers = pool.map(lambda _: client.get("/health", timeout=60), range(count))
            return all(a.status_code == 200 for a in answers)

        wait_until(one_round_all_answered, timeout, "every status environment", interval=1)
