"""`make openapi`: write the whole API's OpenAPI document into the core package, from the
submit and status apps (each serves part of the API)."""

from __future__ import annotations

import json
from pathlib import Path

from dogdetect.api.docs import merged_openapi
from dogdetect.api.document import OPENAPI_FILE

from local.functions import LAYER_PATH, load_function
from local.template import default_route_function, routes

TARGET = Path(LAYER_PATH) / "dogdetect" / "api" / OPENAPI_FILE


def current_document() -> str:
    names = sorted({r.function for r in routes()} | {default_route_function()})
    spec = merged_openapi([load_function(name).app.openapi() for name in names])
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    TARGET.write_text(current_document())
    print(f"wrote {TARGET}")
