"""The database in the cloud: credentials from the RDS-managed Secrets Manager secret, read
again for new connections once they may have rotated (RDS rotates them every 7 days)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from sqlalchemy.engine import URL

from dogdetect.adapters.aws import aws_client
from dogdetect.config import Settings

CREDENTIALS_TTL_SECONDS = 300.0


class RotatingCredentials:
    """(username, password) of the secret, cached for a few minutes."""

    def __init__(self, client: Any, secret_arn: str, ttl: float = CREDENTIALS_TTL_SECONDS) -> None:
        self._client, self._arn, self._ttl = client, secret_arn, ttl
        self._lock = threading.Lock()
        self._value: tuple[str, str] | None = None
        self._read_at = 0.0

    def __call__(self) -> tuple[str, str]:
        with self._lock:
            if self._value is None or time.monotonic() - self._read_at > self._ttl:
                response = self._client.get_secret_value(SecretId=self._arn)
                secret = json.loads(response["SecretString"])
                self._value = (secret["username"], secret["password"])
                self._read_at = time.monotonic()
            return self._value


def _secrets_client(settings: Settings) -> Any:
    return aws_client("secretsmanager", settings.aws_endpoint_url, settings.aws_region)


def credentials_for(settings: Settings, client: Any = None) -> RotatingCredentials | None:
    if not settings.database_secret_arn:
        return None
    return RotatingCredentials(client or _secrets_client(settings), settings.database_secret_arn)


class AppCredentialsMissing(ValueError):
    """The migration was given no login for the runtime functions' role."""


def app_role_credentials(settings: Settings, client: Any = None) -> tuple[str, str]:
    """(name, password) of the runtime functions' role, which the migration sets up: its
    secret in the cloud (APP_DATABASE_SECRET_ARN), given directly locally."""
    if settings.app_database_secret_arn:
        secret = RotatingCredentials(
            client or _secrets_client(settings), settings.app_database_secret_arn
        )
        return secret()
    if settings.app_database_password is not None:
        return settings.app_database_user, settings.app_database_password.get_secret_value()
    raise AppCredentialsMissing(
        "APP_DATABASE_SECRET_ARN (or APP_DATABASE_USER and APP_DATABASE_PASSWORD) is not set: "
        "the migration sets up the login role of the runtime functions"
    )


class WebhookSecretMissing(ValueError):
    """The notify function was given neither WEBHOOK_SECRET nor WEBHOOK_SECRET_ARN."""


def webhook_secret(settings: Settings, client: Any = None) -> str:
    """The webhooks' signing secret: WEBHOOK_SECRET locally; in the cloud the value of the
    secret WEBHOOK_SECRET_ARN names, read when the notify function starts."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    if settings.webhook_secret_arn:
        response = (client or _secrets_client(settings)).get_secret_value(
            SecretId=settings.webhook_secret_arn
        )
        value: str = response["SecretString"]
        return value
    raise WebhookSecretMissing("set WEBHOOK_SECRET (whsec_ + base64) or WEBHOOK_SECRET_ARN")


def database_url(settings: Settings, credentials: RotatingCredentials | None = None) -> str | URL:
    """DATABASE_URL locally; in the cloud, the proxy's address with the secret's credentials."""
    credentials = credentials or credentials_for(settings)
    if credentials is None:
        return settings.database_url
    username, password = credentials()
    return URL.create(
        "postgresql+pg8000",
        username=username,
        password=password,
        host=settings.database_host,
        port=settings.database_port,
        database=settings.database_name,
    )
