"""S3 presigned POSTs (browser-based uploads) on the local moto server, checked as S3 checks them.

moto's server cannot take one while IAM is enforced: its check reads an Authorization header,
which a form POST does not have (it answers 500). Nor does moto read the POST's policy: its
expiration and conditions (content-length-range included) go unchecked. So this WSGI
middleware answers a multipart POST to a bucket itself, before moto: a SigV4 signature over
the policy with the signer's secret, the policy's expiration, every condition, no form field
the policy does not name, and the signer's own IAM permission (s3:PutObject on the key, by
moto's policy evaluation). The object is then stored through moto's backend, which sends the
bucket's event notifications as for any other upload (`ObjectCreated:Post`).

Only SigV4 (`x-amz-algorithm: AWS4-HMAC-SHA256`): what `dogdetect.adapters.presign` makes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from werkzeug.formparser import parse_form_data
from werkzeug.wrappers import Response

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
ALGORITHM = "AWS4-HMAC-SHA256"
# Fields S3 does not want a policy condition for.
_UNSIGNED_FIELDS = {"policy", "x-amz-signature", "file"}
_SUCCESS_STATUSES = {"200", "201", "204"}


class Refused(Exception):
    """The answer S3 gives to a POST it refuses."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            "</Error>"
        )
        return Response(body, status=self.status, content_type="application/xml")


@dataclass(frozen=True)
class Signer:
    """Who signed a POST: their secret key and what their IAM policies allow."""

    secret_key: str
    may_put: Callable[[str], bool]  # the object's ARN -> s3:PutObject allowed


def upload_bucket(environ: Mapping[str, Any]) -> str | None:
    """The bucket a request is a form upload to (path style: POST /<bucket>), else None."""
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING"):
        return None
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    bucket = str(environ.get("PATH_INFO", "")).strip("/")
    return bucket if bucket and "/" not in bucket else None


def signature(secret_key: str, date: str, region: str, policy: str) -> str:
    """SigV4 of a POST policy: HMAC-SHA256 of the base64 policy with the derived signing key."""
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()


def check_post(
    bucket: str,
    fields: Mapping[str, str],
    size: int,
    signer_of: Callable[[str], Signer | None],
    now: datetime,
) -> None:
    """Raise `Refused` as S3 would for this POST of `size` bytes; `fields` by lowercase name."""
    signer = _check_signature(fields, signer_of)
    policy = _policy(fields["policy"])
    if now >= _expiration(policy):
        raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    named = _check_conditions(policy.get("conditions", []), {**fields, "bucket": bucket}, size)
    extra = sorted(
        name
        for name in fields
        if name not in _UNSIGNED_FIELDS | named and not name.startswith("x-ignore-")
    )
    if extra:
        raise Refused(
            403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {extra[0]}"
        )
    if not signer.may_put(f"arn:aws:s3:::{bucket}/{fields['key']}"):
        raise Refused(403, "AccessDenied", "Access Denied")


def _check_signature(
    fields: Mapping[str, str], signer_of: Callable[[str], Signer | None]
) -> Signer:
    missing = [
        name
        for name in ("key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-signature")
        if name not in fields
    ]
    if missing:
        raise Refused(400, "InvalidArgument", f"POST requires the field {missing[0]}")
    if fields["x-amz-algorithm"] != ALGORITHM:
        raise Refused(400, "InvalidArgument", f"only {ALGORITHM} is supported here")
    scope = fields["x-amz-credential"].split("/")  # key/date/region/s3/aws4_request
    if len(scope) != 5 or scope[3:] != ["s3", "aws4_request"]:
        raise Refused(400, "InvalidArgument", "malformed x-amz-credential")
    access_key, date, region = scope[:3]
    signer = signer_of(access_key)
    if signer is None:
        raise Refused(403, "InvalidAccessKeyId", "The AWS Access Key Id does not exist")
    expected = signature(signer.secret_key, date, region, fields["policy"])
    if not hmac.compare_digest(expected, fields["x-amz-signature"]):
        raise Refused(403, "SignatureDoesNotMatch", "The request signature does not match")
    return signer


def _policy(encoded: str) -> dict[str, Any]:
    try:
        policy = json.loads(base64.b64decode(encoded, validate=True))
    except ValueError as exc:
        raise Refused(400, "InvalidPolicyDocument", "the policy is not base64 JSON") from exc
    if not isinstance(policy, dict):
        raise Refused(400, "InvalidPolicyDocument", "the policy is not a JSON object")
    return policy


def _expiration(policy: Mapping[str, Any]) -> datetime:
    text = str(policy.get("expiration", ""))
    for layout in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise Refused(400, "InvalidPolicyDocument", "the policy's expiration is missing or malformed")


def _check_conditions(conditions: list[Any], values: Mapping[str, str], size: int) -> set[str]:
    """Check each condition; the field names they cover."""
    named: set[str] = set()
    for condition in conditions:
        if isinstance(condition, dict) and len(condition) == 1:
            ((name, value),) = condition.items()
            condition = ["eq", f"${name}", value]
        if not isinstance(condition, list) or len(condition) != 3:
            raise Refused(400, "InvalidPolicyDocument", f"unknown condition {condition!r}")
        operator, subject, expected = condition
        if operator == "content-length-range":
            _check_size(size, int(subject), int(expected))
            continue
        name = str(subject).lstrip("$").lower()
        actual = values.get(name, "")
        if operator == "eq":
            holds = actual == str(expected)
        elif operator == "starts-with":
            holds = actual.startswith(str(expected))
        else:
            raise Refused(400, "InvalidPolicyDocument", f"unknown condition {operator!r}")
        if not holds:
            raise Refused(
                403,
                "AccessDenied",
                f'Invalid according to Policy: Policy Condition failed: ["{operator}", '
                f'"${name}", "{expected}"]',
            )
        named.add(name)
    return named


def _check_size(size: int, least: int, most: int) -> None:
    if size > most:
        raise Refused(
            400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"
        )
    if size < least:
        raise Refused(
            400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"
        )


# The bucket's CORS rules for a POST from a page: (bucket, Origin) -> the
# Access-Control-Allow-Origin S3 answers with, None when no rule allows it.
CorsOrigin = Callable[[str, str], str | None]


def no_cors(bucket: str, origin: str) -> str | None:
    return None


class PresignedPosts:
    """The middleware. `store(bucket, key, data)` writes the object (moto's backend) and raises
    KeyError for a bucket that does not exist; `signer_of(access key)` finds the signer;
    `cors_origin` answers a page's POST as the bucket's CORS rules say (as S3 does, refusals
    included: the rules decide whether the page may read the answer, not whether it is
    stored)."""

    def __init__(
        self,
        app: WsgiApp,
        store: Callable[[str, str, bytes], str],
        signer_of: Callable[[str], Signer | None],
        cors_origin: CorsOrigin = no_cors,
    ) -> None:
        self.app, self.store, self.signer_of = app, store, signer_of
        self.cors_origin = cors_origin

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        bucket = upload_bucket(environ)
        if bucket is None:
            return self.app(environ, start_response)
        try:
            response = self._upload(environ, bucket)
        except Refused as refused:
            response = refused.response()
        origin = environ.get("HTTP_ORIGIN")
        allowed = self.cors_origin(bucket, str(origin)) if origin else None
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            response.headers["Vary"] = "Origin"
        return response(environ, start_response)

    def _upload(self, environ: dict[str, Any], bucket: str) -> Response:
        _, form, files = parse_form_data(environ)
        fields = {name.lower(): value for name, value in form.items()}
        upload = files.get("file")
        if upload is None:
            raise Refused(400, "InvalidArgument", "POST requires exactly one file upload")
        data = upload.read()
        check_post(bucket, fields, len(data), self.signer_of, datetime.now(UTC))
        try:
            etag = self.store(bucket, fields["key"], data)
        except KeyError as exc:
            raise Refused(404, "NoSuchBucket", "The specified bucket does not exist") from exc
        status = fields.get("success_action_status", "204")
        return Response(
            status=int(status) if status in _SUCCESS_STATUSES else 204,
            headers={"ETag": etag, "Location": f"/{bucket}/{fields['key']}"},
        )


def _moto_holder(access_key: str) -> Any:
    """The moto IAM identity holding `access_key`, or None."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

    try:
        return create_access_key(DEFAULT_ACCOUNT_ID, "aws", access_key, {})
    except CreateAccessKeyFailure:
        return None


def _permitted(policies: list[Any], action: str, arn: str) -> bool:
    """moto's own evaluation: some statement allows `action` on `arn` and none denies it."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    results = [IAMPolicy(p).is_action_permitted(action, arn) for p in policies]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def moto_permits(access_key: str, action: str, arn: str) -> bool:
    """Whether the moto IAM identity holding `access_key` may do `action` on `arn`."""
    holder = _moto_holder(access_key)
    return holder is not None and _permitted(holder.collect_policies(), action, arn)


def moto_signer(access_key: str) -> Signer | None:
    """The moto IAM user holding `access_key`, with its policies (moto's own evaluation)."""
    holder = _moto_holder(access_key)
    if holder is None:
        return None
    policies = holder.collect_policies()

    def may_put(arn: str) -> bool:
        return _permitted(policies, "s3:PutObject", arn)

    return Signer(holder.create_credentials().secret_key, may_put)


def moto_cors(backend: Callable[[], Any]) -> CorsOrigin:
    """The bucket's CORS rules in moto's backend (PutBucketCors), matched as moto matches
    them: `*` for a rule open to every origin, else the origin itself."""
    from moto.s3.utils import cors_matches_origin

    def allowed(bucket: str, origin: str) -> str | None:
        found = backend().buckets.get(bucket)
        for rule in found.cors if found is not None else []:
            if "POST" in (rule.allowed_methods or []) and cors_matches_origin(
                origin, rule.allowed_origins or []
            ):
                return "*" if "*" in rule.allowed_origins else origin
        return None

    return allowed


def moto_store(
    backend: Callable[[], Any], stored: Callable[[str, str], None]
) -> Callable[[str, str, bytes], str]:
    """Store through moto's S3 backend as its own POST handler does (notifications included),
    then tell `stored` (the server's disk mirror)."""

    def store(bucket: str, key: str, data: bytes) -> str:
        s3 = backend()
        if bucket not in s3.buckets:
            raise KeyError(bucket)
        etag = str(s3.put_object(bucket, key, data, request_method="POST").etag)
        stored(bucket, key)
        return etag

    return store
