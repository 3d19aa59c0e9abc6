"""Typed settings, read from the environment when a handler starts (never at import time)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# API Gateway and Lambda cap a synchronous request payload at 6 MB (6,291,456 bytes), and
# API Gateway base64-encodes binary bodies (4/3 growth). Multipart framing adds ~1 KB.
# 4.5 MiB of image * 4/3 = 6.0 MiB of base64 plus headers stays under 6 MB. See docs/decisions.md.
LAMBDA_PAYLOAD_LIMIT_BYTES = 6_291_456
DEFAULT_MAX_UPLOAD_BYTES = 4_500_000  # (4,500,000 x 4/3 = 6,000,000) + framing < the limit


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
    # The migration only: the login role the runtime functions use (`dogdetect.migrate`), from
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
    dog_confidence: float = Field(default=0.25, ge=0.0, le=1.0)
    max_receive_count: int = 5  # == the jobs queue's maxReceiveCount (infra/template.yaml)
    enqueue_grace_seconds: int = 60
    stuck_after_seconds: int = Field(default=7200, gt=0)  # then the sweeper gives up

    model_path: str | None = None
    api_keys: str = ""  # comma-separated; empty disables the check

    @property
    def api_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.api_keys.split(",") if k.strip())
