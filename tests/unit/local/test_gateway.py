"""The local gateway answers what API Gateway answers by itself as API Gateway does: JSON
{"message": ...} and an apigw-requestid header, for 413, 429, 500 and 503. Functions stand
in as plain objects here; tests/e2e drives the real ones over HTTP."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx
import pytest

from local.gateway import Gateway, TokenBucket
from local.runtime import FunctionFailed, FunctionTimeout
from local.template import Throttle, default_route_function, routes

NAMES = sorted({r.function for r in routes()} | {default_route_function()})
UNLIMITED = Throttle(rate_per_second=1000, burst=1000)


class Function:
    """Answers 200, or raises, or takes its time; keeps the events it got."""

    def __init__(self, fault: Exception | None = None, delay: float = 0.0) -> None:
        self.fault, self.delay = fault, delay
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        time.sleep(self.delay)
        if self.fault is not None:
            raise self.fault
        return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "fine"}


def ask(
    function: Function,
    requests: list[tuple[str, str, dict[str, Any]]],
    limits: Throttle = UNLIMITED,
) -> list[httpx.Response]:
    """Send the requests in order through a gateway whose every route is `function`."""
    gateway = Gateway({}, limits=limits, pools=dict.fromkeys(NAMES, function))
    gateway.integration_timeout = 0.5

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return [await client.request(m, path, **kw) for m, path, kw in requests]

    try:
        return asyncio.run(send_all())
    finally:
        gateway.close()


def assert_gateway_answer(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"message":"%s"}' % message.encode()
    assert response.headers["apigw-requestid"]


def test_a_request_over_the_payload_limit_is_413_and_reaches_no_function() -> None:
    function = Function()
    (response,) = ask(function, [("POST", "/image_prediction", {"content": b"x" * 6_300_000})])
    assert_gateway_answer(response, 413, "Request Entity Too Large")
    assert function.events == []


def test_past_the_burst_requests_are_429() -> None:
    burst_of_three = Throttle(rate_per_second=0.001, burst=3)
    answers = ask(Function(), [("GET", "/health", {})] * 5, burst_of_three)
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert_gateway_answer(answers[-1], 429, "Too Many Requests")


def test_tokens_come_back_at_the_steady_rate() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    assert bucket.take()
    assert not bucket.take()
    time.sleep(0.05)
    assert bucket.take()


@pytest.mark.parametrize("fault", [FunctionFailed("boom"), FunctionTimeout("Task timed out")])
def test_a_failed_or_timed_out_function_is_500(fault: Exception) -> None:
    (response,) = ask(Function(fault), [("GET", "/health", {})])
    assert_gateway_answer(response, 500, "Internal Server Error")


def test_an_integration_slower_than_the_gateway_waits_is_503() -> None:
    (response,) = ask(Function(delay=1.0), [("GET", "/health", {})])
    assert_gateway_answer(response, 503, "Service Unavailable")


def test_a_function_answer_is_passed_through_with_the_request_id() -> None:
    function = Function()
    (response,) = ask(function, [("GET", "/health", {})])
    assert response.status_code == 200
    assert response.text == "fine"
    assert response.headers["apigw-requestid"] == function.events[0]["requestContext"]["requestId"]


def test_bytes_that_are_not_utf8_reach_the_function_base64_encoded() -> None:
    function = Function()
    as_text = {"content-type": "text/plain"}
    ask(
        function,
        [
            ("POST", "/image_prediction", {"content": b"\xff\xfe", "headers": as_text}),
            ("POST", "/image_prediction", {"content": b"hello", "headers": as_text}),
        ],
    )
    binary, text = function.events
    assert binary["isBase64Encoded"]
    assert base64.b64decode(binary["body"]) == b"\xff\xfe"
    assert not text["isBase64Encoded"]
    assert text["body"] == "hello"
