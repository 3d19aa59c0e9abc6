"""The API's routes, all of them, whichever function serves each: read from the OpenAPI
document shipped in this package (`make openapi` writes it from the apps, and
tests/unit/api/test_openapi.py holds it to them). In the cloud each route may live in another
function, so no app knows them all by itself; an unknown path or method (the `$default` route
brings both to the status function) is answered from this table: a 404 naming the routes, a
405 whose `Allow` lists every method the path takes."""

from __future__ import annotations

import re
from functools import cache

from dogdetect.api.document import openapi_document

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@cache
def api_routes() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(path template, its methods), literal paths before templated ones (as API Gateway
    prefers the more specific route), then by path."""
    paths = openapi_document()["paths"]
    found = [
        (path, tuple(m for m in _METHODS if m.lower() in operations))
        for path, operations in paths.items()
    ]
    return tuple(sorted(found, key=lambda route: (route[0].count("{"), route[0])))


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p))


def methods_for(path: str) -> tuple[str, tuple[str, ...]] | None:
    """The route `path` is (its template and methods), or None."""
    for template, methods in api_routes():
        if _pattern(template).fullmatch(path):
            return template, methods
    return None


def routes_listed() -> str:
    listed = ", ".join(
        f"{method} {template}"
        for template, methods in sorted(api_routes(), key=lambda route: route[0])
        for method in methods
    )
    return f"the routes are: {listed} (described at /docs)"


def not_found(method: str, path: str) -> str:
    hint = ""
    if path.endswith("/") and methods_for(path.rstrip("/")) is not None:
        hint = " (leave out the trailing slash)"
    return f"no route {method} {path}{hint}; {routes_listed()}"


def not_allowed(method: str, template: str, allowed: tuple[str, ...]) -> str:
    return f"{template} does not take {method}: it takes {', '.join(allowed)}"
