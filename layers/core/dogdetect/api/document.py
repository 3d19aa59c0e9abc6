"""The whole API's OpenAPI document as shipped in this package (`make openapi` writes it from
the apps): what `/openapi.json` serves and what the route table reads. A module of its own, so
that both can read it without importing the apps."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

OPENAPI_FILE = "openapi.json"


@cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("dogdetect.api").joinpath(OPENAPI_FILE).read_text()
    document: dict[str, Any] = json.loads(text)
    return document
