"""Idempotency keys on POST /image_prediction (IETF httpapi draft "The Idempotency-Key HTTP
Header Field"): a retried upload with the same key and the same image answers the first
answer again and queues nothing; the same key with another image is refused.

Only digests are stored: of the key within its scope (the API key when keys are on, so one
client cannot find another's prediction by guessing its key), and of the image's bytes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dogdetect.domain.errors import IdempotencyKeyInvalid
from dogdetect.domain.models import Prediction

KEY_TTL_SECONDS = 24 * 60 * 60  # a key names its prediction for 24 hours, then it is free
MAX_KEY_CHARS = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
# The draft makes the field a Structured Field String ("..."): its escapes are \" and \\.
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_DIGEST_LABEL = b"dogdetect.domain.idempotency-key\x00"
INVALID_KEY = f"the Idempotency-Key header must be 1 to {MAX_KEY_CHARS} printable ASCII characters"


@dataclass(frozen=True)
class KeyClaim:
    """What a request with a key asks the repository to hold: its key's digest (scope
    included) and its image's."""

    key_digest: bytes
    image_sha256: bytes
    ttl_seconds: int = KEY_TTL_SECONDS


@dataclass(frozen=True)
class KeyedPrediction:
    """The prediction a key names, as `PredictionRepository.add_pending_once` found or made it."""

    prediction: Prediction
    image_sha256: bytes  # of the image the key was first used with
    created: bool  # this call made the prediction (and holds the key)
    enqueued: bool  # its job was queued: the first request got as far as its 202


def parse_key(raw: str) -> str:
    """The key the client sent: the header's value, or the string inside it when it is sent
    as a Structured Field String (`"abc"`). IdempotencyKeyInvalid (400) otherwise."""
    quoted = _SF_STRING.fullmatch(raw)
    key = re.sub(r"\\(.)", r"\1", quoted.group(1)) if quoted else raw
    if not 1 <= len(key) <= MAX_KEY_CHARS or not _PRINTABLE_ASCII.fullmatch(key):
        raise IdempotencyKeyInvalid(INVALID_KEY)
    return key


def key_digest(key: str, api_key: str | None) -> bytes:
    """SHA-256 of the key within its scope: the caller's API key (None: keys are off)."""
    scope = hashlib.sha256(api_key.encode()).digest() if api_key is not None else b""
    return hashlib.sha256(_DIGEST_LABEL + scope + b"\x00" + key.encode("ascii")).digest()


def image_digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
