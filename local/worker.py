"""One local Lambda execution environment:
`python -m local.worker NAME CODE REPLY_FD CORES`.

Pins itself to CORES ("0,1"; empty: unpinned) first, so that every thread its libraries start
later stays there (OpenVINO sizes its thread pool from the cores the process may use). Then
imports the function's code (functions/NAME/app.py) once, the init phase, with
AWS_LAMBDA_INITIALIZATION_TYPE set as Lambda sets it (predict loads its model then:
`dogdetect.runtime.lifecycle`); then runs one invocation at a time: a JSON line on stdin in, a
JSON line on REPLY_FD out, under the request id the runtime chose (its REPORT line names it).
The function's own output (its JSON logs) goes to the inherited stdout and stderr, as in
CloudWatch.

Ctrl-C in `make local`'s terminal reaches every process of its group: an environment ignores
it (its runtime stops it, as Lambda stops a sandbox), so a stop prints no traceback per
environment."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

from local.functions import LambdaContext, import_handler_module


def _reply(channel: BinaryIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message).encode() + b"\n")
    channel.flush()


def _log_unhandled(error: dict[str, str], exc: Exception) -> None:
    """One JSON line, as Lambda's runtime logs an unhandled error: the message may carry
    request data, and a raw traceback would spread it over lines that look like events."""
    stack = traceback.format_exception(exc)
    print(
        json.dumps({"level": "ERROR", "message": "unhandled error", **error, "stackTrace": stack})
    )


def serve(name: str, code: Path, reply_fd: int) -> None:
    channel = os.fdopen(reply_fd, "wb")
    module = import_handler_module(code)
    _reply(channel, {"ready": os.getpid()})
    for line in sys.stdin.buffer:
        request = json.loads(line)
        context = LambdaContext(
            function_name=name,
            timeout_seconds=request["timeout"],
            memory_limit_in_mb=int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]),
            aws_request_id=request["request_id"],
        )
        try:
            reply: dict[str, Any] = {"result": module.handler(request["event"], context)}
        except Exception as exc:  # Lambda reports an unhandled error and keeps the container
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            _log_unhandled(error, exc)
            reply = {"error": error}
        sys.stdout.flush()
        _reply(channel, reply)


def pin(cores: str) -> None:
    """Run on `cores` only ("0,1"), as the runtime sized this environment."""
    if cores:
        os.sched_setaffinity(0, {int(core) for core in cores.split(",")})


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    name, code, reply_fd, cores = sys.argv[1:]
    pin(cores)
    serve(name, Path(code), int(reply_fd))
