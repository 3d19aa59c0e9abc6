"""Typed settings, read from the environment when a handler starts (never at import time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dogdetect.domain.limits import (
    DEFAULT_DIRECT_UPLOAD_MAX_BYTES,
    DEFAULT_MAX_UPLOAD_BYTES,
)
from dogdetect.domain.options import DEFAULT_CONFIDENCE_FLOOR
from dogdetect.domain.webhooks.retry import DEFAULT_RETRY_DELAYS, parse_delays

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    # Either a full URL (local, docker-compose) or, in the cloud, the RDS-managed secret plus
    # the RDS Proxy endpoint: the password is fetched at start, never put in the template.
    database_url: str = "postgresql+pg8000://dogdetect:dogdetect@127.0.0.1:5432/dogdetect"
    database_secret_arn: str | None = None
    database_host: str | None = None
    database_port: int = 5432
    database_name: str = "dogdetect"
    database_tls: bool = False  # the cloud template turns it on for RDS Proxy
    # A PEM file of extra CAs (an RDS instance's) trusted besides the default store, with TLS on.
    database_ca_bundle: str | None = None
    # The migration only: the login role the runtime functions use (`runtime.migrate`), from
    # its secret ({"username", "password"}) in the cloud, or given directly (`make local`).
    app_database_secret_arn: str | None = None
    app_database_user: str = "dogdetect_app"
    app_database_password: SecretStr | None = None
    bucket_name: str = "dogdetect-uploads"
    queue_url: str = ""
    aws_endpoint_url: str | None = None
    aws_region: str = Field(default="us-east-1", validation_alias="AWS_DEFAULT_REGION")

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_image_pixels: int = 40_000_000
    # Requests held by Prefer: wait at once, per client (API key, else source address) and in
    # all: the rest of the status function's concurrency stays for plain reads (docs/scaling.md).
    waits_per_client: int = 2
    waits_total: int = 8
    # Annotated photos drawn at once, in all (each drawn once per prediction, then kept).
    drawings_total: int = Field(default=4, ge=1)
    # The floor of a request's `confidence` and its default (`domain.options`): detections
    # below it are not kept, and a dog at or above it makes has_dog true.
    dog_confidence: float = Field(default=DEFAULT_CONFIDENCE_FLOOR, ge=0.0, le=1.0)
    max_receive_count: int = 5  # == the jobs queue's maxReceiveCount (infra/template.yaml)
    enqueue_grace_seconds: int = 60
    stuck_after_seconds: int = Field(default=7200, gt=0)  # then the sweeper gives up

    # Direct uploads (POST /image_prediction/uploads, dogdetect.service.uploads): the largest
    # object the presigned POST admits, how long it stays valid (S3's presigning allows at most
    # 7 days), and how long after that the sweeper waits for an upload still on its way before
    # it ends the prediction ERROR ("no upload received").
    direct_upload_max_bytes: int = Field(default=DEFAULT_DIRECT_UPLOAD_MAX_BYTES, gt=0)
    direct_upload_expires_seconds: int = Field(default=900, gt=0, le=604_800)
    direct_upload_grace_seconds: int = Field(default=300, ge=0)

    # Webhooks (dogdetect.domain.webhooks): the queue the finishing code announces predictions to,
    # and what the notify function signs with (the secret, or in the cloud the secret's ARN).
    notifications_queue_url: str = ""
    webhook_secret: SecretStr | None = None  # `whsec_` + base64; `make local` makes one per start
    webhook_secret_arn: str | None = None
    allow_http_webhooks: bool = False  # http to loopback hosts: `make local` only
    webhook_retry_delays: str = DEFAULT_RETRY_DELAYS  # seconds after failed tries 1, 2, ...

    model_path: str | None = None
    # openvino: the OpenVINO runtime alone (no torch), an OpenVINO export only; ultralytics:
    # its YOLO class, for .pt or .onnx weights (dogdetect.adapters.detector.loading).
    detector_engine: Literal["openvino", "ultralytics"] = "openvino"
    # The compiled-model cache; None: <tempdir>/dogdetect-openvino-cache. May be read-only once
    # filled (the predict image's /opt/models/openvino-cache).
    openvino_cache_dir: str | None = None
    api_keys: str = ""  # comma-separated; empty disables the check

    @field_validator("webhook_retry_delays")
    @classmethod
    def _delays_parse(cls, value: str) -> str:
        parse_delays(value)
        return value

    @property
    def webhook_retry_schedule(self) -> tuple[int, ...]:
        return parse_delays(self.webhook_retry_delays)

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())
