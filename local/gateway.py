"""The local API Gateway (HTTP API, payload 2.0): HTTP in, events to the real handlers, each
function in execution environments of its own (local/runtime.py), their responses back out.

What API Gateway answers by itself, it answers here the same way, as JSON {"message": ...}
with an `apigw-requestid` header: 413 for a request over the payload limit, 429 past the
template's throttling limits, 500 when the function fails or times out, 503 when the
integration takes longer than API Gateway waits. Every other answer is the function's."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from dogdetect.domain.limits import LAMBDA_PAYLOAD_LIMIT_BYTES

from local.events import http_api_event, match_route
from local.runtime import FunctionFailed, FunctionPool, FunctionTimeout, wait_all_ready
from local.template import Route, Throttle, default_route_function, functions, routes, throttle

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

access_log = logging.getLogger("local.gateway.access")
INTEGRATION_TIMEOUT_SECONDS = 30.0  # HTTP API's maximum integration timeout
# Execution environments per function, each serving one request at a time (Lambda gives every
# concurrent request one). A GET with Prefer: wait=N holds one of status's for up to 20 s,
# mostly asleep: status has more, or a few waiting clients would queue every other status
# request (health, docs, plain reads) behind them. Started on demand, so unused ones cost
# nothing. See docs/decisions.md.
DEFAULT_POOL_SIZE = 4
POOL_SIZES = {"status": 16}
# API Gateway reads a refused body to its end before answering, so a client that writes the
# whole body before reading (urllib) gets the 413 rather than a reset connection; past the
# HTTP API's own 10 MB limit a connection is closed anyway.
DRAIN_LIMIT_BYTES = 10 * 1024 * 1024
# A request body must keep pace: it may take BODY_GRACE_SECONDS plus one second per
# BODY_MIN_BYTES_PER_SECOND received, so a body trickled a byte at a time is cut off after
# about five seconds while an honest upload at 128 kbit/s or faster always finishes. The same
# on every request of a keep-alive connection (the deadline starts with each request's body).
BODY_GRACE_SECONDS = 5.0
BODY_MIN_BYTES_PER_SECOND = 16 * 1024
# After a request whose body never fully came, the connection cannot carry another request.
CLOSE_AFTER = {408: {"connection": "close"}}
GATEWAY_ANSWERS = {
    408: "Request Timeout",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Invoker(Protocol):
    def invoke(self, event: dict[str, Any]) -> Any: ...


@dataclass
class TokenBucket:
    """API Gateway's throttling: a steady rate with a burst allowance."""

    rate: float
    burst: int
    tokens: float = field(init=False)
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Gateway:
    def __init__(
        self,
        environments: Mapping[str, Mapping[str, str]],
        pool_size: int = DEFAULT_POOL_SIZE,
        limits: Throttle | None = None,
        timeouts: Mapping[str, float] | None = None,
        pools: Mapping[str, Invoker] | None = None,
    ) -> None:
        self.routes: tuple[Route, ...] = routes()
        self.default_function = default_route_function()  # the JSON 404 for unknown paths
        names = {r.function for r in self.routes} | {self.default_function}
        specs = functions(timeouts)
        self.pool_sizes = {name: POOL_SIZES.get(name, pool_size) for name in sorted(names)}
        self.pools: Mapping[str, Invoker] = pools or {
            name: FunctionPool(specs[name], environments[name], size=size)
            for name, size in self.pool_sizes.items()
        }
        self.integration_timeout = INTEGRATION_TIMEOUT_SECONDS
        self._threads = ThreadPoolExecutor(sum(self.pool_sizes.values()), "invoke")
        self._limits = limits or throttle()
        self._buckets: dict[str, TokenBucket] = {}

    def prewarm(self) -> None:
        wait_all_ready([p for p in self.pools.values() if isinstance(p, FunctionPool)])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id, started = str(uuid.uuid4()), time.monotonic()
        answered: dict[str, int] = {}

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send_recorded, request_id)
        finally:
            _log_access(scope, request_id, answered.get("status"), started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        try:
            body = await _read_body(receive, LAMBDA_PAYLOAD_LIMIT_BYTES)
        except IncompleteBody:
            # Nothing reaches a function: an upload cut short must store nothing. A client
            # still there is told so; one that left is not.
            await _gateway_answer(send, 408, request_id)
            return
        if body is None:
            await _gateway_answer(send, 413, request_id)
            return
        await self._dispatch(scope, body, request_id, send)

    def _throttled(self, route_key: str) -> bool:
        bucket = self._buckets.setdefault(
            route_key, TokenBucket(self._limits.rate_per_second, self._limits.burst)
        )
        return not bucket.take()

    async def _dispatch(self, scope: Scope, body: bytes, request_id: str, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        # API Gateway matches routes on the path as sent: an encoded slash stays in its segment.
        raw_path = scope.get("raw_path", b"").decode("latin-1") or path
        matched = match_route(self.routes, method, raw_path)
        params: dict[str, str] = {}
        route_key, function = "$default", self.default_function
        if matched is not None:
            route, raw_params = matched
            params = {name: unquote(value) for name, value in raw_params.items()}
            route_key, function = f"{route.method} {route.path}", route.function
        if self._throttled(route_key):
            await _gateway_answer(send, 429, request_id)
            return
        headers = _headers(scope)
        event = http_api_event(
            route_key=route_key,
            method=method,
            path=path,
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            path_parameters=params,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            host=headers.get("host", "127.0.0.1"),
            request_id=request_id,
            raw_path=raw_path,
        )
        if len(json.dumps(event)) > LAMBDA_PAYLOAD_LIMIT_BYTES:
            await _gateway_answer(send, 413, request_id)
            return
        loop = asyncio.get_running_loop()
        call = loop.run_in_executor(self._threads, self.pools[function].invoke, event)
        try:
            result = await asyncio.wait_for(asyncio.shield(call), self.integration_timeout)
        except TimeoutError:
            await _gateway_answer(send, 503, request_id)
            return
        except (FunctionFailed, FunctionTimeout):
            await _gateway_answer(send, 500, request_id)
            return
        await _send_lambda_response(send, result, request_id)

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        for pool in self.pools.values():
            if isinstance(pool, FunctionPool):
                pool.close()


def _log_access(scope: Scope, request_id: str, status: int | None, started: float) -> None:
    """One JSON line per request, in the template's access log format (AccessLogSettings).
    JSON escapes whatever the request carried: a CR/LF in a path cannot forge a line."""
    line = {
        "requestId": request_id,
        "ip": (scope.get("client") or ("", 0))[0],
        "method": scope["method"],
        "path": scope["path"],
        "status": str(status or ""),
        "latencyMs": str(round((time.monotonic() - started) * 1000)),
    }
    access_log.info(json.dumps(line, separators=(",", ":")))


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


class IncompleteBody(Exception):
    """The client went away or stalled before sending the body it announced."""


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when it is over the limit (read to its end all the same).
    IncompleteBody when the client leaves, or falls behind the pace the body must keep."""
    chunks, size = [], 0
    started = time.monotonic()
    while True:
        allowed = started + BODY_GRACE_SECONDS + size / BODY_MIN_BYTES_PER_SECOND
        try:
            message = await asyncio.wait_for(receive(), max(allowed - time.monotonic(), 0))
        except TimeoutError:
            raise IncompleteBody("the body fell behind its pace") from None
        if message["type"] == "http.disconnect":
            raise IncompleteBody("the client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False) or size > DRAIN_LIMIT_BYTES:
            return b"".join(chunks) if size <= limit else None


async def _gateway_answer(send: Send, status: int, request_id: str) -> None:
    body = json.dumps({"message": GATEWAY_ANSWERS[status]}, separators=(",", ":")).encode()
    await _send_lambda_response(
        send,
        {
            "statusCode": status,
            "headers": {"content-type": "application/json", **CLOSE_AFTER.get(status, {})},
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        },
        request_id,
    )


async def _send_lambda_response(send: Send, result: dict[str, Any], request_id: str) -> None:
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    headers["apigw-requestid"] = request_id
    raw = [(k.encode(), v.encode()) for k, v in headers.items() if k != "content-length"]
    raw += [(b"set-cookie", c.encode()) for c in result.get("cookies") or []]
    raw.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": int(result["statusCode"]), "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
