"""The local API Gateway: HTTP in, API Gateway HTTP API (2.0) events to the real handlers,
their responses back out. Requests over Lambda's payload limit are refused as in the cloud."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from dogdetect.settings import LAMBDA_PAYLOAD_LIMIT_BYTES

from local.config import Route
from local.events import http_api_event, match_route
from local.functions import invoke, load_function
from local.template import default_route_function, routes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_TIMEOUT_SECONDS = 29.0  # API Gateway's integration timeout
DOCS_HTML = """<!doctype html><html><head><title>dog-detector API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head><body><div id="ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script></body></html>"""


def _new_loop_per_thread() -> None:
    # Mangum drives the ASGI app on the thread's event loop; worker threads have none.
    asyncio.set_event_loop(asyncio.new_event_loop())


def merged_openapi(modules: dict[str, ModuleType]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "dog-detector", "version": "1.0.0"},
        "paths": {},
        "components": {"schemas": {}},
    }
    for module in modules.values():
        part = module.app.openapi()
        spec["paths"].update(part.get("paths", {}))
        spec["components"]["schemas"].update(part.get("components", {}).get("schemas", {}))
    return spec


class Gateway:
    def __init__(self, concurrency: int = 32) -> None:
        self.routes: tuple[Route, ...] = routes()
        self.default_function = default_route_function()  # the JSON 404 for unknown paths
        names = {r.function for r in self.routes} | {self.default_function}
        self.functions = {name: load_function(name) for name in sorted(names)}
        self._pool = ThreadPoolExecutor(concurrency, "lambda", initializer=_new_loop_per_thread)
        self._openapi = json.dumps(merged_openapi(self.functions)).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if method == "GET" and path == "/openapi.json":
            await _respond(send, 200, {"content-type": "application/json"}, self._openapi)
            return
        if method == "GET" and path == "/docs":
            await _respond(send, 200, {"content-type": "text/html"}, DOCS_HTML.encode())
            return
        body = await _read_body(receive, LAMBDA_PAYLOAD_LIMIT_BYTES)
        if body is None:
            await _too_large(send)
            return
        await self._dispatch(scope, method, path, body, send)

    async def _dispatch(
        self, scope: Scope, method: str, path: str, body: bytes, send: Send
    ) -> None:
        matched = match_route(self.routes, method, path)
        params: dict[str, str] = {}
        route_key, function = "$default", self.default_function
        if matched is not None:
            route, params = matched
            route_key, function = f"{route.method} {route.path}", route.function
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
        )
        if len(json.dumps(event)) > LAMBDA_PAYLOAD_LIMIT_BYTES:
            await _too_large(send)
            return
        loop = asyncio.get_running_loop()
        module = self.functions[function]
        result = await loop.run_in_executor(
            self._pool, invoke, module, function, event, API_TIMEOUT_SECONDS
        )
        await _send_lambda_response(send, result)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _too_large(send: Send) -> None:
    detail = {"detail": f"request larger than the {LAMBDA_PAYLOAD_LIMIT_BYTES}-byte payload limit"}
    await _respond(send, 413, {"content-type": "application/json"}, json.dumps(detail).encode())


async def _send_lambda_response(send: Send, result: dict[str, Any]) -> None:
    body = result.get("body") or ""
    payload = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    raw = [(k.encode(), v.encode()) for k, v in headers.items() if k != "content-length"]
    raw += [(b"set-cookie", c.encode()) for c in result.get("cookies") or []]
    raw.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": int(result["statusCode"]), "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    await _send_lambda_response(
        send,
        {
            "statusCode": status,
            "headers": headers,
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        },
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
