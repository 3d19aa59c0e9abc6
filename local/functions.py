"""Load the real Lambda handlers from functions/<name>/app.py, as Lambda would, and give
them a Lambda context."""

from __future__ import annotations

import importlib.util
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
    """Import functions/<name>/app.py under a unique module name (every one is `app`)."""
    return load_module(name, REPO_ROOT / "functions" / name / "app.py")


def load_module(name: str, code: Path) -> ModuleType:
    if LAYER_PATH not in sys.path:
        sys.path.insert(0, LAYER_PATH)  # the core layer, as /opt/python is in Lambda
    module_name = f"function_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, code)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


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
