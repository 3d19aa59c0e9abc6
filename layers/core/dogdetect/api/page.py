"""Static files served by the status function through the `$default` route: the page at `/`
to try the service by hand, and the files of `/docs` (Swagger UI). Nothing comes from another
host: the page is this package's data (`dogdetect/api/assets/`), Swagger UI is the copy in the
`fastapi-offline` wheel of the dependency layer.

They are public even when API keys are set: they are the same for everybody and hold no data.
The page sends the key its user types with each call of the API (`/docs` itself, which names
the API's description, stays behind the key: `dogdetect.api.docs`).

The page is told, from the function's settings, the two size limits (its `<main>`'s data
attributes), and may send photos over the first to the bucket (`connect-src`: where the
presigned POSTs go, `dogdetect.adapters.presign.post_origin`)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

from dogdetect.adapters.presign import post_origin
from dogdetect.api.auth import current_settings
from dogdetect.config import Settings

# No inline script or style, nothing from another origin, no plugins, never framed.
PAGE_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Swagger UI's stylesheet draws its icons from data: URLs.
DOCS_POLICY = f"{PAGE_POLICY}; img-src 'self' data:"

OWN = "dogdetect/api/assets"
SWAGGER_UI = "fastapi-offline"
HTML = "text/html; charset=utf-8"
JAVASCRIPT = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"


@dataclass(frozen=True)
class Asset:
    source: str  # OWN or SWAGGER_UI
    name: str
    media_type: str
    policy: str = PAGE_POLICY


PAGE = Asset(OWN, "index.html", HTML)
DOCS_PAGE = Asset(OWN, "docs.html", HTML, DOCS_POLICY)
PUBLIC: dict[str, Asset] = {
    "/": PAGE,
    "/assets/page.js": Asset(OWN, "page.js", JAVASCRIPT),
    "/assets/page.css": Asset(OWN, "page.css", CSS),
    "/assets/icon.svg": Asset(OWN, "icon.svg", "image/svg+xml"),
    "/assets/docs.js": Asset(OWN, "docs.js", JAVASCRIPT),
    "/assets/swagger-ui/swagger-ui-bundle.js": Asset(
        SWAGGER_UI, "swagger-ui-bundle.js", JAVASCRIPT
    ),
    "/assets/swagger-ui/swagger-ui.css": Asset(SWAGGER_UI, "swagger-ui.css", CSS),
}


def _swagger_ui_folder() -> Path:
    # Located, not imported: fastapi_offline's own code (a FastAPI app factory) is not used.
    spec = find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("fastapi-offline is not installed (layers/deps/requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@cache
def content(source: str, name: str) -> tuple[bytes, str]:
    """The file's bytes and its ETag, read once per execution environment."""
    if source == OWN:
        body = resources.files("dogdetect.api").joinpath("assets", name).read_bytes()
    else:
        body = (_swagger_ui_folder() / name).read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


@cache
def page_content(max_upload_bytes: int, direct_upload_max_bytes: int) -> tuple[bytes, str]:
    """index.html with the settings' limits in place of its placeholders, and its ETag."""
    text = content(PAGE.source, PAGE.name)[0].decode()
    text = text.replace("__MAX_UPLOAD_BYTES__", str(max_upload_bytes))
    body = text.replace("__DIRECT_UPLOAD_MAX_BYTES__", str(direct_upload_max_bytes)).encode()
    return body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def page_policy(settings: Settings) -> str:
    """PAGE_POLICY, with the bucket's origin for the page's large photos."""
    origin = post_origin(settings.aws_endpoint_url, settings.bucket_name, settings.aws_region)
    return f"{PAGE_POLICY}; connect-src 'self' {origin}"


def asset_response(request: Request, asset: Asset) -> Response:
    policy = asset.policy
    if asset == PAGE:
        settings = current_settings(request)
        body, etag = page_content(settings.max_upload_bytes, settings.direct_upload_max_bytes)
        policy = page_policy(settings)
    else:
        body, etag = content(asset.source, asset.name)
    headers = {
        "ETag": etag,
        "Cache-Control": "no-cache",  # revalidated each time: a deploy changes them at once
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    wanted = request.headers.get("if-none-match", "")
    if etag in {tag.strip().removeprefix("W/") for tag in wanted.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=asset.media_type, headers=headers)


def _endpoint(asset: Asset) -> Callable[[Request], Awaitable[Response]]:
    async def serve(request: Request) -> Response:
        return asset_response(request, asset)

    return serve


def serve_page(app: FastAPI) -> None:
    """GET / and the static files of the page and of /docs, open to all."""
    for path, asset in PUBLIC.items():
        app.add_api_route(path, _endpoint(asset), methods=["GET"], include_in_schema=False)
