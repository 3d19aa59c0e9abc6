"""Optional API keys: when API_KEYS is set, every route but /health needs X-API-Key. The
settings come from the app (`create_api`'s `settings`, the entrypoint's): the API layer never
builds adapters or reads the environment itself."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from dogdetect.config import Settings
from dogdetect.domain.errors import Unauthorized


def key_matches(provided: str, allowed: frozenset[str]) -> bool:
    # Compare digests in constant time, and check every key so timing reveals no position.
    digest = hashlib.sha256(provided.encode()).digest()
    matched = False
    for key in allowed:
        matched |= hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest())
    return matched


def current_settings(request: Request) -> Settings:
    """The app's settings, read when the function started (`create_api(settings=...)`)."""
    settings: Settings = request.app.state.settings()
    return settings


API_KEY_REQUIRED = "a valid X-API-Key header is required"
# The OpenAPI document's security scheme (Swagger UI's Authorize button). Not FastAPI's check:
# keys may be off, and a refusal is the API's own 401 (`require_api_key`).
API_KEY = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="One of the service's API keys (API_KEYS). Needed by every route but /health"
    " when keys are set; with none set (as `make local` runs), no key is asked for.",
    auto_error=False,
)


def key_is_valid(provided: str | None, settings: Settings) -> bool:
    """True when no keys are set, or `provided` is one of them."""
    allowed = settings.api_key_set
    return not allowed or key_matches(provided or "", allowed)


def require_api_key(
    x_api_key: str | None = Security(API_KEY), settings: Settings = Depends(current_settings)
) -> None:
    if not key_is_valid(x_api_key, settings):
        raise Unauthorized(API_KEY_REQUIRED)


def key_scope(
    x_api_key: str | None = Security(API_KEY), settings: Settings = Depends(current_settings)
) -> str | None:
    """Whose Idempotency-Keys a request's are: its API key's when keys are on, else None."""
    return x_api_key if settings.api_key_set else None
