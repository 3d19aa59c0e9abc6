"""Work a function does in its execution environment's init phase, before the first event.

Lambda runs a handler module's top level once per environment (its init) and sets
AWS_LAMBDA_INITIALIZATION_TYPE there ("on-demand", "provisioned-concurrency", "snap-start");
`make local`'s runtime sets it the same way. Elsewhere (tests, scripts importing a handler)
nothing is loaded at import."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

INIT_TYPE_VARIABLE = "AWS_LAMBDA_INITIALIZATION_TYPE"


def load_during_init(load: Callable[[], object], environ: Mapping[str, str] = os.environ) -> None:
    """Call `load` now if this import is an execution environment's init, so that the first
    event does not pay for it (predict's model: seconds, inside the batch's timeout)."""
    if environ.get(INIT_TYPE_VARIABLE):
        load()
