"""Load the real Lambda handlers from functions/<name>/app.py, as Lambda would, and give
them a Lambda context."""

from __future__ import annotations

import importlib
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.config import REPO_ROOT

LAYER_PATH = str(REPO_ROOT / "layers" / "core")


def load_function(name: str) -> ModuleType:
    """The function's handler module, `dogdetect.entrypoints.<name>` (functions/<name>/app.py
    re-exports its `handler`), with the core layer importable as /opt/python is in Lambda."""
    if LAYER_PATH not in sys.path:
        sys.path.insert(0, LAYER_PATH)
    return importlib.import_module(f"dogdetect.entrypoints.{name}")


def import_handler_module(code: Path, module: str = "app") -> ModuleType:
    """What Lambda does with the handler `app.handler`: the function's code folder (its
    CodeUri) and the core layer on sys.path, then `import app`. One worker process per
    execution environment, so the one `app` module per process is the function's own."""
    for folder in (LAYER_PATH, str(code.parent)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    return importlib.import_module(module)


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools use."""

    function_name: str
    timeout_seconds: float = 30.0
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke(module: ModuleType, name: str, event: dict[str, Any], timeout: float) -> Any:
    """Call a loaded handler in this process (benchmarks measure a function's own cost so)."""
    return module.handler(event, LambdaContext(function_name=name, timeout_seconds=timeout))
