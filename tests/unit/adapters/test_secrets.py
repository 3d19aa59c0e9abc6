"""Database credentials from the RDS-managed secret: cached, and read again after the TTL so a
rotated password reaches new connections."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dogdetect.adapters.secrets import (
    AppCredentialsMissing,
    RotatingCredentials,
    app_role_credentials,
    credentials_for,
    database_url,
)
from dogdetect.config import Settings


class FakeSecrets:
    def __init__(self) -> None:
        self.password = "first"
        self.reads = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.reads += 1
        return {"SecretString": json.dumps({"username": "app", "password": self.password})}


def test_credentials_are_cached_within_the_ttl() -> None:
    secrets = FakeSecrets()
    credentials = RotatingCredentials(secrets, "arn:secret", ttl=60)
    assert credentials() == credentials() == ("app", "first")
    assert secrets.reads == 1


def test_a_rotated_password_is_read_after_the_ttl() -> None:
    secrets = FakeSecrets()
    credentials = RotatingCredentials(secrets, "arn:secret", ttl=0)
    assert credentials() == ("app", "first")
    secrets.password = "rotated"
    assert credentials() == ("app", "rotated")


def test_url_uses_the_proxy_host_and_the_secret() -> None:
    settings = Settings(database_secret_arn="arn:secret", database_host="proxy.internal")
    url = database_url(settings, RotatingCredentials(FakeSecrets(), "arn:secret"))
    assert not isinstance(url, str)
    assert (url.host, url.username, url.password, url.database) == (
        "proxy.internal",
        "app",
        "first",
        "dogdetect",
    )


def test_without_a_secret_the_url_is_database_url() -> None:
    assert (
        database_url(Settings(database_url="postgresql+pg8000://u@h/db"))
        == "postgresql+pg8000://u@h/db"
    )


# -- the runtime functions' role, which the migration sets up ---------------------------------


def test_the_app_role_login_comes_from_its_secret() -> None:
    secrets = FakeSecrets()
    settings = Settings(
        app_database_secret_arn="arn:app-secret",
        app_database_user="ignored",
        app_database_password="ignored",  # type: ignore[arg-type]
    )
    assert app_role_credentials(settings, secrets) == ("app", "first")
    assert secrets.reads == 1


def test_locally_the_app_role_login_is_given_directly() -> None:
    settings = Settings(app_database_password="local-password")  # type: ignore[arg-type]
    assert app_role_credentials(settings) == ("dogdetect_app", "local-password")
    assert "local-password" not in repr(settings)


def test_without_an_app_role_login_the_migration_refuses() -> None:
    with pytest.raises(AppCredentialsMissing, match="APP_DATABASE_SECRET_ARN"):
        app_role_credentials(Settings())


def test_the_master_secret_is_read_with_the_client_given() -> None:
    secrets = FakeSecrets()
    credentials = credentials_for(Settings(database_secret_arn="arn:master"), secrets)
    assert credentials is not None and credentials() == ("app", "first")
    assert secrets.reads == 1
