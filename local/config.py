"""Ports, names and limits of the local stack. The queue and route settings mirror
infra/template.yaml; tests/infra checks that they do not drift apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Lambda's synchronous invocation payload limit; API Gateway base64-encodes binary bodies.
LAMBDA_PAYLOAD_LIMIT_BYTES = 6_291_456


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway route key syntax: /image_prediction/{image_prediction_id}
    function: str


ROUTES = (
    Route("POST", "/image_prediction", "submit"),
    Route("GET", "/image_prediction/{image_prediction_id}", "status"),
    Route("GET", "/health", "status"),
)
DEFAULT_ROUTE_FUNCTION = "status"  # $default: unknown paths get the API's JSON 404


@dataclass(frozen=True)
class QueueConfig:
    batch_size: int = 10
    batching_window_seconds: int = 1
    visibility_timeout_seconds: int = 360
    max_receive_count: int = 3


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
    queue_config: QueueConfig = field(default_factory=QueueConfig)
    sweep_interval_seconds: float = 15.0

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"
