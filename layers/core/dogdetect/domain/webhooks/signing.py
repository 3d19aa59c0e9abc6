"""Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with the secret's bytes, sent base64-encoded as
`v1,<signature>` in `webhook-signature`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

KEY_PREFIX = "whsec_"  # how the specification serializes a signing key
MIN_SECRET_BYTES = 24  # the specification's minimum (192 bits)
MAX_SECRET_BYTES = 64  # and its maximum (512 bits)


class InvalidSecret(ValueError):
    """WEBHOOK_SECRET is not `whsec_` followed by base64 of 24 to 64 bytes."""


def secret_key(secret: str) -> bytes:
    """The signing key of a secret as the specification serializes it (`whsec_` + base64).
    A bare base64 value (what the template's generated secret holds) is read the same way."""
    encoded = secret.strip().removeprefix(KEY_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret("the webhook secret is not base64 after 'whsec_'") from exc
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidSecret(
            f"the webhook secret must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, "
            f"not {len(key)}"
        )
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,` + base64 of the HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    if "." in webhook_id:  # the specification: a dot would make the signed text ambiguous
        raise ValueError("a webhook id must not contain '.'")
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of one delivery attempt (the timestamp is the attempt's own)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, webhook_id, timestamp, body),
    }
