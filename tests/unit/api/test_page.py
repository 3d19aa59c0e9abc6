"""The page at GET / and the files of /docs, through the status app: served from this package and
the dependency layer alone, under a strict Content-Security-Policy, open without an API key
(the page and /docs hold no data) while the API's description keeps needing one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from types import ModuleType

import pytest
from dogdetect.adapters.presign import post_origin
from dogdetect.api import page as web
from dogdetect.api.auth import current_settings
from dogdetect.config import Settings
from dogdetect.image.draw import LABEL_STEPS
from fastapi.testclient import TestClient

from tests.unit.conftest import Wired

HTML_PAGES = ["/", "/docs"]
ABSOLUTE_URL = re.compile(r"(?i)(https?:)?//[a-z0-9]")


class Markup(HTMLParser):
    """What a page's markup references and whether it carries inline code or style."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.references += [v for k, v in attrs if k in ("src", "href") and v]
        self.inline += [f"{tag} {k}=" for k, _ in attrs if k == "style" or k.startswith("on")]
        if tag == "style" or (tag == "script" and not named.get("src")):
            self.inline.append(f"<{tag}> without src")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script body")


def markup(text: str) -> Markup:
    parsed = Markup()
    parsed.feed(text)
    return parsed


@pytest.mark.parametrize("path", sorted(web.PUBLIC))
def test_each_file_is_served_with_its_type_and_policy(status_api: Wired, path: str) -> None:
    response = status_api.client.get(path)
    asset = web.PUBLIC[path]
    assert response.status_code == 200
    assert response.headers["content-type"] == asset.media_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert len(response.content) > 100
    if asset == web.PAGE:  # the page: its limits and the bucket's origin from the settings
        settings = status_api.adapters.settings
        assert response.headers["content-security-policy"] == web.page_policy(settings)
        limits = (settings.max_upload_bytes, settings.direct_upload_max_bytes)
        assert response.content == web.page_content(*limits)[0]
    else:
        assert response.headers["content-security-policy"] == web.PAGE_POLICY
        assert response.content == web.content(asset.source, asset.name)[0]


def test_the_page_is_told_the_limits_and_where_large_photos_go(status_api: Wired) -> None:
    settings = status_api.adapters.settings
    response = status_api.client.get("/")
    assert "__" not in response.text  # every placeholder filled
    assert f'data-max-upload-bytes="{settings.max_upload_bytes}"' in response.text
    assert f'data-direct-upload-max-bytes="{settings.direct_upload_max_bytes}"' in response.text
    policy = response.headers["content-security-policy"]
    assert policy.startswith(web.PAGE_POLICY + "; ")  # nothing else loosened
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    origin = post_origin(settings.aws_endpoint_url, settings.bucket_name, settings.aws_region)
    assert directives["connect-src"] == f"'self' {origin}"  # where the presigned POSTs go
    local = Settings(aws_endpoint_url="http://127.0.0.1:4566/", max_upload_bytes=1000)
    assert web.page_policy(local).endswith("; connect-src 'self' http://127.0.0.1:4566")
    assert b'data-max-upload-bytes="1000"' in web.page_content(1000, 2000)[0]


def test_policy_allows_nothing_inline_and_no_other_origin() -> None:
    for policy in (web.PAGE_POLICY, web.DOCS_POLICY):
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["object-src"] == directives["base-uri"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe" not in policy and "*" not in policy and "http" not in policy
        assert set(directives) <= {
            "default-src",
            "object-src",
            "base-uri",
            "form-action",
            "frame-ancestors",
            "img-src",
        }
    assert "connect-src" not in web.PAGE_POLICY  # the page's own: page_policy
    assert dict(d.strip().split(" ", 1) for d in web.DOCS_POLICY.split(";"))["img-src"] == (
        "'self' data:"
    )


@pytest.mark.parametrize("path", HTML_PAGES)
def test_html_has_no_inline_code_and_names_no_other_host(status_api: Wired, path: str) -> None:
    response = status_api.client.get(path)
    assert response.headers["content-type"] == web.HTML
    page = markup(response.text)
    assert page.inline == []
    assert not ABSOLUTE_URL.search(response.text)
    # Relative references (a stage prefix keeps working), each one a file the app serves.
    assert page.references and all(not r.startswith("/") for r in page.references)
    for reference in page.references:
        assert status_api.client.get(f"/{reference}").status_code == 200, reference


def test_docs_page_uses_the_local_swagger_ui(status_api: Wired) -> None:
    response = status_api.client.get("/docs")
    assert response.headers["content-security-policy"] == web.DOCS_POLICY
    references = markup(response.text).references
    assert "assets/swagger-ui/swagger-ui-bundle.js" in references
    assert "assets/swagger-ui/swagger-ui.css" in references
    initializer = status_api.client.get("/assets/docs.js").text
    assert 'url: "openapi.json"' in initializer and "validatorUrl: null" in initializer
    assert status_api.client.get("/assets/swagger-ui/swagger-ui-bundle.js").text.startswith(
        "/*! For license information please see swagger-ui-bundle.js.LICENSE.txt */"
    )


def test_own_scripts_and_styles_name_no_other_host(status_api: Wired) -> None:
    for path, asset in web.PUBLIC.items():
        if asset.source == web.OWN and asset.media_type != web.HTML:
            text = re.sub(r'xmlns="[^"]*"', "", status_api.client.get(path).text)
            assert not ABSOLUTE_URL.search(text), path


def test_page_calls_the_api_relatively_and_asks_to_wait(status_api: Wired) -> None:
    script = status_api.client.get("/assets/page.js").text
    assert 'fetch("image_prediction", {' in script
    assert "`image_prediction/${encodeURIComponent(id)}`" in script
    assert "Prefer: `wait=${WAIT_SECONDS}`" in script and "WAIT_SECONDS = 20;" in script
    assert "sessionStorage" in script and "localStorage" not in script


def test_unchanged_file_is_answered_304(status_api: Wired) -> None:
    first = status_api.client.get("/assets/page.js")
    again = status_api.client.get(
        "/assets/page.js", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = status_api.client.get("/assets/page.js", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200


@pytest.fixture
def keyed_status(status_module: ModuleType) -> Iterator[TestClient]:
    app = status_module.app
    app.dependency_overrides[current_settings] = lambda: Settings(api_keys="s3cret")
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def test_page_and_docs_are_open_with_keys_set_and_the_description_is_not(
    keyed_status: TestClient,
) -> None:
    for path in web.PUBLIC:
        assert keyed_status.get(path).status_code == 200, path
    # /docs asks for the key itself (docs.js): a browser cannot send one with a navigation.
    assert keyed_status.get("/docs").status_code == 200
    assert keyed_status.get("/openapi.json").status_code == 401
    assert keyed_status.get("/openapi.json", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_page_routes_stay_out_of_the_api_description(status_module: ModuleType) -> None:
    hidden = {r.path for r in status_module.app.routes if not getattr(r, "include_in_schema", 1)}
    assert set(web.PUBLIC) <= hidden


def test_the_page_places_labels_by_the_annotated_photos_rule(status_api: Wired) -> None:
    """One rule in two languages (dogdetect.image.draw and page.js): the same steps, the same
    order of places, the most important label first."""
    script = status_api.client.get("/assets/page.js").text
    assert f"const LABEL_STEPS = {LABEL_STEPS};" in script
    assert "for (const y of [y1 - height, y1, y2, y2 - height])" in script
    assert "for (const x of [x1 - width, x1, x2, x2 - width])" in script
