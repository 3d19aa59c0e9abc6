"""Database credentials from the RDS-managed secret: cached, and read again after the TTL so a
rotated password reaches new connections."""

from __future__ import annotations

import json
from typing import Any

from dogdetect.adapters.secrets import RotatingCredentials, database_url
from dogdetect.settings import Settings


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
