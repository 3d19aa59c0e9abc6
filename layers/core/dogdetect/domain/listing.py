"""Listing past predictions (GET /image_prediction): whose they are, and where a page ends.

Owner: with API keys on, a prediction belongs to the key that created it; the row keeps a
digest of that key (`owner_digest`), never the key. With keys off nobody owns it (None) and a
listing shows every prediction.

Cursor: keyset pagination, newest first. A page ends at its last prediction; the cursor is that
prediction's position, (created_at, id), as urlsafe base64 without padding of a version byte,
the microseconds since the epoch (signed 64 bits) and the id's 16 bytes. It is opaque to
clients and carries nothing secret: every filter (the caller's key, `status`) applies again to
each page, so a forged cursor can only start a page elsewhere in the caller's own list."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dogdetect.domain.errors import InvalidListQuery
from dogdetect.domain.limits import MAX_LIST_LIMIT
from dogdetect.domain.models import Prediction

_OWNER_LABEL = b"dogdetect.domain.listing-owner\x00"
_CURSOR_VERSION = 1
_CURSOR = struct.Struct(">Bq16s")
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

LIMIT_OUT_OF_RANGE = f"'limit' must be a whole number from 1 to {MAX_LIST_LIMIT}"
BAD_CURSOR = (
    "'cursor' is not one this service gave: pass the next_cursor of the previous page as it"
    " is, or leave it out for the first page"
)


def owner_digest(api_key: str | None) -> bytes | None:
    """Who owns what a caller creates: a digest of its API key (None: keys are off)."""
    if api_key is None:
        return None
    return hashlib.sha256(_OWNER_LABEL + api_key.encode()).digest()


@dataclass(frozen=True)
class Position:
    """Where a page ended: the next page holds what is older (created_at, then id)."""

    created_at: datetime
    id: uuid.UUID

    @classmethod
    def of(cls, prediction: Prediction) -> Position:
        return cls(prediction.created_at, prediction.id)


def encode_cursor(position: Position) -> str:
    micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
    packed = _CURSOR.pack(_CURSOR_VERSION, micros, position.id.bytes)
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> Position:
    """The position `cursor` names; InvalidListQuery (422) for anything `encode_cursor` did
    not write."""
    if len(cursor) > 64 or not _CURSOR_CHARS.fullmatch(cursor):
        raise InvalidListQuery(BAD_CURSOR)
    try:
        packed = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, micros, raw_id = _CURSOR.unpack(packed)
        created_at = _EPOCH + timedelta(microseconds=micros)
    except (binascii.Error, struct.error, OverflowError, ValueError):
        raise InvalidListQuery(BAD_CURSOR) from None
    position = Position(created_at, uuid.UUID(bytes=raw_id))
    # One spelling per position: another is not ours (non-zero padding bits, another version).
    if version != _CURSOR_VERSION or encode_cursor(position) != cursor:
        raise InvalidListQuery(BAD_CURSOR)
    return position


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidListQuery(LIMIT_OUT_OF_RANGE)
    return limit
