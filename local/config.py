"""Ports, names and limits of the local stack. Routes and queue settings are read from
infra/template.yaml (local/template.py), so the local stack and the cloud cannot drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway route key syntax: /image_prediction/{image_prediction_id}
    function: str


@dataclass(frozen=True)
class QueueConfig:
    batch_size: int
    batching_window_seconds: int
    visibility_timeout_seconds: int
    max_receive_count: int


def _template_queue_config() -> QueueConfig:
    from local.template import queue_config

    return queue_config()


@dataclass(frozen=True)
class LocalConfig:
    state_dir: Path = REPO_ROOT / ".local"
    host: str = "127.0.0.1"
    api_port: int = 8080
    aws_port: int = 4566
    pg_port: int = 54329
    bucket: str = "dogdetect-uploads"
    queue: str = "dogdetect-jobs"
    dead_letter_queue: str = "dogdetect-jobs-dlq"
    region: str = "us-east-1"
    queue_config: QueueConfig = field(default_factory=_template_queue_config)
    sweep_interval_seconds: float = 15.0

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"
