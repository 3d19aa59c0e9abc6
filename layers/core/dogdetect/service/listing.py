"""List past predictions (GET /image_prediction): the caller's own when API keys are on,
everyone's when they are off; newest first, a page at a time (`domain.listing`'s cursor).

Each page asks the repository for one prediction more than it shows: that one says whether
there is a next page, so the last page has no cursor (and never an empty page after it)."""

from __future__ import annotations

from dataclasses import dataclass

from dogdetect.domain.listing import (
    Position,
    check_limit,
    decode_cursor,
    encode_cursor,
    owner_digest,
)
from dogdetect.domain.models import Prediction, Status
from dogdetect.domain.ports import PredictionLister


@dataclass(frozen=True)
class Page:
    items: list[Prediction]
    next_cursor: str | None  # None: this was the last page


def list_predictions(
    repository: PredictionLister,
    *,
    api_key: str | None,
    limit: int,
    cursor: str | None = None,
    status: Status | None = None,
) -> Page:
    """`api_key`: the caller's when keys are on (its predictions only), else None (all).
    InvalidListQuery (422) for a `limit` out of range or a cursor this service did not give."""
    check_limit(limit)
    after = decode_cursor(cursor) if cursor is not None else None
    found = repository.page(owner_digest(api_key), status, after, limit + 1)
    items = found[:limit]
    more = len(found) > limit
    return Page(items, encode_cursor(Position.of(items[-1])) if more else None)
