"""A missing object answers as S3 answers it: 404 only to a caller who may list the bucket.

S3 answers a GET or HEAD of a key that does not exist with 404 (NoSuchKey) when the caller has
s3:ListBucket on the bucket, and with 403 (AccessDenied) when it does not, so that whoever may
not list a bucket cannot learn which keys are absent from it (AWS's HeadObject and GetObject
pages: "If you don't have the s3:ListBucket permission, Amazon S3 returns an HTTP status code
403"). moto answers 404 to anyone it lets read. This WSGI middleware, in front of moto, turns
that 404 into S3's 403 when the signer's IAM policies (moto's own evaluation) do not allow
s3:ListBucket on the bucket: a role the cloud would answer 403 is answered 403 here too.

Path-style requests only (what botocore sends to an endpoint given by IP address)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

from local.s3_post import Refused, moto_permits

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# SigV4's credential scope, in the Authorization header or a presigned URL's query:
# <access key>/<date>/<region>/s3/aws4_request
_CREDENTIAL = re.compile(r"Credential=([^/,\s&]+)/[^/]+/[^/]+/s3/aws4_request")


def object_read(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, the signer's access key) of a signed GET or HEAD of an object, else None."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return None
    signed = unquote(environ.get("HTTP_AUTHORIZATION", "") + " " + environ.get("QUERY_STRING", ""))
    found = _CREDENTIAL.search(signed.replace("X-Amz-Credential=", "Credential="))
    bucket, _, key = unquote(environ.get("PATH_INFO", "")).lstrip("/").partition("/")
    if found is None or not bucket or not key:
        return None
    return bucket, found.group(1)


class MissingObjects:
    """`bucket_exists(bucket)`: the bucket is there (a missing bucket stays 404, NoSuchBucket,
    as in S3); `may_list(access key, bucket ARN)`: the signer's policies allow s3:ListBucket."""

    def __init__(
        self,
        app: WsgiApp,
        bucket_exists: Callable[[str], bool],
        may_list: Callable[[str, str], bool],
    ) -> None:
        self.app, self.bucket_exists, self.may_list = app, bucket_exists, may_list

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        read = object_read(environ)
        if read is None:
            return self.app(environ, start_response)
        answer: list[Any] = []
        written: list[bytes] = []

        def held(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers, exc_info]
            return written.append

        body = list(self.app(environ, held))  # moto's answer, held until it is judged
        bucket, access_key = read
        if (
            answer[0].startswith("404")
            and self.bucket_exists(bucket)
            and not self.may_list(access_key, f"arn:aws:s3:::{bucket}")
        ):
            denied = Refused(403, "AccessDenied", "Access Denied").response()
            return denied(environ, start_response)  # a HEAD's body is left out by werkzeug
        start_response(*answer)
        return [*written, *body]


def moto_may_list(access_key: str, bucket_arn: str) -> bool:
    """Whether the moto IAM user holding `access_key` may s3:ListBucket on `bucket_arn`."""
    return moto_permits(access_key, "s3:ListBucket", bucket_arn)


def moto_bucket_exists(backend: Callable[[], Any]) -> Callable[[str], bool]:
    def exists(bucket: str) -> bool:
        return bucket in backend().buckets

    return exists
