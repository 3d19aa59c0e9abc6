"""What the local gateway answers by itself, over HTTP, as API Gateway's HTTP API does: JSON
{"message": ...} bodies for 413 and 429 (the template's throttling), and bytes that are not
UTF-8 reaching the function base64-encoded (a JSON 4xx, never a crash). Hostile HTTP gets JSON
and bounded waits, and an upload cut short stores nothing."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from dogdetect.adapters.aws import aws_client
from dogdetect.config import Settings

from local.http_protocol import HEADER_TIMEOUT_SECONDS
from local.launcher import RunningStack
from local.template import throttle
from tests.conftest import eventually, submit, wait_terminal
from tests.photos import photo


def test_a_client_that_writes_the_whole_body_first_gets_the_413(stack: RunningStack) -> None:
    # urllib sends the entire body before it reads a byte of the answer.
    request = urllib.request.Request(
        f"{stack.api_url}/image_prediction",
        data=b"\0" * 7_000_000,
        method="POST",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as answer:
        assert answer.code == 413
        assert json.loads(answer.read()) == {"message": "Request Entity Too Large"}
        assert answer.headers["apigw-requestid"]
    else:
        raise AssertionError("a 7 MB request was accepted")


def test_past_the_templates_burst_the_gateway_answers_429(api: httpx.Client) -> None:
    limits = throttle()
    requests = limits.burst + 2 * int(limits.rate_per_second) + 20
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: api.get("/no-such-route"), range(requests)))
    statuses = {a.status_code for a in answers}
    assert statuses == {404, 429}, statuses
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.json() == {"message": "Too Many Requests"}
    time.sleep(limits.burst / limits.rate_per_second)  # the bucket refills for the next tests


def test_bytes_that_are_not_utf8_get_a_json_client_error(api: httpx.Client) -> None:
    for path in ("/image_prediction", "/image_prediction/x", "/health"):
        response = api.post(path, content=b"\xff\xfe", headers={"content-type": "text/plain"})
        assert 400 <= response.status_code < 500, (path, response.text)
        assert response.headers["content-type"].startswith("application/json")


# --- hostile HTTP: JSON answers, bounded waits, nothing stored from a cut-short upload ------


def raw_exchange(stack: RunningStack, request: bytes, wait: float = 15) -> bytes:
    """Send raw bytes, then read until the server closes (or `wait` passes)."""
    port = int(stack.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as connection:
        connection.sendall(request)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                answer += chunk
    return answer


def json_body(answer: bytes) -> Any:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /image_prediction HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST /image_prediction HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n",
        b"GARBAGE\r\n\r\n",
    ],
    ids=["negative-length", "bad-chunk-size", "nul-in-header", "no-request-line"],
)
def test_malformed_http_gets_a_json_400(stack: RunningStack, request_bytes: bytes) -> None:
    answer = raw_exchange(stack, request_bytes)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"content-type: application/json" in answer.lower()
    assert json_body(answer) == {"message": "Bad Request"}


def test_headers_never_finished_are_answered_408_within_seconds(stack: RunningStack) -> None:
    started = time.monotonic()
    answer = raw_exchange(stack, b"GET /health HTTP/1.1\r\nHost: x\r\n", wait=30)
    assert time.monotonic() - started < HEADER_TIMEOUT_SECONDS + 5
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert json_body(answer) == {"message": "Request Timeout"}


def test_an_upload_cut_short_stores_nothing(stack: RunningStack, stack_settings: Settings) -> None:
    s3 = aws_client("s3", stack_settings.aws_endpoint_url, stack_settings.aws_region)
    before = stored_uploads(s3, stack_settings.bucket_name)
    boundary = "cutshort"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="d.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo("dog.jpg")
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /image_prediction HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body) + 500}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n"
    ).encode()
    port = int(stack.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(head + body)  # 500 bytes short of what it announced, then gone
    # Waiting for something not to happen: a submit stores its object within milliseconds.
    time.sleep(2)
    assert stored_uploads(s3, stack_settings.bucket_name) == before


def test_a_stalled_body_is_answered_408(stack: RunningStack) -> None:
    head = b"POST /image_prediction HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    answer = raw_exchange(stack, head + b"x" * 10, wait=TRICKLE_GIVES_UP_SECONDS)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert json_body(answer) == {"message": "Request Timeout"}


# Each case trickles its request a byte a second. Without a deadline it would run its course
# (headers finished, body complete) and get an answer other than 408.
SLOW_HEADERS = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n"
SLOW_BODY = b"POST /image_prediction HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n"
TRICKLE_GIVES_UP_SECONDS = 90  # far past every deadline: only a server that never cuts waits


@pytest.mark.parametrize("earlier_requests", [0, 1, 3], ids=["first", "second", "fourth"])
@pytest.mark.parametrize("part", ["headers", "body"])
def test_every_request_on_a_connection_has_the_same_deadlines(
    stack: RunningStack, earlier_requests: int, part: str
) -> None:
    port = int(stack.api_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        for _ in range(earlier_requests):  # quick requests first, on the same connection
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_one_answer(connection).startswith(b"HTTP/1.1 200 ")
        if part == "headers":
            answer = trickle(connection, SLOW_HEADERS)
        else:
            connection.sendall(SLOW_BODY)  # the headers at once, then the body a byte a second
            answer = trickle(connection, b"x" * 60)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"content-type: application/json" in answer.lower()
    assert json_body(answer) == {"message": "Request Timeout"}


def trickle(connection: socket.socket, data: bytes) -> bytes:
    """Send `data` a byte a second until the server answers; then read to the close."""
    connection.settimeout(1)
    answer = b""
    for index in range(len(data) + TRICKLE_GIVES_UP_SECONDS):
        # Not a byte once the server has begun to answer: the server would reset the connection.
        answered = answer or select.select([connection], [], [], 0)[0]
        if index < len(data) and not answered:
            connection.sendall(data[index : index + 1])
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return answer
        answer += chunk
    return answer


def read_one_answer(connection: socket.socket) -> bytes:
    """One keep-alive answer: its head and Content-Length bytes of body."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head, body = answer.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return answer


@pytest.mark.parametrize("path", ["/health/", "/image_prediction/"])
def test_no_redirect_is_built_from_the_host_header(api: httpx.Client, path: str) -> None:
    response = api.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404, response.headers
    assert "location" not in response.headers
    assert response.json()["detail"].startswith(f"no route GET {path} (leave out the trailing")


def stored_uploads(s3: Any, bucket: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="uploads/", MaxKeys=1000)
    assert not listed["IsTruncated"]
    return {o["Key"] for o in listed.get("Contents", [])}


FORGED_EVENT = '{"level":"INFO","message":"forged by a client"}'


def test_request_data_with_line_breaks_cannot_forge_a_log_line(
    stack: RunningStack, api: httpx.Client
) -> None:
    crlf = "%0d%0a"
    response = api.get(f"/image_prediction/x{crlf}{FORGED_EVENT}{crlf}")
    assert response.status_code == 404
    request_id = response.headers["apigw-requestid"]

    def access_line() -> str | None:
        lines = (stack.state_dir / "stack.log").read_text(errors="replace").splitlines()
        return next((line for line in lines if request_id in line), None)

    line = eventually(access_line, 10, what="the request's access log line")
    logged = json.loads(line[line.index("{") :])  # after the local timestamp and logger name
    assert logged["path"] == f"/image_prediction/x\r\n{FORGED_EVENT}\r\n"
    assert logged["status"] == "404"
    for name in ("stack.log", "poller.log"):
        for text in (stack.state_dir / name).read_text(errors="replace").splitlines():
            assert not text.startswith(FORGED_EVENT), name


@pytest.mark.parametrize("slash", ["%2F", "%2f"])
def test_an_encoded_slash_is_not_a_path_separator(api: httpx.Client, slash: str) -> None:
    submitted = submit(api, photo("dog.jpg"), "dog.jpg")
    prediction_id = submitted.json()["image_prediction_id"]
    assert wait_terminal(api, prediction_id)["status"] == "DONE"
    assert api.get(f"/image_prediction/{prediction_id}/annotated").status_code == 200

    response = api.get(f"/image_prediction/{prediction_id}{slash}annotated")
    assert str(response.request.url).endswith(f"{slash}annotated")  # sent as written
    assert response.status_code == 404, response.headers
    assert response.headers["content-type"] == "application/json"
