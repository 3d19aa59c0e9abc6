"""S3 presigned POSTs (botocore), signed with the function's own credentials: the POST can do
what its policy allows and the signer's role allows (s3:PutObject on `incoming/*`), until the
earlier of its expiration and the expiry of those credentials. Signing calls nothing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from dogdetect.domain.models import PresignedPost

# The policy's expiration, as botocore writes it (whole seconds, UTC).
_EXPIRATION_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class S3PostPresigner:
    def __init__(self, client: Any, bucket: str) -> None:
        self._s3 = client  # signature version s3v4 (dogdetect.adapters.aws.aws_client)
        self.bucket = bucket

    def presign_post(self, key: str, max_bytes: int, expires_seconds: int) -> PresignedPost:
        # botocore adds the bucket and key conditions (exactly this key) and the SigV4 fields.
        signed = self._s3.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_seconds,
        )
        fields = {str(k): str(v) for k, v in signed["fields"].items()}
        return PresignedPost(str(signed["url"]), fields, policy_expiration(fields["policy"]))


def post_origin(endpoint_url: str | None, bucket: str, region: str) -> str:
    """The origin (scheme://host[:port]) the presigned POSTs of `bucket` go to, as
    `dogdetect.adapters.aws.aws_client` addresses them: an emulator's endpoint (path style),
    else the bucket's regional virtual host (commercial partition: amazonaws.com). The page
    may send photos there (its Content-Security-Policy's `connect-src`)."""
    if endpoint_url:
        parts = urlsplit(endpoint_url)
        return f"{parts.scheme}://{parts.netloc}"
    return f"https://{bucket}.s3.{region}.amazonaws.com"


def policy_expiration(policy: str) -> datetime:
    """The expiration a POST policy (base64 JSON) was signed with."""
    document = json.loads(base64.b64decode(policy))
    return datetime.strptime(document["expiration"], _EXPIRATION_FORMAT).replace(tzinfo=UTC)
