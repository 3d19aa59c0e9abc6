"""The listing's cursor and owners (`dogdetect.domain.listing`)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from dogdetect.domain.errors import InvalidListQuery
from dogdetect.domain.listing import (
    Position,
    check_limit,
    decode_cursor,
    encode_cursor,
    owner_digest,
)
from hypothesis import given
from hypothesis import strategies as st

MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(MOMENTS, st.uuids())
def test_a_cursor_names_its_position_again(moment: datetime, prediction_id: uuid.UUID) -> None:
    position = Position(moment, prediction_id)
    cursor = encode_cursor(position)
    assert "=" not in cursor and cursor.isascii()
    assert decode_cursor(cursor) == position


def test_a_cursor_keeps_microseconds_and_reads_in_any_zone() -> None:
    moment = datetime(2026, 12, 7, 3, 4, 5, 678901, tzinfo=UTC)
    pid = uuid.uuid4()
    local = moment.astimezone(timezone(timedelta(hours=2)))
    assert decode_cursor(encode_cursor(Position(local, pid))) == Position(moment, pid)


GOOD = encode_cursor(Position(datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=7)))


def _raw(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "not base64 at all",
        GOOD[:-1],  # cut short
        GOOD + "A",  # one character too many
        GOOD + "==",  # padded
        GOOD[:-1] + ("B" if GOOD[-1] != "B" else "C"),  # non-zero padding bits, or another id
        _raw(b"\x02" + base64.urlsafe_b64decode(GOOD + "==")[1:]),  # another version
        _raw(b"\x01" + b"\x7f" * 8 + b"\x00" * 16),  # a time no datetime holds
        "A" * 65,
        "é" * 4,
    ],
)
def test_what_encode_did_not_write_is_refused(cursor: str) -> None:
    try:
        decoded = decode_cursor(cursor)
    except InvalidListQuery as refused:
        assert "cursor" in refused.detail
        return
    # One spelling per position: a changed last character may name another id, never GOOD's.
    assert encode_cursor(decoded) == cursor and cursor != GOOD


def test_the_good_cursor_reads() -> None:
    assert decode_cursor(GOOD).id == uuid.UUID(int=7)


@pytest.mark.parametrize("limit", [0, -1, 101, 10**9])
def test_a_limit_out_of_range_names_the_range(limit: int) -> None:
    with pytest.raises(InvalidListQuery, match="from 1 to 100"):
        check_limit(limit)


@pytest.mark.parametrize("limit", [1, 20, 100])
def test_a_limit_in_range_passes(limit: int) -> None:
    assert check_limit(limit) == limit


def test_owners_are_digests_of_the_key() -> None:
    assert owner_digest(None) is None
    first, second = owner_digest("first-key"), owner_digest("second-key")
    assert first is not None and len(first) == 32 and first != second
    assert b"first-key" not in first and owner_digest("first-key") == first
