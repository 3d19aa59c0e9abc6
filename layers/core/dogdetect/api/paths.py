"""Routes are matched on the path as the client sent it. API Gateway hands a function the
path decoded (`requestContext.http.path`, which Mangum routes on) beside the path as sent
(`rawPath`). An encoded slash decoded there becomes a separator, and one URL reaches another
route: `/image_prediction/<id>%2Fannotated` was served as the annotated photo. Here a `%2F`
stays inside its segment, so such a path names no prediction (404): one resource, one URL."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Any, Any], Awaitable[None]]
_ENCODED_SLASH = re.compile("%2f", re.IGNORECASE)


def path_as_sent(raw_path: str) -> str:
    """`raw_path` decoded, except that an encoded slash stays `%2F`."""
    return "%2F".join(unquote(part) for part in _ENCODED_SLASH.split(raw_path))


class RouteOnPathAsSent:
    """ASGI middleware: the path routing sees is the event's `rawPath`, as `path_as_sent`."""

    def __init__(self, app: Asgi) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        event = scope.get("aws.event")
        if scope["type"] == "http" and isinstance(event, dict) and "rawPath" in event:
            scope = {**scope, "path": path_as_sent(str(event["rawPath"]))}
        await self.app(scope, receive, send)
