"""The database URL in the cloud: credentials from the RDS-managed Secrets Manager secret."""

from __future__ import annotations

import json

from sqlalchemy.engine import URL

from dogdetect.adapters.aws import aws_client
from dogdetect.settings import Settings


def database_url(settings: Settings) -> str | URL:
    if not settings.database_secret_arn:
        return settings.database_url
    client = aws_client("secretsmanager", settings.aws_endpoint_url, settings.aws_region)
    secret = json.loads(
        client.get_secret_value(SecretId=settings.database_secret_arn)["SecretString"]
    )
    return URL.create(
        "postgresql+pg8000",
        username=secret["username"],
        password=secret["password"],
        host=settings.database_host or secret.get("host"),
        port=settings.database_port,
        database=settings.database_name,
    )
