"""Listing past predictions (`dogdetect.service.listing`) on the in-memory repository."""

from __future__ import annotations

import uuid

import pytest
from dogdetect.domain.errors import InvalidListQuery
from dogdetect.domain.listing import owner_digest
from dogdetect.domain.models import Prediction, Status
from dogdetect.service.listing import list_predictions

from tests.fakes import FakeRepository


def _made(repo: FakeRepository, count: int, api_key: str | None = None) -> list[Prediction]:
    """`count` predictions a second apart, the first the oldest; every third two at once."""
    made = []
    for n in range(count):
        if n % 3:
            repo.clock.advance(1)
        pid = uuid.uuid4()
        made.append(repo.add_pending(pid, f"uploads/{pid}", owner=owner_digest(api_key)))
    return made


def _walk(repo: FakeRepository, limit: int, **asked: object) -> list[list[uuid.UUID]]:
    pages, cursor = [], None
    while True:
        page = list_predictions(repo, limit=limit, cursor=cursor, **asked)  # type: ignore[arg-type]
        pages.append([p.id for p in page.items])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def _newest_first(predictions: list[Prediction]) -> list[uuid.UUID]:
    return [p.id for p in sorted(predictions, key=lambda p: (p.created_at, p.id), reverse=True)]


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 100])
def test_pages_walk_every_prediction_once_newest_first(limit: int) -> None:
    repo = FakeRepository()
    made = _made(repo, 7)
    pages = _walk(repo, limit, api_key=None)
    assert [pid for page in pages for pid in page] == _newest_first(made)
    assert all(len(page) == limit for page in pages[:-1]) and 1 <= len(pages[-1]) <= limit


def test_an_empty_list_is_one_empty_page() -> None:
    page = list_predictions(FakeRepository(), api_key=None, limit=20)
    assert (page.items, page.next_cursor) == ([], None)


def test_a_key_sees_its_own_and_keys_off_sees_all() -> None:
    repo = FakeRepository()
    mine, theirs, unowned = _made(repo, 4, "mine"), _made(repo, 3, "theirs"), _made(repo, 2)
    assert _walk(repo, 2, api_key="mine") == [_newest_first(mine)[:2], _newest_first(mine)[2:]]
    assert _walk(repo, 10, api_key="theirs") == [_newest_first(theirs)]
    assert _walk(repo, 10, api_key="nobody") == [[]]
    assert _walk(repo, 10, api_key=None) == [_newest_first(mine + theirs + unowned)]


def test_a_status_filter() -> None:
    repo = FakeRepository()
    made = _made(repo, 6, "k")
    for p in made[::2]:
        repo.start_processing_many([p.id])
    processing = [repo.get(p.id) for p in made[::2]]
    assert (
        _walk(repo, 2, api_key="k", status=Status.PROCESSING)
        == [
            _newest_first(processing)[:2],  # type: ignore[arg-type]
            _newest_first(processing)[2:],  # type: ignore[arg-type]
        ]
    )
    assert _walk(repo, 10, api_key="k", status=Status.DONE) == [[]]


@pytest.mark.parametrize(("limit", "cursor"), [(0, None), (101, None), (20, "nonsense")])
def test_a_bad_query_asks_nothing(limit: int, cursor: str | None) -> None:
    repo = FakeRepository()
    with pytest.raises(InvalidListQuery):
        list_predictions(repo, api_key=None, limit=limit, cursor=cursor)
    assert repo.calls == []
