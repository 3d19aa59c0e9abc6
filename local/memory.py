"""Memory as Lambda enforces it: an execution environment may hold at most its function's
MemorySize resident. Lambda's limit is a cgroup's; a process here cannot count on one (a
container seldom delegates cgroups), and RLIMIT_AS would limit address space, not memory:
OpenVINO reserves gigabytes it never touches. So the runtime reads each environment's peak
resident set (`local.runtime` kills it past the limit), from /proc on Linux."""

from __future__ import annotations

import math
from pathlib import Path

KIB_PER_MB = 1024  # Lambda's "MB" are MiB: 10,240 MB is 10 GiB


def peak_resident_kib(pid: int) -> int | None:
    """The process's peak resident set since it started (VmHWM), in KiB: a peak between two
    reads still counts, as it would against a cgroup's limit. None once the process is gone
    (or where there is no /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None  # a zombie has no memory lines


def as_mb(kib: int) -> int:
    """Whole MB, rounded up, as Lambda reports "Max Memory Used"."""
    return math.ceil(kib / KIB_PER_MB)
