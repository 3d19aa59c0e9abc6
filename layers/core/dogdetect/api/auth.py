"""Optional API keys: when API_KEYS is set, every route but /health needs X-API-Key."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends, Header

from dogdetect.config import Settings
from dogdetect.domain.errors import Unauthorized
from dogdetect.runtime.composition import adapters


def key_matches(provided: str, allowed: frozenset[str]) -> bool:
    # Compare digests in constant time, and check every key so timing reveals no position.
    digest = hashlib.sha256(provided.encode()).digest()
    matched = False
    for key in allowed:
        matched |= hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest())
    return matched


def current_settings() -> Settings:
    return adapters().settings


API_KEY_REQUIRED = "a valid X-API-Key header is required"


def key_is_valid(provided: str | None, settings: Settings | None = None) -> bool:
    """True when no keys are set, or `provided` is one of them."""
    allowed = (settings or current_settings()).api_key_set
    return not allowed or key_matches(provided or "", allowed)


def require_api_key(
    x_api_key: str | None = Header(default=None), settings: Settings = Depends(current_settings)
) -> None:
    if not key_is_valid(x_api_key, settings):
        raise Unauthorized(API_KEY_REQUIRED)
