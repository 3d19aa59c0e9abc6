"""Standard Webhooks signatures: the specification's published example, the secret's format,
and the three headers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from dogdetect.domain.webhooks.signing import InvalidSecret, secret_key, sign, signature_headers

# The example of the specification's reference libraries (standard-webhooks/standard-webhooks,
# libraries/*/tests: "test_sign_function"): this key, id, timestamp and body sign to this.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specifications_example_signs_as_published() -> None:
    assert sign(secret_key(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_headers_carry_id_timestamp_and_signature() -> None:
    headers = signature_headers(secret_key(SPEC_SECRET), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": SPEC_SIGNATURE,
    }


def test_a_receiver_verifies_with_a_few_lines_of_its_own() -> None:
    """What README.md shows a client: the signature checked without this project's code."""
    key = secret_key(SPEC_SECRET)
    body = b'{"status":"DONE"}'
    headers = signature_headers(key, "msg_1", 1700000000, body)
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    secret = base64.b64decode(SPEC_SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(headers["webhook-signature"], f"v1,{expected}")


def test_every_part_is_signed() -> None:
    key = secret_key(SPEC_SECRET)
    original = sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert sign(key, "msg_other", SPEC_TIMESTAMP, SPEC_BODY) != original
    assert sign(key, SPEC_ID, SPEC_TIMESTAMP + 1, SPEC_BODY) != original
    assert sign(key, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY + b" ") != original
    assert sign(bytes(24), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) != original


def test_a_bare_base64_secret_is_the_same_key() -> None:
    """The template's generated secret holds the base64 part only."""
    assert secret_key(SPEC_SECRET.removeprefix("whsec_")) == secret_key(SPEC_SECRET)


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_",  # empty
        "whsec_not base64!",
        "whsec_" + base64.b64encode(bytes(23)).decode(),  # below the specification's 24 bytes
        "whsec_" + base64.b64encode(bytes(65)).decode(),  # above its 64
    ],
)
def test_a_secret_the_specification_does_not_allow_is_refused(secret: str) -> None:
    with pytest.raises(InvalidSecret):
        secret_key(secret)


def test_a_webhook_id_with_a_dot_is_refused() -> None:
    """A dot would let `a.1` + timestamp `2` sign the same text as `a` + timestamp `1.2`."""
    with pytest.raises(ValueError, match="must not contain"):
        sign(secret_key(SPEC_SECRET), "msg.1", SPEC_TIMESTAMP, SPEC_BODY)
