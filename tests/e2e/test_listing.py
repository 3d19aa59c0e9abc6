"""GET /image_prediction over HTTP, through the gateway and the status function: past
predictions newest first, a page at a time, a status filter, each API key seeing only its own;
and the answers for routes and methods that do not exist, and DELETE's empty 204."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from local.launcher import RunningStack
from tests.conftest import SECURITY_KEYS, wait_terminal
from tests.corpus import jpeg, png


def _submit(api: httpx.Client, image: bytes, key: str | None = None) -> str:
    headers = {"X-API-Key": key} if key else None
    response = api.post("/image_prediction", files={"image": ("a.jpg", image)}, headers=headers)
    assert response.status_code == 202, response.text
    prediction_id: str = response.json()["image_prediction_id"]
    return prediction_id


def _pages(api: httpx.Client, key: str | None = None, **query: Any) -> list[dict[str, Any]]:
    headers = {"X-API-Key": key} if key else None
    pages, cursor = [], None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        response = api.get("/image_prediction", params=params, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        pages.append(page)
        if page["next_cursor"] is None:
            return pages
        cursor = page["next_cursor"]


def _items(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [item for page in pages for item in page["items"]]


def _order(item: dict[str, Any]) -> tuple[datetime, str]:
    created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    return created, item["image_prediction_id"]


def test_pages_walk_every_prediction_once_newest_first(api: httpx.Client) -> None:
    made = [_submit(api, png() if n % 2 else jpeg()) for n in range(5)]
    pages = _pages(api, limit=2)
    items = _items(pages)
    ids = [item["image_prediction_id"] for item in items]
    assert len(ids) == len(set(ids))  # exactly once
    assert set(made) <= set(ids)
    assert [_order(i) for i in items] == sorted((_order(i) for i in items), reverse=True)
    assert all(len(page["items"]) == 2 for page in pages[:-1]) and len(pages[-1]["items"]) <= 2
    # the newest come first: the five just made head the list, the last made first
    assert ids[:5] == made[::-1]
    # each item is the document GET /image_prediction/{id} answers
    first = api.get(f"/image_prediction/{ids[0]}").json()
    assert (
        set(items[0]) == set(first)
        and items[0]["image_prediction_id"] == first["image_prediction_id"]
    )


def test_a_status_filter(api: httpx.Client) -> None:
    finished = wait_terminal(api, _submit(api, jpeg()))
    assert finished["status"] == "DONE"
    done = _items(_pages(api, status="DONE", limit=100))
    assert {item["status"] for item in done} == {"DONE"}
    assert finished["image_prediction_id"] in {item["image_prediction_id"] for item in done}
    errors = _items(_pages(api, status="ERROR", limit=100))
    assert all(item["status"] == "ERROR" for item in errors)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"limit": "0"}, "'limit' must be a whole number from 1 to 100"),
        ({"limit": "101"}, "'limit' must be a whole number from 1 to 100"),
        ({"limit": "many"}, "'limit' in the query must be a whole number"),
        ({"status": "FINISHED"}, "'PENDING', 'PROCESSING', 'DONE' or 'ERROR'"),
        ({"cursor": "not-a-cursor"}, "'cursor' is not one this service gave"),
        ({"cursor": "AQAGHbCqHBnA3p9x5TEsRBGQ0ZmLvrjHhB"}, "'cursor' is not one this service"),
    ],
)
def test_a_bad_query_is_422_saying_what_is_wrong(
    api: httpx.Client, query: dict[str, str], says: str
) -> None:
    response = api.get("/image_prediction", params=query)
    assert response.status_code == 422, response.text
    assert says in response.text


# --- each key sees its own, on the stack started with API_KEYS ------------------------------


@pytest.fixture(scope="module")
def keyed_api(keyed_stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=keyed_stack.api_url, timeout=30) as client:
        yield client


def test_each_key_lists_only_its_own(keyed_api: httpx.Client) -> None:
    first, second = SECURITY_KEYS
    mine = {_submit(keyed_api, jpeg(), first) for _ in range(3)}
    theirs = {_submit(keyed_api, png(), second) for _ in range(2)}
    upload = keyed_api.post("/image_prediction/uploads", headers={"X-API-Key": second})
    assert upload.status_code == 201, upload.text
    theirs.add(upload.json()["image_prediction_id"])  # a direct upload is its key's too
    listed_first = {i["image_prediction_id"] for i in _items(_pages(keyed_api, first, limit=2))}
    listed_second = {i["image_prediction_id"] for i in _items(_pages(keyed_api, second))}
    assert mine <= listed_first and theirs <= listed_second
    assert not listed_first & listed_second
    response = keyed_api.get("/image_prediction")
    assert response.status_code == 401 and "items" not in response.text


def test_an_unknown_route_without_a_key_says_nothing_of_the_routes(
    keyed_api: httpx.Client,
) -> None:
    response = keyed_api.get("/image_predictions")
    assert response.status_code == 401 and "routes" not in response.text
    known = keyed_api.get("/image_predictions", headers={"X-API-Key": SECURITY_KEYS[0]})
    assert known.status_code == 404 and "the routes are" in known.text


# --- routes that do not exist, methods a route does not take, an empty 204 -------------------

ROUTES = (
    "GET /health, GET /image_prediction, POST /image_prediction, POST /image_prediction/uploads,"
    " GET /image_prediction/{image_prediction_id}, DELETE /image_prediction/{image_prediction_id},"
    " GET /image_prediction/{image_prediction_id}/annotated"
)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize("path", ["/image_predictions", "/predictions/1", "/image_prediction/"])
def test_an_unknown_route_is_404_naming_the_routes(
    api: httpx.Client, method: str, path: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"no route {method} {path}")
    assert detail.endswith(f"the routes are: {ROUTES} (described at /docs)")


def test_a_method_a_route_does_not_take_is_405_with_every_method(api: httpx.Client) -> None:
    prediction_id = _submit(api, jpeg())
    for method in ("PUT", "PATCH", "POST"):
        response = api.request(method, f"/image_prediction/{prediction_id}")
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "GET, DELETE"
        assert "it takes GET, DELETE" in response.json()["detail"]
    response = api.put("/image_prediction")
    assert (response.status_code, response.headers["allow"]) == (405, "GET, POST")


def test_delete_is_204_with_no_content_type(api: httpx.Client) -> None:
    prediction_id = _submit(api, jpeg())
    response = api.delete(f"/image_prediction/{prediction_id}")
    assert response.status_code == 204
    assert "content-type" not in response.headers and response.content == b""
