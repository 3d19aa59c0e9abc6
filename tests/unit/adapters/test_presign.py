"""The presigned POST the submit function signs (botocore, no network), and the local stack's
check of such POSTs (local/s3_post.py), each against the other: what one signs, the other
accepts, and any change to it is refused as S3 refuses it."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from dogdetect.adapters.aws import aws_client
from dogdetect.adapters.presign import S3PostPresigner, post_origin
from dogdetect.domain.models import PresignedPost
from moto import mock_aws
from werkzeug.test import Client
from werkzeug.wrappers import Response

from local.s3_post import (
    CorsOrigin,
    PresignedPosts,
    Refused,
    Signer,
    check_post,
    moto_cors,
    no_cors,
    upload_bucket,
)

ACCESS_KEY, SECRET_KEY = "AKIAEXAMPLEKEY000001", "secret/example+key"
BUCKET, KEY, LIMIT, SECONDS = "dogdetect-uploads", "incoming/3f2b1c0d", 1000, 900


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


@pytest.fixture
def post(credentials: None) -> PresignedPost:
    client = aws_client("s3", "http://127.0.0.1:4566", "us-east-1")
    return S3PostPresigner(client, BUCKET).presign_post(KEY, LIMIT, SECONDS)


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-4", "us-east-1"])
def test_in_aws_the_post_goes_to_the_buckets_regional_virtual_host(
    credentials: None, region: str
) -> None:
    """S3's global address (`<bucket>.s3.amazonaws.com`, botocore's default for a presigned
    POST) answers a new bucket outside us-east-1 with a 307 for hours, which a form POST does
    not follow, and regions opened since 2019 refuse it: the POST names the bucket's region."""
    client = aws_client("s3", None, region)
    post = S3PostPresigner(client, BUCKET).presign_post(KEY, LIMIT, SECONDS)
    assert post.url == f"https://{BUCKET}.s3.{region}.amazonaws.com/"
    assert f"/{region}/s3/aws4_request" in post.fields["x-amz-credential"]
    assert post.url == post_origin(None, BUCKET, region) + "/"  # the page's connect-src


def policy_of(post: PresignedPost) -> dict[str, object]:
    document: dict[str, object] = json.loads(base64.b64decode(post.fields["policy"]))
    return document


def test_sigv4_post_to_the_endpoint_the_client_sees(post: PresignedPost) -> None:
    assert post.url == f"http://127.0.0.1:4566/{BUCKET}"
    assert post.url.startswith(post_origin("http://127.0.0.1:4566/", BUCKET, "us-east-1") + "/")
    assert post.fields["key"] == KEY
    assert post.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # not SigV2's AWSAccessKeyId
    assert post.fields["x-amz-credential"].startswith(f"{ACCESS_KEY}/")
    assert "AWSAccessKeyId" not in post.fields


def test_the_policy_limits_key_size_and_time(post: PresignedPost) -> None:
    policy = policy_of(post)
    conditions = policy["conditions"]
    assert isinstance(conditions, list)
    assert ["content-length-range", 1, LIMIT] in conditions
    assert {"bucket": BUCKET} in conditions and {"key": KEY} in conditions  # exactly this key
    expected = datetime.now(UTC) + timedelta(seconds=SECONDS)
    assert abs((post.expires_at - expected).total_seconds()) < 5
    assert policy["expiration"] == post.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def signer(allowed: str = f"arn:aws:s3:::{BUCKET}/incoming/") -> object:
    return lambda key: (
        Signer(SECRET_KEY, lambda arn: arn.startswith(allowed)) if key == ACCESS_KEY else None
    )


def check(post: PresignedPost, size: int = 10, **changes: str) -> None:
    fields = {**post.fields, **changes}
    check_post(BUCKET, fields, size, signer(), datetime.now(UTC))  # type: ignore[arg-type]


def test_what_botocore_signs_the_local_check_accepts(post: PresignedPost) -> None:
    check(post, size=1)
    check(post, size=LIMIT)


@pytest.mark.parametrize(
    ("size", "changes", "code"),
    [
        (LIMIT + 1, {}, "EntityTooLarge"),
        (0, {}, "EntityTooSmall"),
        (10, {"key": "incoming/another"}, "AccessDenied"),  # a condition fails
        (10, {"acl": "public-read"}, "AccessDenied"),  # a field the policy does not name
        (10, {"x-amz-signature": "0" * 64}, "SignatureDoesNotMatch"),
        (
            10,
            {"x-amz-credential": "AKIAUNKNOWN/20261129/us-east-1/s3/aws4_request"},
            "InvalidAccessKeyId",
        ),
        (10, {"x-amz-algorithm": "AWS4-HMAC-SHA1"}, "InvalidArgument"),
    ],
)
def test_the_local_check_refuses_as_s3_does(
    post: PresignedPost, size: int, changes: dict[str, str], code: str
) -> None:
    with pytest.raises(Refused) as refused:
        check(post, size, **changes)
    assert refused.value.code == code


def test_an_expired_post_is_refused(post: PresignedPost) -> None:
    later = post.expires_at + timedelta(seconds=1)
    with pytest.raises(Refused, match="Policy expired"):
        check_post(BUCKET, post.fields, 10, signer(), later)  # type: ignore[arg-type]


def test_the_signers_own_permission_is_needed(post: PresignedPost) -> None:
    only_uploads = signer(f"arn:aws:s3:::{BUCKET}/uploads/")
    with pytest.raises(Refused) as refused:
        check_post(BUCKET, post.fields, 10, only_uploads, datetime.now(UTC))  # type: ignore[arg-type]
    assert (refused.value.status, refused.value.code) == (403, "AccessDenied")


@pytest.mark.parametrize(
    ("method", "path", "query", "content_type", "bucket"),
    [
        ("POST", "/dogdetect-uploads", "", "multipart/form-data; boundary=x", "dogdetect-uploads"),
        ("POST", "/dogdetect-uploads/", "", "multipart/form-data; boundary=x", "dogdetect-uploads"),
        ("POST", "/dogdetect-uploads", "delete", "multipart/form-data; boundary=x", None),
        ("POST", "/dogdetect-uploads/key", "", "multipart/form-data; boundary=x", None),
        ("PUT", "/dogdetect-uploads", "", "multipart/form-data; boundary=x", None),
        ("POST", "/", "", "application/x-www-form-urlencoded", None),  # SQS, IAM
    ],
)
def test_only_form_uploads_to_a_bucket_are_taken_from_moto(
    method: str, path: str, query: str, content_type: str, bucket: str | None
) -> None:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": content_type,
    }
    assert upload_bucket(environ) == bucket


PAGE = "http://127.0.0.1:8080"


def posted(post: PresignedPost, cors_origin: CorsOrigin, size: int) -> Response:
    """A page's POST (an Origin header) through the local middleware, stored nowhere."""
    stored: list[str] = []

    def store(bucket: str, key: str, data: bytes) -> str:
        stored.append(key)
        return '"etag"'

    app = PresignedPosts(lambda e, s: [], store, signer(), cors_origin)  # type: ignore[arg-type]
    form = {**post.fields, "file": (io.BytesIO(b"x" * size), "photo.jpg")}
    response = Client(app).post(f"/{BUCKET}", data=form, headers={"Origin": PAGE})
    assert len(stored) == (response.status_code == 204)
    return response


@pytest.mark.parametrize("size", [10, LIMIT + 1])
def test_the_bucket_cors_rules_let_the_page_read_the_answer(post: PresignedPost, size: int) -> None:
    """As S3: the rules decide whether the page may read the answer (the photo stored, or why
    not), not whether the photo is stored."""
    opened = posted(post, lambda bucket, origin: "*" if bucket == BUCKET else None, size)
    assert opened.status_code == (204 if size <= LIMIT else 400)
    assert opened.headers["Access-Control-Allow-Origin"] == "*"
    closed = posted(post, no_cors, size)
    assert closed.status_code == opened.status_code
    assert "Access-Control-Allow-Origin" not in closed.headers


def test_the_local_bucket_answers_as_its_rules_in_moto_say(credentials: None) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    with mock_aws():
        s3 = aws_client("s3", None, "us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        allowed = moto_cors(lambda: s3_backends[DEFAULT_ACCOUNT_ID]["aws"])
        assert allowed(BUCKET, PAGE) is None  # no rules: no CORS
        rules = [{"AllowedMethods": ["POST"], "AllowedOrigins": [PAGE]}]
        s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": rules})
        assert allowed(BUCKET, PAGE) == PAGE
        assert allowed(BUCKET, "http://elsewhere.example") is None
        rules = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]}]
        s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": rules})
        assert allowed(BUCKET, PAGE) is None  # a rule for another method
        rules = [{"AllowedMethods": ["POST"], "AllowedOrigins": ["*"]}]
        s3.put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": rules})
        assert allowed(BUCKET, PAGE) == "*"
        assert allowed("another-bucket", PAGE) is None
