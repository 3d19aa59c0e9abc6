"""Where the notify function's signing secret comes from: WEBHOOK_SECRET locally, the secret
WEBHOOK_SECRET_ARN names in the cloud (the template generates its bare base64 value)."""

from __future__ import annotations

from typing import Any

import pytest
from dogdetect.adapters.secrets import WebhookSecretMissing, webhook_secret
from dogdetect.config import Settings
from dogdetect.domain.webhooks.signing import secret_key

GENERATED = (
    "Kq3ZxWm8vT2pLr6NcY0bHs4dJf7gAe1uIo9kQw5tRy8z"  # 44 alphanumerics, as the template makes
)


class FakeSecrets:
    def __init__(self, value: str) -> None:
        self.value = value
        self.asked: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.asked.append(SecretId)
        return {"SecretString": self.value}


def test_the_local_secret_is_used_as_given() -> None:
    settings = Settings(webhook_secret="whsec_" + GENERATED, webhook_secret_arn="arn:unused")
    assert webhook_secret(settings, FakeSecrets("other")) == "whsec_" + GENERATED


def test_the_cloud_secret_is_read_from_secrets_manager() -> None:
    secrets = FakeSecrets(GENERATED)
    settings = Settings(webhook_secret_arn="arn:aws:secretsmanager:us-east-1:1:secret:hook")
    assert webhook_secret(settings, secrets) == GENERATED
    assert secrets.asked == ["arn:aws:secretsmanager:us-east-1:1:secret:hook"]


def test_the_generated_value_is_a_valid_signing_key() -> None:
    """44 alphanumeric characters are base64 of 33 random bytes: no padding, no leftover bits."""
    assert len(secret_key(GENERATED)) == 33
    assert secret_key(GENERATED) == secret_key("whsec_" + GENERATED)


def test_no_secret_at_all_is_an_error() -> None:
    with pytest.raises(WebhookSecretMissing):
        webhook_secret(Settings(), FakeSecrets("x"))
