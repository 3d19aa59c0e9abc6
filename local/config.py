"""Ports, names and limits of the local stack. Routes, timeouts and queue settings come from
infra/template.yaml (local/template.py), so the local stack and the cloud cannot drift."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from local.template import (
    REPO_ROOT,
    QueueConfig,
    RedriveConfig,
    Route,
    queue_config,
    redrive_config,
)

__all__ = [
    "EMULATORS",
    "LOCAL_WEBHOOK_RETRY_DELAYS",
    "REPO_ROOT",
    "Emulator",
    "LocalConfig",
    "QueueConfig",
    "Route",
]

# The AWS endpoint the stack starts: moto (ours, with IAM enforced) or LocalStack.
Emulator = Literal["moto", "localstack"]
EMULATORS: tuple[Emulator, ...] = ("moto", "localstack")

# A failed webhook's next try, after tries 1 to 4, in seconds: `make local`'s schedule, so that
# a demo shows every try within a minute (0, 2, 7, 17 and 37 s). The cloud keeps the settings'
# (dogdetect.domain.webhooks.retry.DEFAULT_RETRY_DELAYS, about an hour).
LOCAL_WEBHOOK_RETRY_DELAYS = "2,5,10,20"


@dataclass(frozen=True)
class LocalConfig:
    state_dir: Path = REPO_ROOT / ".local"
    host: str = "127.0.0.1"
    emulator: Emulator = "moto"
    api_port: int = 8080
    aws_port: int = 4566
    pg_port: int = 54329
    bucket: str = "dogdetect-uploads"
    queue: str = "dogdetect-jobs"
    dead_letter_queue: str = "dogdetect-jobs-dlq"
    notifications_queue: str = "dogdetect-notifications"
    notifications_dead_letter_queue: str = "dogdetect-notifications-dlq"
    region: str = "us-east-1"
    queue_config: QueueConfig = field(default_factory=queue_config)
    notifications_config: RedriveConfig = field(
        default_factory=lambda: redrive_config("NotificationsQueue")
    )
    webhook_retry_delays: str = LOCAL_WEBHOOK_RETRY_DELAYS  # WEBHOOK_RETRY_DELAYS replaces it
    sweep_interval_seconds: float = 15.0
    function_timeouts: dict[str, float] = field(default_factory=dict)  # tests' overrides

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"
