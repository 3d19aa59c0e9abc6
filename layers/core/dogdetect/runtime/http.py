"""The API functions' Lambda handler: Mangum on their FastAPI app, and one correction of it.

Mangum gives every payload 2.0 answer without a `content-type` header one (`application/json`),
an empty 204 or 304 too; such an answer has no body, so it says no type (RFC 9110 8.3)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from dogdetect.runtime.observability import LambdaHandler

NO_CONTENT = frozenset({204, 304})


def lambda_http(app: FastAPI) -> LambdaHandler:
    asgi = Mangum(app, lifespan="off")

    def handle(event: dict[str, Any], context: Any) -> Any:
        answer = asgi(event, context)
        if answer.get("statusCode") in NO_CONTENT:
            headers = answer.get("headers") or {}
            answer["headers"] = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            answer["body"] = ""
            answer["isBase64Encoded"] = False
        return answer

    return handle
