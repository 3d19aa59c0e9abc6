"""CPU as Lambda sizes it: a function gets vCPU in proportion to its MemorySize (1,769 MB buys
one vCPU, 10,240 MB six). Locally each execution environment is pinned to whole cores, as
many as its memory buys rounded up (a share below one core cannot be pinned: a 512 MB
function gets a whole core here where Lambda gives it about 0.3 vCPU), never more than this
machine has. So two predict environments on 2 cores run one on each, as two Lambda
environments of 1 vCPU do, instead of each one's threads taking every core and fighting.

Linux only: elsewhere no core is handed out and environments run unpinned."""

from __future__ import annotations

import math
import os
import threading
from collections import Counter
from collections.abc import Iterable

LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6  # at 10,240 MB, Lambda's largest size


def vcpus(memory_mb: int) -> int:
    """The whole cores that `memory_mb` buys in Lambda, rounded up: 1769 -> 1, 3538 -> 2."""
    return min(LAMBDA_MAX_VCPUS, max(1, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU)))


def usable_cores() -> list[int]:
    """The cores this process may run on (a container's cpuset included, which
    os.cpu_count() ignores); none where the platform cannot pin a process."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


# The environments on each core, of every pool in this process: the gateway's pools share one
# count, the poller's (a process of its own) another; the two do not see each other's.
_IN_USE: Counter[int] = Counter()
_LOCK = threading.Lock()


class CoreAllocator:
    """Hands each new environment of one function the cores in least use by the function's
    other environments, so that environments running at once get distinct cores while there
    are enough; among those, the cores in least use by every pool of this process sharing
    `in_use` (all of them, by default), so that the first environments of the functions do
    not all start on core 0. Environments of different functions may share a core."""

    def __init__(
        self, cores: Iterable[int] | None = None, in_use: Counter[int] | None = None
    ) -> None:
        self._cores = usable_cores() if cores is None else sorted(cores)
        self._mine: Counter[int] = Counter()
        self._all = _IN_USE if in_use is None else in_use

    def take(self, memory_mb: int) -> frozenset[int]:
        """As many cores as `memory_mb` buys, at most every core: the least used by this
        function, then by every function, then the lowest-numbered. Empty where nothing can
        be pinned."""
        with _LOCK:
            wanted = min(vcpus(memory_mb), len(self._cores))
            ranked = sorted(self._cores, key=lambda core: (self._mine[core], self._all[core], core))
            chosen = frozenset(ranked[:wanted])
            self._mine.update(chosen)
            self._all.update(chosen)
            return chosen

    def release(self, cores: frozenset[int]) -> None:
        """The cores of an environment that is gone."""
        with _LOCK:
            self._mine.subtract(cores)
            self._all.subtract(cores)
