"""Build the events AWS sends: API Gateway HTTP API (payload 2.0) and SQS batches."""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local.template import Route

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")
ACCOUNT_ID = "000000000000"


def match_route(
    routes: Iterable[Route], method: str, path: str
) -> tuple[Route, dict[str, str]] | None:
    for route in routes:
        if route.method != method:
            continue
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", route.path) + "$"
        found = re.match(pattern, path)
        if found:
            return route, found.groupdict()
    return None


def http_api_event(
    *,
    route_key: str,
    method: str,
    path: str,
    query_string: str,
    headers: Mapping[str, str],
    body: bytes,
    path_parameters: Mapping[str, str],
    source_ip: str,
    host: str,
    request_id: str | None = None,
    raw_path: str | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event. `path` is decoded, as API Gateway's
    `requestContext.http.path`; `raw_path` is as the client sent it (`rawPath`)."""
    now = datetime.now(UTC)
    text = _as_text(body, headers.get("content-type", ""))
    query = dict(parse_qsl(query_string, keep_blank_values=True))
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path or path,
        "rawQueryString": query_string,
        "headers": dict(headers),
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": bool(body) and text is None,
    }
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if "cookie" in headers:
        event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
    if body:
        event["body"] = base64.b64encode(body).decode() if text is None else text
    return event


def _as_text(body: bytes, content_type: str) -> str | None:
    """The body as text when its type is textual and it decodes; else None (base64), as API
    Gateway does: bytes that are not UTF-8 never reach a function as a broken string."""
    if not any(content_type.startswith(t) for t in _TEXT_TYPES):
        return None
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


def sqs_event(messages: Iterable[Mapping[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends, from ReceiveMessage results."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m["Attributes"]["ApproximateReceiveCount"],
                    "SentTimestamp": m["Attributes"].get(
                        "SentTimestamp", str(int(time.time() * 1000))
                    ),
                    "SenderId": m["Attributes"].get("SenderId", ACCOUNT_ID),
                    "ApproximateFirstReceiveTimestamp": m["Attributes"].get(
                        "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
                    ),
                },
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody")
                or hashlib.md5(m["Body"].encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }
