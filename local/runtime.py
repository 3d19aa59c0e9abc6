"""Local Lambda runtime: each function runs in execution environments of its own (worker
processes, `local/worker.py`) with its own environment and credentials, one invocation at a
time each, pinned to the cores its MemorySize buys (`local.cpus`) and bounded by the
function's Timeout from the template. An invocation that runs past it has its environment
killed, as Lambda does; the next one starts cold."""

from __future__ import annotations

import json
import logging
import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from dogdetect.runtime.lifecycle import INIT_TYPE_VARIABLE

from local.cpus import CoreAllocator
from local.processes import stop
from local.template import REPO_ROOT, FunctionSpec

logger = logging.getLogger("local.runtime")

# Lambda gives an on-demand init 10 s; locally a first model load on a busy machine may take
# longer, and a stack that never starts helps nobody.
INIT_TIMEOUT_SECONDS = 120.0


class FunctionTimeout(Exception):
    """The invocation ran past the function's timeout; its environment was killed."""


class FunctionFailed(Exception):
    """The handler raised, or its environment died: Lambda's unhandled-error response."""


class Environment:
    """One execution environment: a worker process that serves invocations in turn, on the
    cores `cores` (none: unpinned)."""

    def __init__(
        self, spec: FunctionSpec, env: Mapping[str, str], cores: frozenset[int] = frozenset()
    ) -> None:
        self.spec = spec
        self.cores = cores
        self._started = time.monotonic()
        reply_read, reply_write = os.pipe()
        # The reply channel is a pipe of its own: the function's stdout is its log. No
        # PR_SET_PDEATHSIG: it fires when the creating *thread* ends; a worker exits at EOF on
        # stdin instead, which a dead parent closes.
        argv = [
            *(sys.executable, "-m", "local.worker", spec.name, str(spec.code), str(reply_write)),
            ",".join(map(str, sorted(cores))),  # the worker pins itself before its imports
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own module
            argv,
            cwd=REPO_ROOT,
            env={**env, INIT_TYPE_VARIABLE: "on-demand"},  # as Lambda sets it for the init
            stdin=subprocess.PIPE,
            pass_fds=(reply_write,),
        )
        os.close(reply_write)
        self._replies = os.fdopen(reply_read, "rb")
        self.ready = False

    def _read_reply(self, timeout: float) -> dict[str, Any] | None:
        """The next reply, or None when none came in time."""
        readable, _, _ = select.select([self._replies], [], [], max(0.0, timeout))
        if not readable:
            return None
        line = self._replies.readline()
        if not line.endswith(b"\n"):
            raise FunctionFailed(f"{self.spec.name}: the execution environment exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def wait_ready(self, timeout: float = INIT_TIMEOUT_SECONDS) -> None:
        if not self.ready:
            if self._read_reply(timeout) is None:
                self.kill()
                raise FunctionFailed(f"{self.spec.name}: init did not finish in {timeout:.0f} s")
            self.ready = True
            # As Lambda reports it ("Init Duration"): process start to the handler's module
            # imported and its init hook run. `make bench` reads it after a cold start.
            init_ms = (time.monotonic() - self._started) * 1000
            logger.info(
                "%s pid %d Init Duration: %.2f ms", self.spec.name, self.process.pid, init_ms
            )

    def invoke(self, event: dict[str, Any]) -> Any:
        self.wait_ready()
        timeout = self.spec.timeout_seconds
        assert self.process.stdin is not None
        try:
            request = json.dumps({"event": event, "timeout": timeout}).encode() + b"\n"
            self.process.stdin.write(request)
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise FunctionFailed(f"{self.spec.name}: the execution environment exited") from exc
        reply = self._read_reply(timeout)
        if reply is None:
            self.kill()
            raise FunctionTimeout(f"{self.spec.name}: Task timed out after {timeout:.2f} seconds")
        if "error" in reply:
            raise FunctionFailed(f"{self.spec.name}: {reply['error']['errorType']}")
        return reply.get("result")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._replies.close()


class FunctionPool:
    """Up to `size` environments of one function, started on demand (cold starts included)
    and reused while warm. Callers beyond `size` wait for a free environment. Each new
    environment takes the cores the pool's other environments use least (`local.cpus`)."""

    def __init__(
        self,
        spec: FunctionSpec,
        env: Mapping[str, str],
        size: int = 1,
    ) -> None:
        self.spec = spec
        self._env = dict(env)
        self._idle: queue.LifoQueue[Environment] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)
        self._all: list[Environment] = []
        self._lock = threading.Lock()
        self._cores = CoreAllocator()

    def prewarm(self) -> None:
        """Start one environment now and wait for its init (a provisioned container)."""
        environment = self._new()
        try:
            environment.wait_ready()
        except FunctionFailed:
            self._forget(environment)
            raise
        self._idle.put(environment)

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._slots:
            environment = self._take()
            try:
                result = environment.invoke(event)
            except FunctionTimeout:
                self._forget(environment)  # it is dead already: no longer one of ours
                raise
            except FunctionFailed:
                self._release(environment)
                raise
            self._idle.put(environment)
            return result

    def _take(self) -> Environment:
        while True:
            try:
                environment = self._idle.get_nowait()
            except queue.Empty:
                return self._new()
            if environment.alive:
                return environment
            self._forget(environment)

    def _release(self, environment: Environment) -> None:
        if environment.alive:
            self._idle.put(environment)
        else:
            self._forget(environment)

    def _new(self) -> Environment:
        environment = Environment(self.spec, self._env, self._cores.take(self.spec.memory_mb))
        with self._lock:
            self._all.append(environment)
        return environment

    def _forget(self, environment: Environment) -> None:
        with self._lock:
            if environment in self._all:
                self._all.remove(environment)
                self._cores.release(environment.cores)

    def close(self) -> None:
        with self._lock:
            environments, self._all = self._all, []
        for environment in environments:
            stop(environment.process, timeout=5)


def wait_all_ready(pools: list[FunctionPool], timeout: float = INIT_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    threads = [threading.Thread(target=pool.prewarm) for pool in pools]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
