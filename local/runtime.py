"""Local Lambda runtime: each function runs in execution environments of its own (worker
processes, `local/worker.py`) with its own environment and credentials, one invocation at a
time each, sized and bounded as the template declares the function: pinned to the cores its
MemorySize buys (`local.cpus`), killed past its MemorySize (`local.memory`) or its Timeout, as
Lambda does. An environment that dies fails its invocation as Lambda reports a runtime's exit
(Runtime.ExitError, and the REPORT line); the next invocation starts cold."""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from dogdetect.runtime.lifecycle import INIT_TYPE_VARIABLE

from local.cpus import CoreAllocator
from local.memory import as_mb, peak_resident_kib
from local.processes import stop
from local.template import REPO_ROOT, FunctionSpec

logger = logging.getLogger("local.runtime")

# Lambda gives an on-demand init 10 s; locally a first model load on a busy machine may take
# longer, and a stack that never starts helps nobody.
INIT_TIMEOUT_SECONDS = 120.0
# How often a busy environment's memory is read (and once more at its reply): the peak (VmHWM)
# is kept between reads, so none is missed; the kill comes at most this late. More often
# would wake every waiting thread (16 status long-polls in the gateway) for nothing.
MEMORY_POLL_SECONDS = 0.5


class FunctionTimeout(Exception):
    """The invocation ran past the function's timeout; its environment was killed."""


class FunctionFailed(Exception):
    """The handler raised, or its environment died: Lambda's unhandled-error response."""


class RuntimeExitError(FunctionFailed):
    """The environment died during the invocation (killed past its MemorySize, or crashed):
    Lambda's answer, `error` as its Invoke response carries it."""

    def __init__(self, function: str, error: dict[str, str]) -> None:
        super().__init__(f"{function}: {error['errorType']}: {error['errorMessage']}")
        self.error = error


class _Exited(FunctionFailed):
    """The environment's reply channel closed: its process is gone."""


def exit_description(returncode: int) -> str:
    """A process's end as Lambda words a runtime's (Go's): "signal: killed", "exit status 1"."""
    if returncode < 0:
        name = signal.strsignal(-returncode)
        return f"signal: {name.lower()}" if name else f"signal {-returncode}"
    return f"exit status {returncode}"


class Environment:
    """One execution environment: a worker process that serves invocations in turn, on the
    cores `cores` (none: unpinned), its resident memory held to the function's MemorySize."""

    def __init__(
        self, spec: FunctionSpec, env: Mapping[str, str], cores: frozenset[int] = frozenset()
    ) -> None:
        self.spec = spec
        self.cores = cores
        self.peak_kib = 0  # the most resident memory it was seen to hold
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
            env={**env, **self._lambda_variables()},
            stdin=subprocess.PIPE,
            pass_fds=(reply_write,),
        )
        os.close(reply_write)
        self._replies = os.fdopen(reply_read, "rb")
        self.ready = False

    def _lambda_variables(self) -> dict[str, str]:
        """What Lambda sets in every environment, as it sets them for the init."""
        return {
            INIT_TYPE_VARIABLE: "on-demand",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.spec.memory_mb),
        }

    def _read_reply(self, timeout: float) -> dict[str, Any] | None:
        """The next reply, or None when none came in time. The environment's memory is read
        while waiting and once more when the reply comes: past the function's MemorySize at
        any moment, it is killed and its reply dropped (`_Exited`), as Lambda's limit would
        have killed it then."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            replied = self._reply_waiting(min(MEMORY_POLL_SECONDS, deadline - time.monotonic()))
            if self._killed_past_memory_size():
                raise _Exited(f"{self.spec.name}: killed past its MemorySize")
            if replied:
                break
            if time.monotonic() >= deadline:
                return None
        line = self._replies.readline()
        if not line.endswith(b"\n"):
            raise _Exited(f"{self.spec.name}: the execution environment exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def _reply_waiting(self, timeout: float) -> bool:
        readable, _, _ = select.select([self._replies], [], [], max(0.0, timeout))
        return bool(readable)

    def _killed_past_memory_size(self) -> bool:
        """Kill the process if its peak resident memory passed the function's MemorySize."""
        peak = peak_resident_kib(self.process.pid)
        if peak is None:  # gone already: its exit tells why
            return False
        self.peak_kib = max(self.peak_kib, peak)
        if as_mb(peak) <= self.spec.memory_mb:
            return False
        self.process.kill()
        return True

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
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        try:
            if not self.ready:
                self.wait_ready()
                started = time.monotonic()  # Lambda's Duration leaves the init out
            reply = self._call(event, request_id)
        except _Exited:
            raise self._exit_error(request_id, started) from None
        if "error" in reply:
            raise FunctionFailed(f"{self.spec.name}: {reply['error']['errorType']}")
        return reply.get("result")

    def _call(self, event: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Send one invocation and wait for its reply, up to the function's timeout."""
        timeout = self.spec.timeout_seconds
        assert self.process.stdin is not None
        request = {"event": event, "timeout": timeout, "request_id": request_id}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise _Exited(f"{self.spec.name}: the execution environment exited") from exc
        reply = self._read_reply(timeout)
        if reply is None:
            self.kill()
            raise FunctionTimeout(f"{self.spec.name}: Task timed out after {timeout:.2f} seconds")
        return reply

    def _exit_error(self, request_id: str, started: float) -> RuntimeExitError:
        """Lambda's account of an environment that died under an invocation: the REPORT line
        and the error line in the function's log, and Runtime.ExitError to the caller."""
        duration_ms = (time.monotonic() - started) * 1000
        reason = exit_description(self._reap())
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
        logger.error(
            "%s REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\t"
            "Memory Size: %d MB\tMax Memory Used: %d MB",
            *(self.spec.name, request_id, duration_ms, math.ceil(duration_ms)),
            *(self.spec.memory_mb, as_mb(self.peak_kib)),
        )
        logger.error("%s %s", self.spec.name, message)
        logger.error("%s Runtime.ExitError", self.spec.name)
        return RuntimeExitError(
            self.spec.name, {"errorType": "Runtime.ExitError", "errorMessage": message}
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        self._replies.close()

    def _reap(self) -> int:
        """The exit code of a process whose reply channel closed (killed if it lingers)."""
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self._replies.close()
        return self.process.returncode


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
            environment.kill()  # reaped, its pipe closed: no zombie left behind
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
