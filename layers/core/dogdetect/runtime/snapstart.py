"""Lambda SnapStart (submit and status, infra/template.yaml): Lambda runs a version's init once
when it is published, snapshots the environment, and resumes copies of that snapshot.

Before the snapshot, the adapters build what the first request would otherwise pay for (the
AWS clients load their service models); no connection is opened. After each restore, nothing
of the snapshot that is meant to be one environment's own is used again:
- the database pool is dropped and the AWS clients' connection pools closed: their sockets
  belonged to the environment that was snapshotted; each opens anew on its next use;
- `random` is reseeded: its generator state is in the snapshot, so every restored copy would
  draw the same numbers. uuid4 (prediction ids) needs nothing: it reads os.urandom, the
  kernel's generator, at each call and keeps no state in the process.

The hooks are registered with `snapshot_restore_py` (Lambda's Python runtimes run what it
holds; the dependency layer ships the same package). Registered by every handler's
`observability.instrument`; they never run where SnapStart is off (locally, the image).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Protocol


class HookRegistry(Protocol):
    """`snapshot_restore_py`'s registration functions."""

    def register_before_snapshot(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Callable[..., Any]: ...

    def register_after_restore(
        self, func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Callable[..., Any]: ...


class Container(Protocol):
    """What holds a function's connections (`dogdetect.runtime.composition.Adapters`)."""

    def prime(self) -> None: ...

    def reopen_connections(self) -> None: ...


class Seedable(Protocol):
    def seed(self) -> None: ...


def register_hooks(
    container: Callable[[], Container],
    registry: HookRegistry | None = None,
    generator: Seedable = random,
) -> None:
    """`container` is called when a hook runs: the one the handler's requests use."""
    if registry is None:
        import snapshot_restore_py

        registry = snapshot_restore_py
    registry.register_before_snapshot(prime, container)
    registry.register_after_restore(restored, container, generator)


def prime(container: Callable[[], Container]) -> None:
    container().prime()


def restored(container: Callable[[], Container], generator: Seedable) -> None:
    generator.seed()  # from os.urandom: each restored copy draws its own numbers
    container().reopen_connections()
